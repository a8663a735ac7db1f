namespace SeaLion.Templates;

/// <summary>
/// Raised when a template cannot be parsed or rendered. The message starts with "line L:C:" when the
/// failing construct is known and then names the construct and the problem.
/// </summary>
public sealed class TemplateException : Exception
{
    public TemplateException(string message) : base(message) { }

    public TemplateException(string message, Exception innerException) : base(message, innerException) { }

    internal TemplateException(SourcePos pos, string problem)
        : base($"line {pos.Line}:{pos.Column}: {problem}")
    {
        Line = pos.Line;
        Column = pos.Column;
    }

    /// <summary>1-based line of the failing construct, 0 when unknown.</summary>
    public int Line { get; }

    /// <summary>1-based column of the failing construct, 0 when unknown.</summary>
    public int Column { get; }
}
