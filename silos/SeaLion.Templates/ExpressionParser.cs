using System.Runtime.CompilerServices;

namespace SeaLion.Templates;

/// <summary>
/// Parses expressions with jinja2's grammar and precedence (lowest first): conditional "if/else",
/// or, and, not, comparisons and in/not in, + -, ~, * / // %, **, unary - +, then filters "|",
/// tests "is" and calls, which bind tighter than everything except attribute access and calls.
/// Unknown filters and tests are rejected here, at parse time.
/// </summary>
internal partial class ExpressionParser(TokenStream stream)
{
    private const int MaxNesting = 200;
    private static readonly HashSet<string> CompareOps = ["==", "!=", "<", "<=", ">", ">="];
    private int _nesting;

    protected TokenStream Stream => stream;

    /// <summary>Names read inside the macro being parsed (to detect use of varargs/kwargs).</summary>
    protected Stack<HashSet<string>> MacroNames { get; } = new();

    public Expr ParseExpression(bool withCondExpr = true)
    {
        RuntimeHelpers.EnsureSufficientExecutionStack();
        if (++_nesting > MaxNesting) throw TokenStream.Fail(stream.Current, $"expression nested more than {MaxNesting} levels deep");
        try
        {
            return withCondExpr ? ParseCondExpr() : ParseOr();
        }
        finally
        {
            _nesting--;
        }
    }

    private Expr ParseCondExpr()
    {
        Expr expr = ParseOr();
        while (stream.Current.IsName("if"))
        {
            SourcePos pos = stream.Next().Pos;
            Expr test = ParseOr();
            Expr? otherwise = stream.SkipName("else") ? ParseCondExpr() : null;
            expr = new CondExpr(test, expr, otherwise, pos);
        }
        return expr;
    }

    private Expr ParseOr()
    {
        Expr left = ParseAnd();
        while (stream.Current.IsName("or"))
        {
            SourcePos pos = stream.Next().Pos;
            left = new LogicalExpr("or", left, ParseAnd(), pos);
        }
        return left;
    }

    private Expr ParseAnd()
    {
        Expr left = ParseNot();
        while (stream.Current.IsName("and"))
        {
            SourcePos pos = stream.Next().Pos;
            left = new LogicalExpr("and", left, ParseNot(), pos);
        }
        return left;
    }

    private Expr ParseNot()
    {
        if (!stream.Current.IsName("not")) return ParseCompare();
        SourcePos pos = stream.Next().Pos;
        RuntimeHelpers.EnsureSufficientExecutionStack();
        return new UnaryExpr("not", ParseNot(), pos);
    }

    private Expr ParseCompare()
    {
        Expr first = ParseMath1();
        var rest = new List<(string, Expr)>();
        while (true)
        {
            Token t = stream.Current;
            if (t.Kind == TokenKind.Operator && CompareOps.Contains(t.Text))
            {
                stream.Next();
                rest.Add((t.Text, ParseMath1()));
            }
            else if (stream.SkipName("in"))
            {
                rest.Add(("in", ParseMath1()));
            }
            else if (t.IsName("not") && stream.Look.IsName("in"))
            {
                stream.Next();
                stream.Next();
                rest.Add(("notin", ParseMath1()));
            }
            else break;
        }
        return rest.Count == 0 ? first : new CompareExpr(first, rest, first.Pos);
    }

    private Expr ParseMath1()
    {
        Expr left = ParseConcat();
        while (stream.Current.IsOp("+") || stream.Current.IsOp("-"))
        {
            Token op = stream.Next();
            left = new BinaryExpr(op.Text, left, ParseConcat(), op.Pos);
        }
        return left;
    }

    private Expr ParseConcat()
    {
        var parts = new List<Expr> { ParseMath2() };
        while (stream.SkipOp("~")) parts.Add(ParseMath2());
        return parts.Count == 1 ? parts[0] : new ConcatExpr(parts, parts[0].Pos);
    }

    private Expr ParseMath2()
    {
        Expr left = ParsePow();
        while (stream.Current.Kind == TokenKind.Operator && stream.Current.Text is "*" or "/" or "//" or "%")
        {
            Token op = stream.Next();
            left = new BinaryExpr(op.Text, left, ParsePow(), op.Pos);
        }
        return left;
    }

    /// <summary>** is left-associative in jinja2 (2**3**2 == 64) and binds looser than unary minus.</summary>
    private Expr ParsePow()
    {
        Expr left = ParseUnary();
        while (stream.Current.IsOp("**"))
        {
            Token op = stream.Next();
            left = new BinaryExpr("**", left, ParseUnary(), op.Pos);
        }
        return left;
    }

