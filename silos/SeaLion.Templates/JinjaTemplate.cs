namespace SeaLion.Templates;

/// <summary>
/// A parsed template in the Jinja2 subset used by Hugging Face chat templates, rendered with the
/// semantics of transformers' ImmutableSandboxedEnvironment(trim_blocks, lstrip_blocks, loopcontrols).
/// Parse once, render many times; rendering is thread-safe.
/// </summary>
public sealed class JinjaTemplate
{
    private readonly IReadOnlyList<Stmt> _body;

    private JinjaTemplate(IReadOnlyList<Stmt> body) => _body = body;

    /// <summary>Parses <paramref name="source"/>; unsupported or malformed syntax throws a TemplateException naming line:column.</summary>
    public static JinjaTemplate Parse(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        try
        {
            return new JinjaTemplate(Parser.ParseTemplate(source));
        }
        catch (InsufficientExecutionStackException)
        {
            throw new TemplateException("template nesting too deep to parse (stack limit reached)");
        }
    }

    /// <summary>
    /// Renders with <paramref name="context"/> as template variables. Values may be string, integer
    /// and floating types, bool, null, dictionaries, lists and JsonElement. Undefined names render
    /// as "" like jinja2's default Undefined.
    /// </summary>
    public string Render(IReadOnlyDictionary<string, object?> context) => Render(context, () => DateTime.Now);

    internal string Render(IReadOnlyDictionary<string, object?> context, Func<DateTime> clock)
    {
        ArgumentNullException.ThrowIfNull(context);
        var globals = new Scope(null);
        Globals.AddTo(globals, clock);
        var scope = new Scope(globals);
        foreach (var (name, value) in context) scope.Set(name, ValueConversion.FromHost(value));
        try
        {
            return new Renderer(scope).Render(_body);
        }
        catch (PyError e)
        {
            throw new TemplateException(e.Message);
        }
        catch (InsufficientExecutionStackException)
        {
            throw new TemplateException("template nesting too deep (stack limit reached)");
        }
    }
}
