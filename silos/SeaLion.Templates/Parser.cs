namespace SeaLion.Templates;

/// <summary>
/// Parses statements: data, {{ output }}, and the tags for/if/set/macro/filter/with/generation/
/// break/continue. Anything else is a TemplateException naming the tag and its line:column.
/// </summary>
internal sealed class Parser : ExpressionParser
{
    private static readonly HashSet<string> UnsupportedTags = ["call", "block", "extends", "include", "import", "from", "autoescape", "trans", "do"];
    private readonly Stack<string> _openTags = new();
    private int _loopDepth;

    private Parser(TokenStream stream) : base(stream) { }

    public static IReadOnlyList<Stmt> ParseTemplate(string source) =>
        new Parser(new TokenStream(Lexer.Tokenize(source))).Subparse([]);

    private List<Stmt> Subparse(string[] endTags)
    {
        System.Runtime.CompilerServices.RuntimeHelpers.EnsureSufficientExecutionStack();
        var body = new List<Stmt>();
        while (true)
        {
            Token t = Stream.Current;
            switch (t.Kind)
            {
                case TokenKind.Data:
                    Stream.Next();
                    body.Add(new DataStmt(t.Text, t.Pos));
                    break;
                case TokenKind.VariableBegin:
                    Stream.Next();
                    Expr value = ParseTuple();
                    Stream.Expect(TokenKind.VariableEnd, "'}}'");
                    body.Add(new OutputStmt(value, t.Pos));
                    break;
                case TokenKind.BlockBegin:
                    Stream.Next();
                    if (Stream.Current.Kind == TokenKind.Name && endTags.Contains(Stream.Current.Text)) return body;
                    body.Add(ParseStatement(endTags));
                    Stream.Expect(TokenKind.BlockEnd, "'%}'");
                    break;
                case TokenKind.Eof:
                    if (endTags.Length > 0)
                    {
                        throw TokenStream.Fail(t, $"unexpected end of template: expected {Quote(endTags)} to close '{_openTags.Peek()}'");
                    }
                    return body;
                default:
                    throw TokenStream.Fail(t, $"unexpected {t.Describe()}");
            }
        }
    }

    private static string Quote(string[] tags) => string.Join(" or ", tags.Select(x => $"'{x}'"));

    /// <summary>Expects "%}" after the tag header, then parses the body up to one of <paramref name="endTags"/>.</summary>
    private List<Stmt> ParseStatements(string[] endTags, bool dropNeedle = false)
    {
        Stream.SkipOp(":");
        Stream.Expect(TokenKind.BlockEnd, "'%}'");
        List<Stmt> body = Subparse(endTags);
        if (dropNeedle) Stream.Next();
        return body;
    }

    private Stmt ParseStatement(string[] endTags)
    {
        Token t = Stream.Current;
        if (t.Kind != TokenKind.Name) throw TokenStream.Fail(t, $"tag name expected, got {t.Describe()}");
        _openTags.Push(t.Text);
        try
        {
            return t.Text switch
            {
                "for" => ParseFor(),
                "if" => ParseIf(),
                "set" => ParseSet(),
                "macro" => ParseMacro(),
                "filter" => new FilterBlockStmt(SkipTag(ParseFilterListInline), ParseStatements(["endfilter"], true), t.Pos),
                "with" => ParseWith(),
                "generation" => new GenerationStmt(SkipTag(() => ParseStatements(["endgeneration"], true)), t.Pos),
                "break" or "continue" => ParseLoopControl(t),
                _ when UnsupportedTags.Contains(t.Text) => throw TokenStream.Fail(t, $"'{t.Text}' tags are not supported by this renderer"),
                _ => throw TokenStream.Fail(t, endTags.Length > 0
                    ? $"unknown tag '{t.Text}' (looking for {Quote(endTags)} to close '{_openTags.Skip(1).FirstOrDefault()}')"
                    : $"unknown tag '{t.Text}'"),
            };
        }
        finally
        {
            _openTags.Pop();
        }
    }

    private T SkipTag<T>(Func<T> parse)
    {
        Stream.Next();
        return parse();
    }

    private List<FilterExpr> ParseFilterListInline() => ParseFilterList(startInline: true);

    private Stmt ParseLoopControl(Token t)
    {
        Stream.Next();
        if (_loopDepth == 0) throw TokenStream.Fail(t, $"'{t.Text}' outside loop");
        return t.Text == "break" ? new BreakStmt(t.Pos) : new ContinueStmt(t.Pos);
    }

