using System.Runtime.CompilerServices;

namespace SeaLion.Templates;

// Runtime values mirror Python: string, long (int), double (float), bool, null (None),
// List<object?> (list), object?[] (tuple), PyDict (dict), plus the jinja2 types below.

/// <summary>
/// jinja2's default Undefined: renders as "", is falsy, iterates as empty and has length 0;
/// any other use (arithmetic, attribute access, calls, ordering) fails with its message.
/// </summary>
internal sealed class Undefined
{
    private readonly string _message;

    private Undefined(string message) => _message = message;

    public static Undefined Named(string name) => new($"'{name}' is undefined");

    public static Undefined Hint(string hint) => new(hint);

    /// <summary>A missing attribute or item of <paramref name="obj"/>, worded as jinja2 words it.</summary>
    public static Undefined Member(object? obj, object? key) => key is string s
        ? new($"'{PyOps.TypeName(obj)} object' has no attribute '{s}'")
        : new($"{PyOps.TypeName(obj)} object has no element {PyFormat.Repr(key)}");

    /// <summary>An attribute the immutable sandbox refuses (list.append, dict.update, ...).</summary>
    public static Undefined Unsafe(object? obj, string attr) =>
        new($"access to attribute '{attr}' of '{PyOps.TypeName(obj)}' object is unsafe (the sandbox forbids it)");

    public string Message => _message;

    public PyError Fail() => new(_message);
}

/// <summary>A dict: insertion-ordered, keys compared with Python equality (1 == 1.0 == True).</summary>
internal sealed class PyDict() : OrderedDictionary<object, object?>(PyKeyComparer.Instance)
{
    public static object Key(object? key) => key ?? throw new PyError("None as a dict key is not supported");
}

internal sealed class PyKeyComparer : IEqualityComparer<object>
{
    public static readonly PyKeyComparer Instance = new();

    public new bool Equals(object? x, object? y) => PyOps.Equal(x, y);

    public int GetHashCode(object obj) => obj switch
    {
        string s => s.GetHashCode(),
        bool b => (b ? 1L : 0L).GetHashCode(),
        long l => l.GetHashCode(),
        double d => d == Math.Floor(d) && Math.Abs(d) < 9.2e18 ? ((long)d).GetHashCode() : d.GetHashCode(),
        object?[] t => t.Aggregate(17, (h, item) => h * 31 + (item is null ? 0 : GetHashCode(item))),
        Undefined => 7,
        List<object?> or PyDict or DictView => throw new PyError($"unhashable type: '{PyOps.TypeName(obj)}'"),
        _ => RuntimeHelpers.GetHashCode(obj),
    };
}

/// <summary>jinja2's namespace(): the one mutable object, assigned with {% set ns.attr = ... %}.</summary>
internal sealed class Namespace
{
    public PyDict Attributes { get; } = new();
}

/// <summary>
/// A one-shot Python iterator (generator, reversed(), map/select results): truthy, no length,
/// and exhausted after it has been consumed once.
/// </summary>
internal sealed class PyIterator(IEnumerable<object?> source, string typeName = "generator")
{
    private readonly IEnumerator<object?> _items = source.GetEnumerator();

    public string TypeName { get; } = typeName;

    public IEnumerable<object?> Drain()
    {
        while (_items.MoveNext()) yield return _items.Current;
    }
}

/// <summary>dict.items()/keys()/values(): sized and iterable, rendered like Python's views.</summary>
internal sealed record DictView(string Kind, IReadOnlyList<object?> Items);

/// <summary>A built-in callable: a global function or a bound method of a value.</summary>
internal sealed record PyFunction(string Name, Func<CallArgs, object?> Invoke);

/// <summary>The loop variable of one iteration; attributes are computed on access.</summary>
internal sealed record LoopInfo(IReadOnlyList<object?> Items, int Index0);
