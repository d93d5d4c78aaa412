using Microsoft.EntityFrameworkCore.Storage;

namespace RoutingSdk.EntityFrameworkCore.Interception;

/// <summary>Builds <see cref="RoutingRelationalCommand"/>s (EF Core's builder, and its command's text and parameters, otherwise unchanged).</summary>
internal sealed class RoutingRelationalCommandBuilder(RelationalCommandBuilderDependencies dependencies) : RelationalCommandBuilder(dependencies)
{
    public override IRelationalCommand Build()
    {
        var built = (RelationalCommand)base.Build();
        return new RoutingRelationalCommand(Dependencies, built.CommandText, built.LogCommandText, built.Parameters);
    }
}

/// <summary>Replaces EF Core's <see cref="IRelationalCommandBuilderFactory"/> in a routed context's internal service provider.</summary>
internal sealed class RoutingRelationalCommandBuilderFactory(RelationalCommandBuilderDependencies dependencies) : RelationalCommandBuilderFactory(dependencies)
{
    public override IRelationalCommandBuilder Create() => new RoutingRelationalCommandBuilder(Dependencies);
}
