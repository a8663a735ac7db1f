namespace SeaLion.Templates;

/// <summary>Postfix parts of expressions: attribute/item access, slices, calls, filters and tests.</summary>
internal partial class ExpressionParser
{
    private Expr ParsePostfix(Expr node)
    {
        while (true)
        {
            if (Stream.Current.IsOp(".") || Stream.Current.IsOp("[")) node = ParseSubscript(node);
            else if (Stream.Current.IsOp("(")) node = ParseCall(node);
            else return node;
        }
    }

    private CallExpr ParseCall(Expr callee)
    {
        SourcePos pos = Stream.Current.Pos;
        return new CallExpr(callee, ParseCallArgs(), pos);
    }

    private Expr ParseFilterExpr(Expr node)
    {
        while (true)
        {
            if (Stream.Current.IsOp("|")) node = ParseFilter(node);
            else if (Stream.Current.IsName("is")) node = ParseTest(node);
            else if (Stream.Current.IsOp("(")) node = ParseCall(node);
            else return node;
        }
    }

    private Expr ParseSubscript(Expr node)
    {
        Token t = Stream.Next();
        if (t.Text == ".")
        {
            Token attr = Stream.Next();
            return attr.Kind switch
            {
                TokenKind.Name => new GetAttrExpr(node, attr.Text, attr.Pos),
                TokenKind.Integer => new GetItemExpr(node, new ConstExpr(attr.Value, attr.Pos), attr.Pos),
                _ => throw TokenStream.Fail(attr, $"expected name or number after '.', got {attr.Describe()}"),
            };
        }
        var args = new List<Expr>();
        while (!Stream.Current.IsOp("]"))
        {
            if (args.Count > 0) Stream.ExpectOp(",");
            args.Add(ParseSubscribed());
        }
        Stream.ExpectOp("]");
        return new GetItemExpr(node, args.Count == 1 ? args[0] : new TupleExpr(args, t.Pos), t.Pos);
    }

    /// <summary>An index or a start:stop:step slice, each part optional (jinja2's parse_subscribed).</summary>
    private Expr ParseSubscribed()
    {
        SourcePos pos = Stream.Current.Pos;
        var parts = new List<Expr?>();
        if (Stream.SkipOp(":"))
        {
            parts.Add(null);
        }
        else
        {
            Expr node = ParseExpression();
            if (!Stream.SkipOp(":")) return node;
            parts.Add(node);
        }
        bool AtPartEnd() => Stream.Current.IsOp("]") || Stream.Current.IsOp(",");
        parts.Add(Stream.Current.IsOp(":") || AtPartEnd() ? null : ParseExpression());
        if (Stream.SkipOp(":")) parts.Add(AtPartEnd() ? null : ParseExpression());
        else parts.Add(null);
        return new SliceExpr(parts[0], parts[1], parts[2], pos);
    }

    protected Arguments ParseCallArgs()
    {
        Token open = Stream.ExpectOp("(");
        var positional = new List<Expr>();
        var keywords = new List<(string, Expr)>();
        bool requireComma = false;
        while (!Stream.Current.IsOp(")"))
        {
            if (requireComma)
            {
                Stream.ExpectOp(",");
                if (Stream.Current.IsOp(")")) break;
            }
            if (Stream.Current.IsOp("*") || Stream.Current.IsOp("**"))
            {
                throw TokenStream.Fail(Stream.Current, $"'{Stream.Current.Text}' argument unpacking in calls is not supported");
            }
            if (Stream.Current.Kind == TokenKind.Name && Stream.Look.IsOp("="))
            {
                string key = Stream.Next().Text;
                Stream.Next();
                if (keywords.Any(k => k.Item1 == key)) throw TokenStream.Fail(open, $"keyword argument '{key}' repeated");
                keywords.Add((key, ParseExpression()));
            }
            else
            {
                if (keywords.Count > 0) throw TokenStream.Fail(Stream.Current, "invalid syntax for function call expression: positional argument after keyword argument");
                positional.Add(ParseExpression());
            }
            requireComma = true;
        }
        Stream.ExpectOp(")");
        return new Arguments(positional, keywords);
    }

    private Expr ParseFilter(Expr? node)
    {
        foreach (FilterExpr f in ParseFilterList(startInline: false))
        {
            node = f with { Target = node };
        }
        return node!;
    }

    /// <summary>A chain of "| name(args)" with no target yet; startInline: the first "|" is absent (filter blocks).</summary>
    protected List<FilterExpr> ParseFilterList(bool startInline)
    {
        var filters = new List<FilterExpr>();
        while (Stream.Current.IsOp("|") || startInline)
        {
            if (!startInline) Stream.Next();
            startInline = false;
            Token nameToken = Stream.ExpectName();
            string name = nameToken.Text;
            while (Stream.SkipOp(".")) name += "." + Stream.ExpectName().Text;
            Arguments args = Stream.Current.IsOp("(") ? ParseCallArgs() : Arguments.None;
            if (!Filters.Exists(name))
            {
                throw TokenStream.Fail(nameToken, Filters.IsUnsupportedBuiltin(name)
                    ? $"filter '{name}' is not supported by this renderer"
                    : $"no filter named '{name}'");
            }
            filters.Add(new FilterExpr(null, name, args, nameToken.Pos));
        }
        return filters;
    }

    private Expr ParseTest(Expr node)
    {
        Token isToken = Stream.Next();
        bool negated = Stream.SkipName("not");
        Token nameToken = Stream.ExpectName();
        string name = nameToken.Text;
        while (Stream.SkipOp(".")) name += "." + Stream.ExpectName().Text;
        Arguments args = Arguments.None;
        Token c = Stream.Current;
        if (c.IsOp("("))
        {
            args = ParseCallArgs();
        }
        else if ((c.Kind is TokenKind.Name or TokenKind.String or TokenKind.Integer or TokenKind.Float || c.IsOp("[") || c.IsOp("{"))
                 && !c.IsName("else") && !c.IsName("or") && !c.IsName("and"))
        {
            if (c.IsName("is")) throw TokenStream.Fail(c, "you cannot chain multiple tests with 'is'");
            args = new Arguments([ParsePostfix(ParsePrimary())], []);
        }
        if (!TestFunctions.Exists(name)) throw TokenStream.Fail(nameToken, $"no test named '{name}'");
        Expr test = new TestExpr(node, name, args, isToken.Pos);
        return negated ? new UnaryExpr("not", test, isToken.Pos) : test;
    }
}
