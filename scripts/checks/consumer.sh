#!/usr/bin/env bash
# Stands where a user stands: a fresh console project in a temporary directory outside the repository (so none of
# the repository's Directory.Build.props, central package versions or project references apply) restores RoutingSdk,
# RoutingSdk.EntityFrameworkCore and RoutingSdk.DependencyInjection from artifacts/packages (scripts/pack.sh), builds
# with the analyzer that rides inside the RoutingSdk package (QR0001 must be reported on the deliberate mistake, and
# nothing else), and runs routed queries on the local cluster (scripts/cluster.sh, started by scripts/test.sh): the
# servers themselves say which node answered, via current_setting('cluster_name') and pg_is_in_recovery().
#
# Restore: the other dependencies (Npgsql, EF Core, Castle.Core, Microsoft.Extensions.*) come from the machine's
# global packages folder, used as a read-only fallback folder, and otherwise from the user's normal NuGet sources;
# the RoutingSdk packages are extracted into a packages folder of the check's own, so a package re-packed under the
# same version (same commit, uncommitted changes) is never served stale from a cache.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
feed=${ROUTING_PACKAGES_DIR:-$repo/artifacts/packages}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$SECONDS
fail() { echo "consumer: $*" >&2; exit 1; }

shopt -s nullglob
packages=("$feed"/RoutingSdk.[0-9]*.nupkg)
if ((${#packages[@]} == 0)); then
  echo "consumer: no packages in $feed yet; running scripts/pack.sh"
  bash "$repo/scripts/pack.sh" >/dev/null || fail "scripts/pack.sh failed"
  packages=("$feed"/RoutingSdk.[0-9]*.nupkg)
fi
((${#packages[@]} == 1)) || fail "expected one RoutingSdk package in $feed, found ${#packages[@]}"
version=$(basename "${packages[0]}" .nupkg); version=${version#RoutingSdk.}

declare -A cs
while IFS= read -r line; do cs[${line%%=*}]=${line#*=}; done < <(cd "$repo" && scripts/cluster.sh env)
for key in PRIMARY SYNC1 SYNC2 ASYNC1; do [[ -n "${cs[$key]:-}" ]] || fail "scripts/cluster.sh env gave no $key; is the cluster running?"; done

global=${NUGET_PACKAGES:-$HOME/.nuget/packages}
app="$work/RoutingConsumer"
mkdir -p "$app"
cat >"$app/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <config>
    <add key="globalPackagesFolder" value="$work/packages" />
  </config>
  <fallbackPackageFolders>
    <add key="machine" value="$global" />
  </fallbackPackageFolders>
  <packageSources>
    <add key="routingsdk-artifacts" value="$feed" />
  </packageSources>
  <packageSourceMapping>
    <packageSource key="routingsdk-artifacts"><package pattern="RoutingSdk*" /></packageSource>
  </packageSourceMapping>
</configuration>
XML
# The user's own sources (nuget.org) stay available for anything the machine's folder lacks; only RoutingSdk* is
# pinned to the artifacts feed. A stale RoutingSdk of this version in the machine's folder would shadow the feed.
for id in routingsdk routingsdk.entityframeworkcore routingsdk.dependencyinjection; do rm -rf "${global:?}/$id/$version"; done
cat >"$app/RoutingConsumer.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
    <ImplicitUsings>enable</ImplicitUsings>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="RoutingSdk.EntityFrameworkCore" Version="$version" />
    <PackageReference Include="RoutingSdk.DependencyInjection" Version="$version" />
  </ItemGroup>
</Project>
XML
cat >"$app/Program.cs" <<'CS'
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using RoutingSdk;

var services = new ServiceCollection();
services.AddQueryRouting(o =>
{
    o.Pools.Add(new RoutingPoolOptions { Name = "WritePool", Role = PoolRole.Primary, ConnectionString = Env("PRIMARY") });
    o.Pools.Add(new RoutingPoolOptions { Name = "sync1", Role = PoolRole.SyncReplica, ConnectionString = Env("SYNC1") });
    o.Pools.Add(new RoutingPoolOptions { Name = "sync2", Role = PoolRole.SyncReplica, ConnectionString = Env("SYNC2") });
    o.Pools.Add(new RoutingPoolOptions { Name = "async1", Role = PoolRole.AsyncReplica, ConnectionString = Env("ASYNC1") });
})
.AddRoutedService<IReportNode, ReportNode>()
.AddRoutedService<IEntryNode, EntryNode>();
services.AddDbContext<ConsumerDb>((sp, o) => o
    .UseNpgsql(sp.GetRequiredService<RoutingPools>().PrimaryConnectionString)
    .UseQueryRouting(sp));

await using var provider = services.BuildServiceProvider();
await using var scope = provider.CreateAsyncScope();
Console.WriteLine("read-replica: " + await scope.ServiceProvider.GetRequiredService<IReportNode>().NodeAsync());
Console.WriteLine("master-only: " + await scope.ServiceProvider.GetRequiredService<IEntryNode>().NodeAsync());

static string Env(string name) => Environment.GetEnvironmentVariable(name) ?? throw new InvalidOperationException($"{name} is not set.");

public sealed class ConsumerDb(DbContextOptions<ConsumerDb> options) : DbContext(options)
{
    // The server's own answer: which node this is, and whether it is a standby.
    public Task<string> NodeAsync() => Database
        .SqlQuery<string>($"SELECT current_setting('cluster_name') || ' ' || pg_is_in_recovery() AS \"Value\"")
        .SingleAsync();
}

public interface IReportNode { Task<string> NodeAsync(); }

[ReadReplica(Category = RoutingCategory.Report)]
public sealed class ReportNode(ConsumerDb db) : IReportNode
{
    public Task<string> NodeAsync() => db.NodeAsync();
}

public interface IEntryNode { Task<string> NodeAsync(); }

[MasterOnly(Category = RoutingCategory.Interface)]
public sealed class EntryNode(ConsumerDb db) : IEntryNode
{
    public Task<string> NodeAsync() => db.NodeAsync();
}
CS
# The deliberate mistake the analyzer must catch: a write inside a [ReadReplica] operation (QR0001).
cat >"$app/Mistake.cs" <<'CS'
using RoutingSdk;

public interface IStockReport { int Build(); }

[ReadReplica(Category = RoutingCategory.Report)]
public sealed class StockReport(ConsumerDb db) : IStockReport
{
    public int Build() => db.SaveChanges();
}
CS

cd "$app"
dotnet build -c Release -nologo -clp:NoSummary >"$work/build.log" 2>&1 || { cat "$work/build.log"; fail "the consumer project did not restore or build"; }
for id in RoutingSdk RoutingSdk.EntityFrameworkCore RoutingSdk.DependencyInjection; do
  lower=${id,,}
  [[ -f "$work/packages/$lower/$version/$lower.$version.nupkg" ]] || fail "$id $version was not restored from $feed (not in the check's packages folder)"
done
qr=$(grep -oE "[A-Za-z]+\.cs\([0-9]+,[0-9]+\): warning QR[0-9]{4}" "$work/build.log" | sort -u)
if [[ "$qr" != "Mistake.cs(8,27): warning QR0001" ]]; then
  cat "$work/build.log"
  fail "expected exactly QR0001 at Mistake.cs(8,27) from the packaged analyzer, got: ${qr:-no QR diagnostic}"
fi

export PRIMARY="${cs[PRIMARY]}" SYNC1="${cs[SYNC1]}" SYNC2="${cs[SYNC2]}" ASYNC1="${cs[ASYNC1]}"
dotnet bin/Release/net10.0/RoutingConsumer.dll >"$work/run.log" 2>&1 || { cat "$work/run.log"; fail "the consumer program failed"; }
grep -qxE "read-replica: sync[12] true" "$work/run.log" || { cat "$work/run.log"; fail "the [ReadReplica] query did not run on a synchronous replica"; }
grep -qx "master-only: primary false" "$work/run.log" || { cat "$work/run.log"; fail "the [MasterOnly] query did not run on the primary"; }
echo "consumer: ok in $((SECONDS - start)) s: RoutingSdk $version restored from $feed outside the repository; $qr; $(paste -sd';' "$work/run.log" | sed 's/;/; /g')"
