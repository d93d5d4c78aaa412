using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Npgsql;
using Npgsql.EntityFrameworkCore.PostgreSQL.Infrastructure;
using Npgsql.EntityFrameworkCore.PostgreSQL.Infrastructure.Internal;
using RoutingSdk.Pools;

namespace RoutingSdk.EntityFrameworkCore.Interception;

/// <summary>
/// What a context's <c>UseNpgsql(...)</c> declares for the provider's own data source — <c>MapEnum</c>, plugins such as
/// <c>UseNodaTime()</c>, <c>ConfigureDataSource</c>, certificate callbacks — read the way the provider's
/// <c>NpgsqlDataSourceManager</c> applies it, so every pool's connection of that context reads and writes the same
/// types the primary's would. One declaration is enough; nothing needs repeating in <c>AddQueryRouting</c>.
/// </summary>
internal static class ProviderDataSourceExtras
{
#pragma warning disable EF1001 // NpgsqlOptionsExtension is the provider's own record of what UseNpgsql declared.
    public static DataSourceExtras? Resolve(DbContext context)
    {
        var npgsql = context.GetService<IDbContextOptions>().FindExtension<NpgsqlOptionsExtension>();
        if (npgsql is null)
        {
            return null;
        }

        var enums = npgsql.EnumDefinitions;
        var plugins = context.GetService<IEnumerable<INpgsqlDataSourceConfigurationPlugin>>().ToArray();
        var action = npgsql.DataSourceBuilderAction;
        var certificates = npgsql.ProvideClientCertificatesCallback;
        var validation = npgsql.RemoteCertificateValidationCallback;
        if (enums.Count == 0 && plugins.Length == 0 && action is null && certificates is null && validation is null)
        {
            return null;
        }

        // By declaration, not by object: EF Core builds a context's options per scope.
        var key = new StringBuilder();
        foreach (var e in enums)
        {
            key.Append("enum:").Append(e.ClrType.AssemblyQualifiedName).Append('=').Append(e.StoreTypeSchema).Append('.').Append(e.StoreTypeName)
                .Append('/').Append(e.NameTranslator.GetType().FullName).Append('|');
        }

        foreach (var plugin in plugins)
        {
            key.Append("plugin:").Append(plugin.GetType().AssemblyQualifiedName).Append('|');
        }

        AppendDelegate(key, "action", action);
        AppendDelegate(key, "certificates", certificates);
        AppendDelegate(key, "validation", validation);

        var source = $"UseNpgsql(...) of {context.GetType().Name}";
        return new DataSourceExtras(key.ToString(), builder =>
        {
            // The provider's order (NpgsqlDataSourceManager.CreateDataSource): enums, plugins, callbacks, the action last.
            foreach (var e in enums)
            {
                builder.MapEnum(e.ClrType, e.StoreTypeSchema is null ? e.StoreTypeName : e.StoreTypeSchema + "." + e.StoreTypeName, e.NameTranslator);
            }

            foreach (var plugin in plugins)
            {
                plugin.Configure(builder);
            }

            if (certificates is not null || validation is not null)
            {
                builder.UseSslClientAuthenticationOptionsCallback(o =>
                {
                    if (certificates is not null)
                    {
                        o.ClientCertificates ??= [];
                        certificates(o.ClientCertificates);
                    }

                    o.RemoteCertificateValidationCallback = validation;
                });
            }

            action?.Invoke(builder);
        }, source);
    }
#pragma warning restore EF1001

    private static void AppendDelegate(StringBuilder key, string what, Delegate? callback)
    {
        if (callback is not null)
        {
            key.Append(what).Append(':').Append(callback.Method.DeclaringType?.AssemblyQualifiedName).Append("::").Append(callback.Method.MetadataToken).Append('|');
        }
    }
}
