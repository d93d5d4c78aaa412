namespace RoutingSdk.Tests.Policies;

public sealed class RoutingAttributeTests
{
    [Fact]
    public void Attributes_report_their_routes()
    {
        Assert.Equal(RouteKind.ReadReplica, new ReadReplicaAttribute().Route);
        Assert.Equal(RouteKind.MasterOnly, new MasterOnlyAttribute().Route);
        Assert.Equal(RouteKind.AsyncReplica, new AsyncReplicaAttribute { MaxLagMilliseconds = 500 }.Route);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    public void AsyncReplica_rejects_a_lag_limit_that_is_not_positive(int lag)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new AsyncReplicaAttribute { MaxLagMilliseconds = lag });
        Assert.Contains("MaxLagMilliseconds must be > 0", ex.Message);
    }

    [Fact]
    public void Empty_scenario_is_rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => new ReadReplicaAttribute { Scenario = "" });
        Assert.Contains("Type.Method", ex.Message);
    }

    [Fact]
    public void Attributes_are_allowed_on_classes_interfaces_and_methods_once()
    {
        var usage = (AttributeUsageAttribute)Attribute.GetCustomAttribute(typeof(RoutingAttribute), typeof(AttributeUsageAttribute))!;
        Assert.Equal(AttributeTargets.Class | AttributeTargets.Interface | AttributeTargets.Method, usage.ValidOn);
        Assert.False(usage.AllowMultiple);
    }
}
