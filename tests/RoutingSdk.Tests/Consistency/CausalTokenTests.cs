namespace RoutingSdk.Tests.Consistency;

public sealed class CausalTokenTests
{
    [Theory]
    [InlineData("lsn:0/16B3748", 0x16B3748UL)]
    [InlineData("lsn:1A/FF", (0x1AUL << 32) | 0xFF)]
    [InlineData("lsn:0/16B3748@3", 0x16B3748UL)]
    [InlineData("lsn:0/16B3748@3~shared", 0x16B3748UL)]
    [InlineData("lsn:0/16B3748~eu%20north", 0x16B3748UL)]
    [InlineData("lsn:0/16B3748@1~eu~west", 0x16B3748UL)]
    public void Token_round_trips_through_text(string text, ulong lsn)
    {
        var token = CausalToken.Parse(text);
        Assert.Equal(lsn, token.Lsn);
        Assert.Equal(text, token.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("0/16B3748")]
    [InlineData("lsn:xyz")]
    [InlineData("lsn:1/")]
    [InlineData("lsn:0/16B3748@")]
    [InlineData("lsn:0/16B3748@0")]
    [InlineData("lsn:0/16B3748@x")]
    [InlineData("lsn:0/16B3748@3~")]
    public void Malformed_token_is_rejected_with_the_expected_form(string text)
    {
        Assert.False(CausalToken.TryParse(text, out _));
        Assert.Contains("lsn:<hex>/<hex>", Assert.Throws<FormatException>(() => CausalToken.Parse(text)).Message);
    }

    [Fact]
    public void WaitFor_raises_the_operation_requirement_for_nested_scopes_and_never_lowers_it()
    {
        using var outer = RoutingScope.Begin(RouteKind.AsyncReplica);
        outer.WaitFor(CausalToken.Parse("lsn:0/200"));
        using var inner = RoutingScope.Begin(RouteKind.Default);
        inner.WaitFor(CausalToken.Parse("lsn:0/100"));
        Assert.Equal(0x200UL, outer.Operation.RequiredLsn);
        Assert.Same(outer.Operation, inner.Operation);
    }

    [Fact]
    public void Tokens_from_two_timelines_make_the_operation_position_ambiguous()
    {
        using var scope = RoutingScope.Begin(RouteKind.AsyncReplica);
        scope.WaitFor(CausalToken.Parse("lsn:0/200@2"));
        Assert.Equal(2, scope.Operation.Timeline);
        scope.WaitFor(CausalToken.Parse("lsn:0/300@2"));
        Assert.Equal(2, scope.Operation.Timeline);
        scope.WaitFor(CausalToken.Parse("lsn:0/100@3"));
        Assert.Equal(-1, scope.Operation.Timeline); // matches no replica: the primary serves
    }
}
