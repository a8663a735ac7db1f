namespace SeaLion.Templates;

// Statement nodes produced by the parser and executed by the renderer.

internal abstract record Stmt(SourcePos Pos);

internal sealed record DataStmt(string Text, SourcePos Pos) : Stmt(Pos);

internal sealed record OutputStmt(Expr Value, SourcePos Pos) : Stmt(Pos);

internal sealed record IfStmt(IReadOnlyList<(Expr Test, IReadOnlyList<Stmt> Body)> Branches, IReadOnlyList<Stmt> Else, SourcePos Pos) : Stmt(Pos);

internal sealed record ForStmt(AssignTarget Target, Expr Iterable, Expr? Filter, IReadOnlyList<Stmt> Body, IReadOnlyList<Stmt> Else, SourcePos Pos)
    : Stmt(Pos);

internal sealed record SetStmt(AssignTarget Target, Expr Value, SourcePos Pos) : Stmt(Pos);

/// <summary>{% set x | filters %}body{% endset %}: the rendered body, filtered, is assigned.</summary>
internal sealed record SetBlockStmt(AssignTarget Target, IReadOnlyList<FilterExpr> Filters, IReadOnlyList<Stmt> Body, SourcePos Pos)
    : Stmt(Pos);

internal sealed record MacroParam(string Name, Expr? Default);

/// <summary>A macro; the Uses* flags say whether the body reads varargs/kwargs, which then accept extra arguments.</summary>
internal sealed record MacroStmt(string Name, IReadOnlyList<MacroParam> Params, IReadOnlyList<Stmt> Body, bool UsesVarargs, bool UsesKwargs,
    SourcePos Pos) : Stmt(Pos);

internal sealed record FilterBlockStmt(IReadOnlyList<FilterExpr> Filters, IReadOnlyList<Stmt> Body, SourcePos Pos) : Stmt(Pos);

internal sealed record WithStmt(IReadOnlyList<(AssignTarget Target, Expr Value)> Assignments, IReadOnlyList<Stmt> Body, SourcePos Pos)
    : Stmt(Pos);

/// <summary>{% generation %}: transformers' assistant-mask marker; the body renders unchanged.</summary>
internal sealed record GenerationStmt(IReadOnlyList<Stmt> Body, SourcePos Pos) : Stmt(Pos);

internal sealed record BreakStmt(SourcePos Pos) : Stmt(Pos);

internal sealed record ContinueStmt(SourcePos Pos) : Stmt(Pos);

// Assignment targets of set/for/with.

internal abstract record AssignTarget(SourcePos Pos);

internal sealed record NameTarget(string Name, SourcePos Pos) : AssignTarget(Pos);

internal sealed record TupleTarget(IReadOnlyList<AssignTarget> Items, SourcePos Pos) : AssignTarget(Pos);

/// <summary>ns.attr: only valid when ns is a namespace() object.</summary>
internal sealed record NamespaceTarget(string Namespace, string Attr, SourcePos Pos) : AssignTarget(Pos);
