using System.Text.Json;

namespace SeaLion.Templates.Tests;

/// <summary>One oracle case from fixtures/template_cases.json (rendered by jinja2 as transformers renders).</summary>
internal sealed record TemplateCase(string Name, string Template, Dictionary<string, object?> Context, string? Expected, string? Error)
{
    public bool ExpectsError => Error is not null;

    private static readonly Lazy<IReadOnlyDictionary<string, TemplateCase>> All = new(Load);

    public static IReadOnlyDictionary<string, TemplateCase> Cases => All.Value;

    public static TemplateCase Get(string name) => Cases[name];

    private static IReadOnlyDictionary<string, TemplateCase> Load()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "fixtures", "template_cases.json");
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(path));
        var cases = new Dictionary<string, TemplateCase>(StringComparer.Ordinal);
        foreach (JsonElement c in doc.RootElement.EnumerateArray())
        {
            var context = new Dictionary<string, object?>(StringComparer.Ordinal);
            foreach (JsonProperty p in c.GetProperty("context").EnumerateObject()) context[p.Name] = p.Value.Clone();
            bool error = c.TryGetProperty("expected_error", out JsonElement e) && e.GetBoolean();
            string name = c.GetProperty("name").GetString()!;
            cases[name] = new TemplateCase(name, c.GetProperty("template").GetString()!, context,
                error ? null : c.GetProperty("expected").GetString(), error ? c.GetProperty("error").GetString() : null);
        }
        return cases;
    }
}
