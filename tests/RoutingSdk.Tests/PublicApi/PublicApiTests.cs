using System.Reflection;
using System.Text;

namespace RoutingSdk.Tests.PublicApi;

/// <summary>
/// The public surface of every shipped package, snapshotted in src/&lt;Project&gt;/PublicAPI.Shipped.txt (what released)
/// plus PublicAPI.Unshipped.txt (what this release adds), as Npgsql and Polly track theirs. A change to the public
/// API fails here until the snapshot is updated on purpose: run the tests with UPDATE_PUBLIC_API=1 (new lines go to
/// Unshipped; a removed shipped line must be removed by hand, because removing shipped API breaks users).
/// </summary>
public sealed class PublicApiTests
{
    public static TheoryData<string> Assemblies => new() { "RoutingSdk", "RoutingSdk.EntityFrameworkCore", "RoutingSdk.DependencyInjection", "RoutingSdk.Testing", "RoutingSdk.AspNetCore", "RoutingSdk.OpenTelemetry" };

    [Theory]
    [MemberData(nameof(Assemblies))]
    public void Public_api_matches_its_snapshot(string assemblyName)
    {
        var assembly = Assembly.Load(assemblyName);
        var actual = Describe(assembly);
        var shippedPath = Path.Combine(FindRoot(), "src", assemblyName, "PublicAPI.Shipped.txt");
        var unshippedPath = Path.Combine(FindRoot(), "src", assemblyName, "PublicAPI.Unshipped.txt");
        Assert.True(File.Exists(shippedPath), $"{shippedPath} is missing.");
        var shipped = File.ReadAllText(shippedPath).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var lines = actual.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (Environment.GetEnvironmentVariable("UPDATE_PUBLIC_API") == "1")
        {
            File.WriteAllText(unshippedPath, string.Concat(lines.Except(shipped).Select(l => l + "\n")));
        }

        var unshipped = File.Exists(unshippedPath) ? File.ReadAllText(unshippedPath).Split('\n', StringSplitOptions.RemoveEmptyEntries) : [];
        var expected = shipped.Concat(unshipped).ToHashSet(StringComparer.Ordinal);
        var added = lines.Where(l => !expected.Contains(l)).ToList();
        var removed = expected.Except(lines).ToList();
        Assert.True(added.Count == 0 && removed.Count == 0,
            $"The public API of {assemblyName} changed. Added:\n  {string.Join("\n  ", added)}\nRemoved:\n  {string.Join("\n  ", removed)}\n" +
            "If intended, run the tests with UPDATE_PUBLIC_API=1 and commit the updated PublicAPI.Unshipped.txt.");
    }

    [Fact]
    public void Implementation_types_stay_internal()
    {
        var core = Describe(typeof(RoutingScope).Assembly);
        foreach (var name in new[] { "QueryRouter", "RoutingTopology", "PoolHealthMonitor", "RoutingPool ", "CausalReadGate", "OperationState" })
        {
            Assert.DoesNotContain(name, core);
        }
    }

    private static readonly NullabilityInfoContext Nullability = new();

    // "?" marks a reference type annotated nullable, so that a change of nullability is an API change too.
    private static string Nullable(NullabilityInfo info) => !info.Type.IsValueType && info.ReadState == NullabilityState.Nullable ? "?" : "";

    private static string Describe(Assembly assembly)
    {
        var lines = new List<string>();
        foreach (var type in assembly.GetExportedTypes())
        {
            var kind = type.IsInterface ? "interface" : type.IsEnum ? "enum" : type.IsValueType ? "struct" : type.IsAbstract && type.IsSealed ? "static class" : type.IsSealed ? "sealed class" : type.IsAbstract ? "abstract class" : "class";
            lines.Add($"{kind} {Name(type)}{(type.BaseType is { } b && b != typeof(object) && b != typeof(ValueType) && b != typeof(Enum) ? " : " + Name(b) : "")}");
            const BindingFlags flags = BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
            foreach (var member in type.GetMembers(flags))
            {
                var line = member switch
                {
                    ConstructorInfo c => $"{Name(type)}.ctor({Parameters(c)})",
                    MethodInfo m when !m.IsSpecialName => $"{Name(type)}.{m.Name}{(m.IsGenericMethod ? "<" + string.Join(",", m.GetGenericArguments().Select(a => a.Name)) + ">" : "")}({Parameters(m)}) -> {Name(m.ReturnType)}{(m.ReturnType == typeof(void) ? "" : Nullable(Nullability.Create(m.ReturnParameter)))}{(m.IsStatic ? " static" : "")}",
                    PropertyInfo p => $"{Name(type)}.{p.Name} {{ {(p.GetMethod?.IsPublic == true ? "get; " : "")}{(p.SetMethod?.IsPublic == true ? (p.SetMethod.ReturnParameter.GetRequiredCustomModifiers().Any(t => t.Name == "IsExternalInit") ? "init; " : "set; ") : "")}}} -> {Name(p.PropertyType)}{Nullable(Nullability.Create(p))}",
                    FieldInfo f when type.IsEnum && f.IsLiteral => $"{Name(type)}.{f.Name} = {Convert.ToInt64(f.GetRawConstantValue(), System.Globalization.CultureInfo.InvariantCulture)}",
                    FieldInfo f => $"{Name(type)}.{f.Name}{(f.IsLiteral ? " const" : f.IsStatic ? " static" : "")} -> {Name(f.FieldType)}{Nullable(Nullability.Create(f))}",
                    EventInfo e => $"{Name(type)}.{e.Name} event -> {Name(e.EventHandlerType!)}",
                    _ => null,
                };
                if (line is not null)
                {
                    lines.Add(line);
                }
            }
        }

        lines.Sort(StringComparer.Ordinal);
        return string.Join("\n", lines) + "\n";
    }

    private static string Parameters(MethodBase method) =>
        string.Join(", ", method.GetParameters().Select(p => (p.IsOut ? "out " : p.ParameterType.IsByRef ? "in " : "") + Name(p.ParameterType) + (p.ParameterType.IsByRef ? "" : Nullable(Nullability.Create(p))) + (p.HasDefaultValue ? " = " + (p.DefaultValue ?? "null") : "")));

    private static string Name(Type type)
    {
        if (type.IsByRef)
        {
            return Name(type.GetElementType()!);
        }

        if (type.IsGenericParameter)
        {
            return type.Name;
        }

        var sb = new StringBuilder(type.Namespace is null ? "" : type.Namespace + ".");
        var name = type.IsNested ? Name(type.DeclaringType!)[(type.Namespace?.Length + 1 ?? 0)..] + "." + type.Name : type.Name;
        var tick = name.IndexOf('`', StringComparison.Ordinal);
        sb.Append(tick < 0 ? name : name[..tick]);
        if (type.IsGenericType)
        {
            sb.Append('<').Append(string.Join(",", type.GetGenericArguments().Select(Name))).Append('>');
        }

        return sb.ToString();
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "RoutingSdk.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("RoutingSdk.sln not found.");
    }
}
