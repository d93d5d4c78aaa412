#!/usr/bin/env bash
# Packs every shipped package (src/*) into artifacts/packages/: a .nupkg and a .snupkg (portable PDB with the sources
# embedded, and source link when the git remote is on GitHub) each, README and description inside, version from the
# nearest git tag vX.Y.Z (MinVer; an untagged clone packs 0.1.0-alpha.0.<commits>), built as a CI build
# (ContinuousIntegrationBuild: deterministic, /_/ source paths). Then inspects what it made and prints one line a
# package. Builds into artifacts/bin and artifacts/obj, so bin/ and obj/ of a normal build are left alone.
#   scripts/pack.sh                    # into artifacts/packages
#   ROUTING_PACKAGES_DIR=/some/dir scripts/pack.sh
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_CLI_USE_MSBUILD_SERVER=0
out=${ROUTING_PACKAGES_DIR:-$repo/artifacts/packages}
log=$repo/artifacts/pack.log

command -v dotnet >/dev/null 2>&1 || { echo "pack.sh: the .NET 10 SDK is required (dotnet not found on PATH)." >&2; exit 1; }
git rev-parse --git-dir >/dev/null 2>&1 || { echo "pack.sh: not a git clone; the version comes from git tags (MinVer)." >&2; exit 1; }
[[ $(git rev-parse --is-shallow-repository) == false ]] \
  || echo "pack.sh: note: a shallow clone; MinVer may not see the latest tag (git fetch --unshallow --tags)." >&2

mkdir -p "$repo/artifacts"
rm -rf "$out"
mkdir -p "$out"
projects=(src/*/*.csproj)
start=$SECONDS
# One solution filter of the shipped projects: one restore and one build graph (the analyzers and RoutingSdk are
# built once), instead of a dotnet pack per project.
{
  printf '{\n  "solution": {\n    "path": "../RoutingSdk.sln",\n    "projects": [\n'
  for i in "${!projects[@]}"; do printf '      "%s"%s\n' "${projects[$i]}" "$([[ $i -lt $((${#projects[@]} - 1)) ]] && echo ,)"; done
  printf '    ]\n  }\n}\n'
} >"$repo/artifacts/packages.slnf"
if ! dotnet pack "$repo/artifacts/packages.slnf" -c Release -nologo -v q -clp:NoSummary \
    --artifacts-path "$repo/artifacts" -p:PackageOutputPath="$out" \
    -p:ContinuousIntegrationBuild=true >"$log" 2>&1; then
  cat "$log" >&2
  echo "pack.sh: dotnet pack failed (log: $log)" >&2
  exit 1
fi

# Inspect: every project gave a package and a symbol package; README, description, repository commit, license.
python3 - "$out" "${projects[@]}" <<'PY'
import re, sys, zipfile, pathlib
out = pathlib.Path(sys.argv[1])
problems = []
for project in sys.argv[2:]:
    name = pathlib.Path(project).stem
    nupkgs = [p for p in out.glob(f"{name}.*.nupkg") if re.fullmatch(re.escape(name) + r"\.\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?\.nupkg", p.name)]
    if len(nupkgs) != 1:
        problems.append(f"{name}: expected one .nupkg, found {[p.name for p in nupkgs]}"); continue
    nupkg = nupkgs[0]
    version = nupkg.name[len(name) + 1:-len(".nupkg")]
    snupkg = out / f"{name}.{version}.snupkg"
    z = zipfile.ZipFile(nupkg)
    files = z.namelist()
    nuspec = z.read(f"{name}.nuspec").decode()
    def has(tag): return re.search(rf"<{tag}[ >]", nuspec) is not None
    missing = [what for what, ok in [
        ("symbol package", snupkg.exists()),
        ("README.md", "README.md" in files and "<readme>README.md</readme>" in nuspec),
        ("description", has("description")),
        ("license", "<license" in nuspec),
        ("lib dll", f"lib/net10.0/{name}.dll" in files),
        ("XML docs", f"lib/net10.0/{name}.xml" in files),
        ("repository commit", re.search(r'<repository [^>]*commit="[0-9a-f]{40}"', nuspec) is not None),
    ] if not ok]
    if name == "RoutingSdk":
        for dll in ("RoutingSdk.Analyzers.dll", "RoutingSdk.Analyzers.CodeFixes.dll"):
            if f"analyzers/dotnet/cs/{dll}" not in files: missing.append(f"analyzers/dotnet/cs/{dll}")
    # ContinuousIntegrationBuild maps the repository root to /_/ (deterministic paths): the DLL's PDB path shows it.
    if b"/_/" not in z.read(f"lib/net10.0/{name}.dll"): missing.append("deterministic /_/ paths in the DLL")
    sourcelink = "none (no GitHub remote)"
    if snupkg.exists():
        pdb = zipfile.ZipFile(snupkg).read(f"lib/net10.0/{name}.pdb")
        if b'{"documents":' in pdb:
            m = re.search(rb'\{"documents":\{"[^"]*":"([^"]*)"', pdb)
            sourcelink = m.group(1).decode() if m else "present"
    if missing:
        problems.append(f"{name} {version}: missing {', '.join(missing)}")
    else:
        print(f"pack.sh: {nupkg.name} + .snupkg (readme, description, commit; source link: {sourcelink})")
if problems:
    print("pack.sh: " + "\npack.sh: ".join(problems), file=sys.stderr); sys.exit(1)
PY
echo "pack.sh: ${#projects[@]} packages in $out ($((SECONDS - start)) s)"
