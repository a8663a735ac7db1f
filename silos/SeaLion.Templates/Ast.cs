namespace SeaLion.Templates;

// Expression nodes. Every node keeps the position of the token that starts it so runtime errors
// can name line:column.

internal abstract record Expr(SourcePos Pos);

internal sealed record ConstExpr(object? Value, SourcePos Pos) : Expr(Pos);

internal sealed record NameExpr(string Name, SourcePos Pos) : Expr(Pos);

/// <summary>x.attr: attribute first, then item (jinja2's getattr).</summary>
internal sealed record GetAttrExpr(Expr Target, string Attr, SourcePos Pos) : Expr(Pos);

/// <summary>x[key]: item first, then attribute for string keys (jinja2's getitem).</summary>
internal sealed record GetItemExpr(Expr Target, Expr Key, SourcePos Pos) : Expr(Pos);

/// <summary>start:stop:step inside a subscript; each part may be missing.</summary>
internal sealed record SliceExpr(Expr? Start, Expr? Stop, Expr? Step, SourcePos Pos) : Expr(Pos);

internal sealed record ListExpr(IReadOnlyList<Expr> Items, SourcePos Pos) : Expr(Pos);

internal sealed record TupleExpr(IReadOnlyList<Expr> Items, SourcePos Pos) : Expr(Pos);

internal sealed record DictExpr(IReadOnlyList<(Expr Key, Expr Value)> Items, SourcePos Pos) : Expr(Pos);

/// <summary>Arithmetic: + - * / // % **.</summary>
internal sealed record BinaryExpr(string Op, Expr Left, Expr Right, SourcePos Pos) : Expr(Pos);

/// <summary>Unary - + and not.</summary>
internal sealed record UnaryExpr(string Op, Expr Operand, SourcePos Pos) : Expr(Pos);

/// <summary>"and" / "or" with Python semantics: the deciding operand is the result.</summary>
internal sealed record LogicalExpr(string Op, Expr Left, Expr Right, SourcePos Pos) : Expr(Pos);

/// <summary>a ~ b ~ c: str() of each part, concatenated.</summary>
internal sealed record ConcatExpr(IReadOnlyList<Expr> Parts, SourcePos Pos) : Expr(Pos);

/// <summary>A comparison chain (a &lt; b &lt;= c); ops are == != &lt; &lt;= &gt; &gt;= in notin.</summary>
internal sealed record CompareExpr(Expr First, IReadOnlyList<(string Op, Expr Operand)> Rest, SourcePos Pos) : Expr(Pos);

/// <summary>then if test else otherwise; a missing else yields Undefined.</summary>
internal sealed record CondExpr(Expr Test, Expr Then, Expr? Else, SourcePos Pos) : Expr(Pos);

internal sealed record Arguments(IReadOnlyList<Expr> Positional, IReadOnlyList<(string Name, Expr Value)> Keywords)
{
    public static readonly Arguments None = new([], []);
}

/// <summary>value | name(args). Target is null for the filters of a filter block or set block.</summary>
internal sealed record FilterExpr(Expr? Target, string Name, Arguments Args, SourcePos Pos) : Expr(Pos);

/// <summary>value is name(args); "is not" wraps it in a not.</summary>
internal sealed record TestExpr(Expr Target, string Name, Arguments Args, SourcePos Pos) : Expr(Pos);

internal sealed record CallExpr(Expr Callee, Arguments Args, SourcePos Pos) : Expr(Pos);
