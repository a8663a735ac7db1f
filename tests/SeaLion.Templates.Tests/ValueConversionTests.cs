using System.Text.Json;

namespace SeaLion.Templates.Tests;

public sealed class ValueConversionTests
{
    [Fact]
    public void Host_values_render_as_python_values()
    {
        using JsonDocument json = JsonDocument.Parse("""{"i": 1, "f": 1.0, "s": "x", "n": null, "l": [true, false]}""");
        var context = new Dictionary<string, object?>
        {
            ["i"] = 3,
            ["f"] = 2.5f,
            ["b"] = true,
            ["n"] = null,
            ["list"] = new[] { "a", "b" },
            ["dict"] = new Dictionary<string, object?> { ["k"] = 1L, ["v"] = new List<object?> { 1.5, null } },
            ["json"] = json.RootElement,
        };
        string rendered = JinjaTemplate.Parse("{{ i }} {{ f }} {{ b }} {{ n }} {{ list }} {{ dict }} {{ json }} {{ i / 2 }}").Render(context);
        Assert.Equal("3 2.5 True None ['a', 'b'] {'k': 1, 'v': [1.5, None]} {'i': 1, 'f': 1.0, 's': 'x', 'n': None, 'l': [True, False]} 1.5", rendered);
    }

    [Fact]
    public void Unsupported_host_value_is_rejected_clearly()
    {
        var ex = Assert.Throws<ArgumentException>(() => JinjaTemplate.Parse("{{ x }}").Render(new Dictionary<string, object?> { ["x"] = new Uri("http://x") }));
        Assert.Contains("Uri", ex.Message);
    }

    [Fact]
    public void Strftime_now_formats_with_python_directives()
    {
        var template = JinjaTemplate.Parse("""{{ strftime_now("%d %b %Y") }}|{{ strftime_now("%A %B %-d") if false else strftime_now("%H:%M:%S %p %j %y") }}""");
        string rendered = template.Render(new Dictionary<string, object?>(), () => new DateTime(2025, 3, 5, 14, 7, 9));
        Assert.Equal("05 Mar 2025|14:07:09 PM 064 25", rendered);
    }

    [Fact]
    public void A_parsed_template_renders_concurrently_with_independent_state()
    {
        var template = JinjaTemplate.Parse("{% set ns = namespace(n=0) %}{% for x in xs %}{% set ns.n = ns.n + x %}{% endfor %}{{ ns.n }}");
        var results = Enumerable.Range(0, 64).AsParallel()
            .Select(i => template.Render(new Dictionary<string, object?> { ["xs"] = Enumerable.Range(0, i).ToList() }))
            .ToList();
        Assert.Equal(Enumerable.Range(0, 64).Select(i => (i * (i - 1) / 2).ToString()), results);
    }
}
