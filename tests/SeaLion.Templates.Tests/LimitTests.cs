namespace SeaLion.Templates.Tests;

/// <summary>Hostile templates end in a TemplateException, never a stack overflow or runaway memory.</summary>
public sealed class LimitTests
{
    private static readonly Dictionary<string, object?> NoContext = [];

    private static TemplateException RenderFails(string template) =>
        Assert.Throws<TemplateException>(() => JinjaTemplate.Parse(template).Render(NoContext));

    [Fact]
    public void Infinite_macro_recursion_fails_cleanly()
    {
        var ex = RenderFails("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
        Assert.Contains("recursed deeper than 200 calls", ex.Message);
    }

    [Fact]
    public void Output_over_16_MiB_is_rejected()
    {
        var ex = RenderFails("{% for i in range(20000) %}{{ 'x' * 1000 }}{% endfor %}");
        Assert.Contains("exceeds 16 MiB", ex.Message);
    }

    [Fact]
    public void Huge_string_repeat_is_rejected_before_allocating()
    {
        var ex = RenderFails("{{ 'x' * 1000000000 }}");
        Assert.Contains("exceeds 16 MiB", ex.Message);
    }

    [Fact]
    public void Exponential_string_doubling_is_rejected()
    {
        var ex = RenderFails("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}");
        Assert.Contains("exceeds 16 MiB", ex.Message);
    }

    [Fact]
    public void More_than_a_million_loop_iterations_are_rejected()
    {
        var ex = RenderFails("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}");
        Assert.Contains("1,000,000 loop iterations", ex.Message);
    }

    [Fact]
    public void Deeply_nested_parentheses_fail_at_parse_time()
    {
        string template = "{{ " + new string('(', 50000) + "1" + new string(')', 50000) + " }}";
        var ex = Assert.Throws<TemplateException>(() => JinjaTemplate.Parse(template));
        Assert.Contains("nested", ex.Message);
    }

    [Fact]
    public void Deeply_nested_unary_operators_fail_cleanly()
    {
        string nots = "{{ " + string.Concat(Enumerable.Repeat("not ", 200000)) + "1 }}";
        Assert.Throws<TemplateException>(() => JinjaTemplate.Parse(nots).Render(NoContext));
        string minus = "{{ " + new string('-', 200000) + "1 }}";
        Assert.Throws<TemplateException>(() => JinjaTemplate.Parse(minus).Render(NoContext));
    }

    [Fact]
    public void Deeply_nested_blocks_fail_cleanly()
    {
        string template = string.Concat(Enumerable.Repeat("{% if true %}", 100000)) + "x" + string.Concat(Enumerable.Repeat("{% endif %}", 100000));
        Assert.Throws<TemplateException>(() => JinjaTemplate.Parse(template).Render(NoContext));
    }

    [Fact]
    public void Deeply_nested_data_fails_cleanly_when_printed()
    {
        var ex = RenderFails("{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}");
        Assert.Contains("too deep", ex.Message);
    }
}
