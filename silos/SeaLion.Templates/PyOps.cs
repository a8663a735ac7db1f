using System.Runtime.CompilerServices;

namespace SeaLion.Templates;

/// <summary>Python truthiness, equality, ordering, membership, iteration and len() over runtime values.</summary>
internal static class PyOps
{
    public static string TypeName(object? v) => v switch
    {
        null => "NoneType",
        string => "str",
        bool => "bool",
        long => "int",
        double => "float",
        List<object?> => "list",
        object?[] => "tuple",
        PyDict => "dict",
        Undefined => "Undefined",
        Namespace => "Namespace",
        PyIterator it => it.TypeName,
        DictView view => view.Kind,
        PyFunction => "builtin_function_or_method",
        MacroValue => "Macro",
        LoopInfo => "LoopContext",
        _ => v.GetType().Name,
    };

    public static bool Truthy(object? v) => v switch
    {
        null => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> list => list.Count > 0,
        object?[] tuple => tuple.Length > 0,
        PyDict dict => dict.Count > 0,
        DictView view => view.Items.Count > 0,
        Undefined => false,
        _ => true,
    };

    public static bool IsNumber(object? v) => v is long or double or bool;

    /// <summary>The integer value of an int or bool (Python's __index__), or null.</summary>
    public static long? AsIndex(object? v) => v switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        _ => null,
    };

    public static double ToDouble(object? v) => v switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        double d => d,
        _ => throw new PyError($"expected a number, got '{TypeName(v)}'"),
    };

    public static bool Equal(object? a, object? b)
    {
        RuntimeHelpers.EnsureSufficientExecutionStack();
        if (a is Undefined || b is Undefined) return a is Undefined && b is Undefined;
        if (IsNumber(a) && IsNumber(b))
        {
            return AsIndex(a) is long x && AsIndex(b) is long y ? x == y : ToDouble(a) == ToDouble(b);
        }
        return (a, b) switch
        {
            (null, null) => true,
            (string x, string y) => string.Equals(x, y, StringComparison.Ordinal),
            (List<object?> x, List<object?> y) => SequenceEqual(x, y),
            (object?[] x, object?[] y) => SequenceEqual(x, y),
            (PyDict x, PyDict y) => x.Count == y.Count && x.All(kv => y.TryGetValue(kv.Key, out object? v) && Equal(kv.Value, v)),
            _ => ReferenceEquals(a, b),
        };
    }

    private static bool SequenceEqual(IReadOnlyList<object?> x, IReadOnlyList<object?> y)
    {
        if (x.Count != y.Count) return false;
        for (int i = 0; i < x.Count; i++)
        {
            if (!Equal(x[i], y[i])) return false;
        }
        return true;
    }

    /// <summary>Evaluates &lt;, &lt;=, &gt; or &gt;= with Python's rules; unorderable types raise TypeError.</summary>
    public static bool Ordered(string op, object? a, object? b)
    {
        if (a is Undefined ua) throw ua.Fail();
        if (b is Undefined ub) throw ub.Fail();
        if (IsNumber(a) && IsNumber(b) && !(AsIndex(a) is not null && AsIndex(b) is not null))
        {
            double x = ToDouble(a), y = ToDouble(b);
            return op switch { "<" => x < y, "<=" => x <= y, ">" => x > y, _ => x >= y };
        }
        int c = Compare(a, b, op);
        return op switch { "<" => c < 0, "<=" => c <= 0, ">" => c > 0, _ => c >= 0 };
    }

    /// <summary>Three-way comparison used by ordering and sorting.</summary>
    public static int Compare(object? a, object? b, string op = "<")
    {
        RuntimeHelpers.EnsureSufficientExecutionStack();
        if (a is Undefined ua) throw ua.Fail();
        if (b is Undefined ub) throw ub.Fail();
        if (AsIndex(a) is long x && AsIndex(b) is long y) return x.CompareTo(y);
        if (IsNumber(a) && IsNumber(b)) return ToDouble(a).CompareTo(ToDouble(b));
        return (a, b) switch
        {
            (string x2, string y2) => PyString.CompareCodePoints(x2, y2),
            (List<object?> x2, List<object?> y2) => CompareSequences(x2, y2, op),
            (object?[] x2, object?[] y2) => CompareSequences(x2, y2, op),
            _ => throw new PyError($"'{op}' not supported between instances of '{TypeName(a)}' and '{TypeName(b)}'"),
        };
    }

    private static int CompareSequences(IReadOnlyList<object?> x, IReadOnlyList<object?> y, string op)
    {
        for (int i = 0; i < Math.Min(x.Count, y.Count); i++)
        {
            if (!Equal(x[i], y[i])) return Compare(x[i], y[i], op);
        }
        return x.Count.CompareTo(y.Count);
    }

    /// <summary>Python's "item in container".</summary>
    public static bool Contains(object? container, object? item)
    {
        switch (container)
        {
            case string s:
                if (item is not string sub) throw new PyError($"'in <string>' requires string as left operand, not {TypeName(item)}");
                return s.Contains(sub, StringComparison.Ordinal);
            case PyDict dict:
                return item is not null && dict.ContainsKey(item);
            case Undefined:
                return false;
            case List<object?> or object?[] or DictView or PyIterator:
                foreach (object? x in Iterate(container))
                {
                    if (Equal(x, item)) return true;
                }
                return false;
            default:
                throw new PyError($"argument of type '{TypeName(container)}' is not iterable");
        }
    }

    /// <summary>Python's iter(): strings yield code points, dicts yield keys, Undefined yields nothing.</summary>
    public static IEnumerable<object?> Iterate(object? v) => v switch
    {
        string s => PyString.CodePoints(s).Select(cp => (object?)PyString.CodePointString(cp)),
        List<object?> list => list,
        object?[] tuple => tuple,
        PyDict dict => dict.Keys,
        DictView view => view.Items,
        PyIterator it => it.Drain(),
        Undefined => [],
        _ => throw new PyError($"'{TypeName(v)}' object is not iterable"),
    };

    public static List<object?> ToList(object? v) => [.. Iterate(v)];

    public static long Length(object? v) => v switch
    {
        string s => PyString.Length(s),
        List<object?> list => list.Count,
        object?[] tuple => tuple.Length,
        PyDict dict => dict.Count,
        DictView view => view.Items.Count,
        LoopInfo loop => loop.Items.Count,
        Undefined => 0,
        _ => throw new PyError($"object of type '{TypeName(v)}' has no len()"),
    };
}
