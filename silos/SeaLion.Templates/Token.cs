namespace SeaLion.Templates;

/// <summary>1-based position in the newline-normalised template source.</summary>
internal readonly record struct SourcePos(int Line, int Column)
{
    public override string ToString() => $"{Line}:{Column}";
}

internal enum TokenKind
{
    Data,
    VariableBegin,
    VariableEnd,
    BlockBegin,
    BlockEnd,
    Name,
    String,
    Integer,
    Float,
    Operator,
    Eof,
}

/// <summary>A lexed token. <see cref="Value"/> holds the decoded literal for strings and numbers.</summary>
internal sealed record Token(TokenKind Kind, string Text, object? Value, SourcePos Pos)
{
    public bool IsName(string name) => Kind == TokenKind.Name && Text == name;

    public bool IsOp(string op) => Kind == TokenKind.Operator && Text == op;

    /// <summary>How the token reads in an error message, in jinja2's words where they exist.</summary>
    public string Describe() => Kind switch
    {
        TokenKind.Eof => "end of template",
        TokenKind.BlockEnd => "end of statement block",
        TokenKind.VariableEnd => "end of print statement",
        TokenKind.BlockBegin => "begin of statement block",
        TokenKind.VariableBegin => "begin of print statement",
        TokenKind.Data => "template data",
        _ => $"'{Text}'",
    };
}

/// <summary>Raised by value operations (Python's TypeError, UndefinedError, ...); the renderer adds the position.</summary>
internal sealed class PyError(string message) : Exception(message)
{
    /// <summary>True for errors the template raised itself through raise_exception().</summary>
    public bool RaisedByTemplate { get; init; }
}
