namespace SeaLion.Templates.Tests;

/// <summary>Every case of fixtures/template_cases.json must render byte for byte as jinja2 did, or fail where jinja2 failed.</summary>
public sealed class OracleFixtureTests
{
    public static TheoryData<string> CaseNames()
    {
        var data = new TheoryData<string>();
        foreach (string name in TemplateCase.Cases.Keys) data.Add(name);
        return data;
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Renders_exactly_as_jinja2(string name)
    {
        TemplateCase c = TemplateCase.Get(name);
        if (c.ExpectsError)
        {
            var ex = Assert.Throws<TemplateException>(() => JinjaTemplate.Parse(c.Template).Render(c.Context));
            // Errors raised by the template itself must carry the template's message.
            if (c.Error!.StartsWith("TemplateError: ", StringComparison.Ordinal))
            {
                Assert.Contains(c.Error["TemplateError: ".Length..], ex.Message, StringComparison.Ordinal);
            }
            return;
        }
        string actual = JinjaTemplate.Parse(c.Template).Render(c.Context);
        Assert.Equal(c.Expected, actual);
    }

    [Fact]
    public void Fixture_file_has_enough_cases()
    {
        Assert.True(TemplateCase.Cases.Count >= 150, $"only {TemplateCase.Cases.Count} cases");
    }
}
