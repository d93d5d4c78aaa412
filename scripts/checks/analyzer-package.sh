#!/usr/bin/env bash
# The analyzer ships inside the RoutingSdk package: pack it, restore a throw-away consumer from a local folder feed,
# and expect QR0001 on a SaveChanges inside a [ReadReplica] method.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
version="0.0.0-check.$(date +%s)$RANDOM"   # unique: the global packages cache never serves a stale copy

dotnet pack "$repo/src/RoutingSdk/RoutingSdk.csproj" -c Release -o "$work/feed" -p:PackageVersion="$version" -nologo -v q >"$work/pack.log" 2>&1 \
  || { cat "$work/pack.log"; echo "analyzer-package: dotnet pack failed" >&2; exit 1; }
package="$work/feed/RoutingSdk.$version.nupkg"
listing=$(python3 -c "import sys, zipfile; print('\n'.join(zipfile.ZipFile(sys.argv[1]).namelist()))" "$package")
for dll in analyzers/dotnet/cs/RoutingSdk.Analyzers.dll analyzers/dotnet/cs/RoutingSdk.Analyzers.CodeFixes.dll; do
  grep -qx "$dll" <<<"$listing" || { echo "analyzer-package: $dll is missing from the package:"; echo "$listing"; exit 1; }
done

mkdir -p "$work/consumer"
cat >"$work/consumer/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="local-feed" value="$work/feed" />
  </packageSources>
</configuration>
XML
cat >"$work/consumer/Consumer.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
    <ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="RoutingSdk" Version="$version" />
    <PackageReference Include="Microsoft.EntityFrameworkCore" Version="10.0.14" />
  </ItemGroup>
</Project>
XML
cat >"$work/consumer/Report.cs" <<'CS'
using Microsoft.EntityFrameworkCore;
using RoutingSdk;

public class Db : DbContext { }

public class SalesReport(Db db)
{
    [ReadReplica(Category = RoutingCategory.Report)]
    public virtual int Build() => db.SaveChanges();
}
CS
# Outside the repository, so its Directory.Build.props and central package versions do not apply.
(cd "$work/consumer" && dotnet build -nologo -v q -clp:NoSummary >"$work/build.log" 2>&1) || { cat "$work/build.log"; echo "analyzer-package: consumer build failed" >&2; exit 1; }
if grep -q "warning QR0001" "$work/build.log"; then
  echo "analyzer-package: ok, consumer got: $(grep -o 'warning QR0001[^[]*' "$work/build.log" | head -n 1)"
else
  cat "$work/build.log"
  echo "analyzer-package: the consumer build did not report QR0001" >&2
  exit 1
fi
