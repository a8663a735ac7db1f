namespace SeaLion.Templates;

internal delegate bool TestFn(object? value, CallArgs args);

/// <summary>jinja2's built-in tests ("x is defined", "n is divisibleby 3", "a is equalto b", ...).</summary>
internal static class TestFunctions
{
    // Declared before Table: static fields initialise in textual order.
    private static readonly TestFn Eq = (v, a) => PyOps.Equal(v, One(a, "other"));
    private static readonly TestFn Ne = (v, a) => !PyOps.Equal(v, One(a, "other"));
    private static readonly TestFn Gt = (v, a) => PyOps.Ordered(">", v, One(a, "other"));
    private static readonly TestFn Ge = (v, a) => PyOps.Ordered(">=", v, One(a, "other"));
    private static readonly TestFn Lt = (v, a) => PyOps.Ordered("<", v, One(a, "other"));
    private static readonly TestFn Le = (v, a) => PyOps.Ordered("<=", v, One(a, "other"));

    private static readonly Dictionary<string, TestFn> Table = new(StringComparer.Ordinal)
    {
        ["defined"] = (v, a) => NoArgs(a, v is not Undefined),
        ["undefined"] = (v, a) => NoArgs(a, v is Undefined),
        ["none"] = (v, a) => NoArgs(a, v is null),
        ["boolean"] = (v, a) => NoArgs(a, v is bool),
        ["true"] = (v, a) => NoArgs(a, v is true),
        ["false"] = (v, a) => NoArgs(a, v is false),
        ["integer"] = (v, a) => NoArgs(a, v is long),
        ["float"] = (v, a) => NoArgs(a, v is double),
        ["number"] = (v, a) => NoArgs(a, PyOps.IsNumber(v)),
        ["string"] = (v, a) => NoArgs(a, v is string),
        ["mapping"] = (v, a) => NoArgs(a, v is PyDict),
        ["iterable"] = (v, a) => NoArgs(a, v is string or List<object?> or object?[] or PyDict or DictView or PyIterator or Undefined or LoopInfo),
        ["sequence"] = (v, a) => NoArgs(a, v is string or List<object?> or object?[] or PyDict or Undefined),
        ["callable"] = (v, a) => NoArgs(a, v is PyFunction or MacroValue or Undefined or LoopInfo),
        ["lower"] = (v, a) => NoArgs(a, PyString.IsAllCase(PyFormat.Str(v), upper: false)),
        ["upper"] = (v, a) => NoArgs(a, PyString.IsAllCase(PyFormat.Str(v), upper: true)),
        ["escaped"] = (v, a) => NoArgs(a, false),
        ["odd"] = (v, a) => NoArgs(a, PyOps.Equal(PyArithmetic.Binary("%", v, 2L), 1L)),
        ["even"] = (v, a) => NoArgs(a, PyOps.Equal(PyArithmetic.Binary("%", v, 2L), 0L)),
        ["divisibleby"] = (v, a) => PyOps.Equal(PyArithmetic.Binary("%", v, One(a, "num")), 0L),
        ["in"] = (v, a) => PyOps.Contains(One(a, "seq"), v),
        ["sameas"] = (v, a) => SameAs(v, One(a, "other")),
        ["filter"] = (v, a) => NoArgs(a, v is string s && Filters.Exists(s)),
        ["test"] = (v, a) => NoArgs(a, v is string s && Exists(s)),
        ["=="] = Eq, ["eq"] = Eq, ["equalto"] = Eq,
        ["!="] = Ne, ["ne"] = Ne,
        [">"] = Gt, ["gt"] = Gt, ["greaterthan"] = Gt,
        [">="] = Ge, ["ge"] = Ge,
        ["<"] = Lt, ["lt"] = Lt, ["lessthan"] = Lt,
        ["<="] = Le, ["le"] = Le,
    };

    public static bool Exists(string name) => Table.ContainsKey(name);

    public static bool Run(string name, object? value, CallArgs args) =>
        Table.TryGetValue(name, out TestFn? test) ? test(value, args) : throw new PyError($"no test named '{name}'");

    private static bool NoArgs(CallArgs a, bool result) =>
        a.Positional.Count + a.Keywords.Count == 0 ? result : throw new PyError("this test takes no arguments");

    private static object? One(CallArgs a, string name) => new Signature("test", (name, Signature.Required)).Bind(a)[0];

    /// <summary>Python "is": None/True/False and small ints are singletons; other values compare by reference.</summary>
    private static bool SameAs(object? v, object? other) => (v, other) switch
    {
        (null, null) => true,
        (bool x, bool y) => x == y,
        (long x, long y) => x == y && x is >= -5 and <= 256,
        _ => v is not null && ReferenceEquals(v, other),
    };
}
