#!/usr/bin/env bash
# Runs every code block of docs/getting-started.md as written: bash blocks in order, "// file: X" blocks written to X,
# and the output of the last command compared with the ```text block (sync1 and sync2 are interchangeable).
# The RoutingSdk packages come from a local feed packed from this checkout.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
version="0.1.$(date +%s)"   # stable (dotnet add package takes the latest stable) and unique (no stale cache)

for project in RoutingSdk RoutingSdk.EntityFrameworkCore RoutingSdk.DependencyInjection; do
  dotnet pack "$repo/src/$project/$project.csproj" -c Release -o "$work/feed" -p:PackageVersion="$version" -nologo -v q >"$work/pack.log" 2>&1 \
    || { cat "$work/pack.log"; echo "getting-started: packing $project failed" >&2; exit 1; }
done

# A home of its own: ~ in the guide lands here, and the user-level NuGet config adds the local feed for RoutingSdk*.
export NUGET_PACKAGES=${NUGET_PACKAGES:-$HOME/.nuget/packages}
export HOME="$work/home"
mkdir -p "$HOME/.nuget/NuGet"
cat >"$HOME/.nuget/NuGet/NuGet.Config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
    <add key="routingsdk-local" value="$work/feed" />
  </packageSources>
  <packageSourceMapping>
    <packageSource key="routingsdk-local"><package pattern="RoutingSdk*" /></packageSource>
    <packageSource key="nuget.org"><package pattern="*" /></packageSource>
  </packageSourceMapping>
</configuration>
XML

python3 - "$repo/docs/getting-started.md" "$work/guide.sh" "$work/expected.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
blocks = re.findall(r"```(\w+)\n(.*?)```", text, re.S)
script = ["set -euo pipefail"]
expected = None
for lang, body in blocks:
    first = body.splitlines()[0] if body else ""
    m = re.match(r"//\s*file:\s*(\S+)", first)
    if m:
        script.append(f"cat > {m.group(1)} <<'GUIDE_EOF'\n{body}GUIDE_EOF")
    elif lang == "bash":
        script.append(body)
    elif lang == "text":
        expected = body
    else:
        sys.exit(f"getting-started: a ```{lang} block is neither run nor written to a file; mark it '// file: NAME' or make it bash/text")
if expected is None:
    sys.exit("getting-started: no ```text block with the expected output")
open(sys.argv[2], "w").write("\n".join(script) + "\n")
open(sys.argv[3], "w").write(expected)
PY

cd "$repo"
bash "$work/guide.sh" >"$work/output.txt" 2>"$work/stderr.txt" || { cat "$work/output.txt" "$work/stderr.txt"; echo "getting-started: a block failed" >&2; exit 1; }

python3 - "$work/expected.txt" "$work/output.txt" <<'PY'
import re, sys
expected = [l for l in open(sys.argv[1]).read().splitlines() if l.strip()]
actual = open(sys.argv[2]).read()
missing = [l for l in expected if not re.search(re.escape(l).replace("sync1", "sync[12]"), actual)]
if missing:
    print("getting-started: expected output lines not found:", missing)
    print(actual[-2000:])
    sys.exit(1)
print("getting-started: ok, every block ran and the output matched")
PY