    private Expr ParseUnary(bool withFilter = true)
    {
        RuntimeHelpers.EnsureSufficientExecutionStack();
        Token t = stream.Current;
        Expr node;
        if (t.IsOp("-") || t.IsOp("+"))
        {
            stream.Next();
            node = new UnaryExpr(t.Text, ParseUnary(false), t.Pos);
        }
        else
        {
            node = ParsePrimary();
        }
        node = ParsePostfix(node);
        return withFilter ? ParseFilterExpr(node) : node;
    }

    protected Expr ParsePrimary()
    {
        Token t = stream.Current;
        switch (t.Kind)
        {
            case TokenKind.Name:
                stream.Next();
                return t.Text switch
                {
                    "true" or "True" => new ConstExpr(true, t.Pos),
                    "false" or "False" => new ConstExpr(false, t.Pos),
                    "none" or "None" => new ConstExpr(null, t.Pos),
                    _ => RecordName(new NameExpr(t.Text, t.Pos)),
                };
            case TokenKind.String:
                var text = new System.Text.StringBuilder();
                // Adjacent string literals concatenate, as in Python.
                while (stream.Current.Kind == TokenKind.String) text.Append((string)stream.Next().Value!);
                return new ConstExpr(text.ToString(), t.Pos);
            case TokenKind.Integer or TokenKind.Float:
                stream.Next();
                return new ConstExpr(t.Value, t.Pos);
            case TokenKind.Operator when t.Text == "(":
                stream.Next();
                Expr inner = ParseTuple(explicitParentheses: true);
                stream.ExpectOp(")");
                return inner;
            case TokenKind.Operator when t.Text == "[":
                return ParseList();
            case TokenKind.Operator when t.Text == "{":
                return ParseDict();
            default:
                throw TokenStream.Fail(t, $"unexpected {t.Describe()}");
        }
    }

    private NameExpr RecordName(NameExpr name)
    {
        if (MacroNames.Count > 0) MacroNames.Peek().Add(name.Name);
        return name;
    }

    /// <summary>
    /// Comma-separated expressions; more than one (or a trailing comma) makes a tuple.
    /// <paramref name="simplified"/> allows only primaries (assignment targets).
    /// </summary>
    public Expr ParseTuple(bool simplified = false, bool withCondExpr = true, string[]? extraEnd = null, bool explicitParentheses = false)
    {
        SourcePos pos = stream.Current.Pos;
        var items = new List<Expr>();
        bool isTuple = false;
        while (true)
        {
            if (items.Count > 0) stream.ExpectOp(",");
            if (IsTupleEnd(extraEnd)) break;
            items.Add(simplified ? ParsePrimary() : ParseExpression(withCondExpr));
            if (stream.Current.IsOp(",")) isTuple = true;
            else break;
        }
        if (!isTuple)
        {
            if (items.Count > 0) return items[0];
            if (!explicitParentheses) throw TokenStream.Fail(stream.Current, $"expected an expression, got {stream.Current.Describe()}");
        }
        return new TupleExpr(items, pos);
    }

    private bool IsTupleEnd(string[]? extraEnd)
    {
        Token t = stream.Current;
        if (t.Kind is TokenKind.VariableEnd or TokenKind.BlockEnd or TokenKind.Eof || t.IsOp(")")) return true;
        return extraEnd is not null && t.Kind == TokenKind.Name && extraEnd.Contains(t.Text);
    }

    private Expr ParseList()
    {
        SourcePos pos = stream.ExpectOp("[").Pos;
        var items = new List<Expr>();
        while (!stream.Current.IsOp("]"))
        {
            if (items.Count > 0) stream.ExpectOp(",");
            if (stream.Current.IsOp("]")) break;
            items.Add(ParseExpression());
        }
        stream.ExpectOp("]");
        return new ListExpr(items, pos);
    }

    private Expr ParseDict()
    {
        SourcePos pos = stream.ExpectOp("{").Pos;
        var items = new List<(Expr, Expr)>();
        while (!stream.Current.IsOp("}"))
        {
            if (items.Count > 0) stream.ExpectOp(",");
            if (stream.Current.IsOp("}")) break;
            Expr key = ParseExpression();
            stream.ExpectOp(":");
            items.Add((key, ParseExpression()));
        }
        stream.ExpectOp("}");
        return new DictExpr(items, pos);
    }
}
