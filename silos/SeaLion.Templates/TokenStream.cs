namespace SeaLion.Templates;

/// <summary>Cursor over the lexed tokens with jinja2-style expect/skip helpers.</summary>
internal sealed class TokenStream(List<Token> tokens)
{
    private int _index;

    public Token Current => tokens[_index];

    public Token Look => tokens[Math.Min(_index + 1, tokens.Count - 1)];

    public Token Next()
    {
        Token t = tokens[_index];
        if (t.Kind != TokenKind.Eof) _index++;
        return t;
    }

    public bool SkipName(string name)
    {
        if (!Current.IsName(name)) return false;
        Next();
        return true;
    }

    public bool SkipOp(string op)
    {
        if (!Current.IsOp(op)) return false;
        Next();
        return true;
    }

    public Token ExpectOp(string op) =>
        Current.IsOp(op) ? Next() : throw Fail(Current, $"expected '{op}', got {Current.Describe()}");

    public Token ExpectName() =>
        Current.Kind == TokenKind.Name ? Next() : throw Fail(Current, $"expected a name, got {Current.Describe()}");

    public Token Expect(TokenKind kind, string what) =>
        Current.Kind == kind ? Next() : throw Fail(Current, $"expected {what}, got {Current.Describe()}");

    public static TemplateException Fail(Token at, string problem) => new(at.Pos, problem);
}