    private Stmt ParseFor()
    {
        SourcePos pos = Stream.Next().Pos;
        AssignTarget target = ParseAssignTarget(["in"]);
        if (!Stream.SkipName("in")) throw TokenStream.Fail(Stream.Current, $"expected 'in' in for loop, got {Stream.Current.Describe()}");
        Expr iterable = ParseTuple(withCondExpr: false, extraEnd: ["recursive"]);
        Expr? filter = Stream.SkipName("if") ? ParseExpression() : null;
        if (Stream.Current.IsName("recursive")) throw TokenStream.Fail(Stream.Current, "recursive for loops are not supported by this renderer");
        _loopDepth++;
        List<Stmt> body = ParseStatements(["endfor", "else"]);
        _loopDepth--;
        List<Stmt> otherwise = Stream.Next().Text == "endfor" ? [] : ParseStatements(["endfor"], true);
        return new ForStmt(target, iterable, filter, body, otherwise, pos);
    }

    private Stmt ParseIf()
    {
        SourcePos pos = Stream.Next().Pos;
        var branches = new List<(Expr, IReadOnlyList<Stmt>)>();
        Expr test = ParseTuple(withCondExpr: false);
        branches.Add((test, ParseStatements(["elif", "else", "endif"])));
        while (true)
        {
            string tag = Stream.Next().Text;
            if (tag == "elif")
            {
                test = ParseTuple(withCondExpr: false);
                branches.Add((test, ParseStatements(["elif", "else", "endif"])));
                continue;
            }
            List<Stmt> otherwise = tag == "else" ? ParseStatements(["endif"], true) : [];
            return new IfStmt(branches, otherwise, pos);
        }
    }

    private Stmt ParseSet()
    {
        SourcePos pos = Stream.Next().Pos;
        AssignTarget target = ParseAssignTarget(withNamespace: true);
        if (Stream.SkipOp("=")) return new SetStmt(target, ParseTuple(), pos);
        List<FilterExpr> filters = ParseFilterList(startInline: false);
        return new SetBlockStmt(target, filters, ParseStatements(["endset"], true), pos);
    }

    private Stmt ParseMacro()
    {
        SourcePos pos = Stream.Next().Pos;
        string name = ParseAssignTarget(nameOnly: true) is NameTarget n ? n.Name : "";
        Stream.ExpectOp("(");
        var parameters = new List<MacroParam>();
        while (!Stream.Current.IsOp(")"))
        {
            if (parameters.Count > 0) Stream.ExpectOp(",");
            var p = (NameTarget)ParseAssignTarget(nameOnly: true);
            Expr? defaultValue = Stream.SkipOp("=") ? ParseExpression() : null;
            if (defaultValue is null && parameters.Any(x => x.Default is not null))
            {
                throw TokenStream.Fail(Stream.Current, "non-default argument follows default argument");
            }
            parameters.Add(new MacroParam(p.Name, defaultValue));
        }
        Stream.ExpectOp(")");
        int savedDepth = _loopDepth;
        _loopDepth = 0;
        MacroNames.Push([]);
        List<Stmt> body = ParseStatements(["endmacro"], true);
        HashSet<string> used = MacroNames.Pop();
        _loopDepth = savedDepth;
        return new MacroStmt(name, parameters, body, used.Contains("varargs"), used.Contains("kwargs"), pos);
    }

    private Stmt ParseWith()
    {
        SourcePos pos = Stream.Next().Pos;
        var assignments = new List<(AssignTarget, Expr)>();
        while (Stream.Current.Kind != TokenKind.BlockEnd)
        {
            if (assignments.Count > 0) Stream.ExpectOp(",");
            AssignTarget target = ParseAssignTarget();
            Stream.ExpectOp("=");
            assignments.Add((target, ParseExpression()));
        }
        return new WithStmt(assignments, ParseStatements(["endwith"], true), pos);
    }

    private AssignTarget ParseAssignTarget(string[]? extraEnd = null, bool withNamespace = false, bool nameOnly = false)
    {
        Token t = Stream.Current;
        if (withNamespace && t.Kind == TokenKind.Name && Stream.Look.IsOp("."))
        {
            Stream.Next();
            Stream.Next();
            return new NamespaceTarget(t.Text, Stream.ExpectName().Text, t.Pos);
        }
        if (nameOnly)
        {
            Token name = Stream.ExpectName();
            if (name.Text is "true" or "false" or "none" or "True" or "False" or "None") throw TokenStream.Fail(name, "can't assign to a constant");
            return new NameTarget(name.Text, name.Pos);
        }
        return ToTarget(ParseTuple(simplified: true, extraEnd: extraEnd), t);
    }

    private static AssignTarget ToTarget(Expr expr, Token at) => expr switch
    {
        NameExpr n => new NameTarget(n.Name, n.Pos),
        TupleExpr t => new TupleTarget([.. t.Items.Select(i => ToTarget(i, at))], t.Pos),
        ConstExpr => throw TokenStream.Fail(at, "can't assign to a constant"),
        _ => throw TokenStream.Fail(at, $"can't assign to '{expr.GetType().Name.Replace("Expr", "").ToLowerInvariant()}'"),
    };
}
