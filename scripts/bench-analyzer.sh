#!/usr/bin/env bash
# How much RoutingSdk's analyzer adds to compile time: a generated 300-file project of routed services with EF Core
# code, built with and without the analyzer (no-incremental, several runs, medians), plus MSBuild's own per-analyzer report.
# BENCH_ANALYZER_TENANTS=1 adds a BackgroundService per file with database work inside and outside a TenantScope, so
# QR0011 runs its whole path (and reports once per file) instead of stopping at "no database work in background code".
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${BENCH_ANALYZER_RUNS:-5}
files=${BENCH_ANALYZER_FILES:-300}
tenants=${BENCH_ANALYZER_TENANTS:-0}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

dotnet build "$repo/src/RoutingSdk/RoutingSdk.csproj" -c Release -nologo -v q -clp:NoSummary >/dev/null
sdk_dll="$repo/src/RoutingSdk/bin/Release/net10.0/RoutingSdk.dll"
analyzer_dll="$repo/analyzers/RoutingSdk.Analyzers/bin/Release/netstandard2.0/RoutingSdk.Analyzers.dll"

hosting=""
if [[ "$tenants" == 1 ]]; then
  hosting='<PackageReference Include="Microsoft.Extensions.Hosting.Abstractions" Version="10.0.14" />'
fi
cat >"$work/Gen.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
    <ImplicitUsings>enable</ImplicitUsings>
    <ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="Microsoft.EntityFrameworkCore.Relational" Version="10.0.14" />
    <Reference Include="RoutingSdk" HintPath="$sdk_dll" />
    $hosting
  </ItemGroup>
  <ItemGroup Condition="'\$(WithRoutingAnalyzer)' == 'true'">
    <Analyzer Include="$analyzer_dll" />
  </ItemGroup>
</Project>
XML
cat >"$work/Db.cs" <<'CS'
using Microsoft.EntityFrameworkCore;
namespace Gen;
public class Item { public int Id { get; set; } public int Qty { get; set; } }
public class Db : DbContext { public DbSet<Item> Items => Set<Item>(); }
CS
for i in $(seq 1 "$files"); do
  cat >"$work/Service$i.cs" <<CS
using Microsoft.EntityFrameworkCore;
using RoutingSdk;
namespace Gen;
public interface IReport$i { Task<int> BuildAsync(int id); IQueryable<Item> Items(); }
[ReadReplica(Category = RoutingCategory.Report)]
public class Report$i(Db db, IForm$i form) : IReport$i
{
    public Task<int> BuildAsync(int id) => db.Items.Where(x => x.Id > id).CountAsync();
    public IQueryable<Item> Items() => db.Items.Where(x => x.Qty > $i);
    public virtual async Task<int> TouchAsync() { form.Save(); await db.SaveChangesAsync(); return $i; }
}
public interface IForm$i { [MasterOnly] void Save(); }
public class Form$i(Db db, IReport$i report) : IForm$i
{
    public void Save() { db.Items.Add(new Item { Qty = $i }); db.SaveChanges(); _ = report.BuildAsync($i); }
    [AsyncReplica(MaxLagMilliseconds = 1000)] public virtual List<Item> Print() => db.Items.Take($i).ToList();
}
CS
  if [[ "$tenants" == 1 ]]; then
    cat >>"$work/Service$i.cs" <<CS
public class Job$i(Db db) : Microsoft.Extensions.Hosting.BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using (TenantScope.Begin("t$i")) { await db.Items.Where(x => x.Id > $i).CountAsync(stoppingToken); await db.SaveChangesAsync(stoppingToken); }
        await Task.Run(() => db.Items.Count(), stoppingToken);
    }
}
CS
  fi
done

cd "$work"
dotnet restore -nologo -v q >/dev/null
build() { # with-analyzer
  local start end
  start=$(date +%s%N)
  dotnet build --no-restore --no-incremental -nologo -v q -clp:NoSummary -p:WithRoutingAnalyzer="$1" >/dev/null
  end=$(date +%s%N)
  echo $(( (end - start) / 1000000 ))
}
build false >/dev/null; build true >/dev/null # warm-up
without=(); with=()
for _ in $(seq 1 "$runs"); do
  without+=("$(build false)")
  with+=("$(build true)")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
m_without=$(median "${without[@]}"); m_with=$(median "${with[@]}")
echo "Analyzer compile-time benchmark: $files generated files$([[ "$tenants" == 1 ]] && echo " with a tenant-scoped BackgroundService each"), $runs no-incremental builds each"
echo "  without the analyzer: median ${m_without} ms (runs: ${without[*]})"
echo "  with the analyzer:    median ${m_with} ms (runs: ${with[*]})"
awk -v a="$m_without" -v b="$m_with" 'BEGIN { printf "  build time ratio: %.3f (%+.1f%%)\n", b / a, 100 * (b - a) / a }'
dotnet build --no-restore --no-incremental -nologo -v d -p:WithRoutingAnalyzer=true -p:ReportAnalyzer=true >"$work/report.log" 2>&1
echo "  MSBuild analyzer report (ReportAnalyzer=true):"
# The per-analyzer table MSBuild prints with ReportAnalyzer (not the csc command line, which also names the DLL).
grep -vE "csc |/analyzer:" "$work/report.log" | grep -E "Total analyzer execution time|Total generator execution time|RoutingSdk\.Analyzers|Microsoft\.CodeAnalysis\.(CSharp\.)?NetAnalyzers, " | sed 's/^ */    /' | head -16
