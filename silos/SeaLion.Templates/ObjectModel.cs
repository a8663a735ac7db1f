namespace SeaLion.Templates;

/// <summary>
/// Attribute and item access as jinja2's ImmutableSandboxedEnvironment does it: x.name tries the
/// attribute (methods) and then the item; x[key] tries the item and then, for string keys, the
/// attribute. Misses give Undefined; mutating methods give an Undefined that fails when called.
/// </summary>
internal static class ObjectModel
{
    private static readonly HashSet<string> UnsafeDictMethods = ["clear", "pop", "popitem", "setdefault", "update"];
    private static readonly HashSet<string> UnsafeListMethods = ["append", "clear", "pop", "reverse", "insert", "sort", "extend", "remove"];

    // Marks "no such attribute", since an attribute may legitimately be None.
    private static readonly object Missing = new();

    public static object? GetAttr(object? obj, string name)
    {
        if (obj is Undefined u) throw u.Fail();
        object? attr = Attribute(obj, name);
        if (attr != Missing) return attr;
        return Item(obj, name, out object? value) ? value : Undefined.Member(obj, name);
    }

    public static object? GetItem(object? obj, object? key)
    {
        if (obj is Undefined u) throw u.Fail();
        if (Item(obj, key, out object? value)) return value;
        if (key is string name)
        {
            object? attr = Attribute(obj, name);
            if (attr != Missing) return attr;
        }
        return Undefined.Member(obj, key);
    }

    /// <summary>The attribute only, without the item fallback (the attr filter); Undefined when missing.</summary>
    public static object? AttributeOnly(object? obj, string name)
    {
        if (obj is Undefined u) throw u.Fail();
        object? attr = Attribute(obj, name);
        return attr != Missing ? attr : Undefined.Member(obj, name);
    }

    /// <summary>Python getattr(obj, name) for the supported types; <see cref="Missing"/> when there is none.</summary>
    private static object? Attribute(object? obj, string name) => obj switch
    {
        string s => StringMethods.Bind(s, name) ?? Missing,
        PyDict d => DictMethod(d, name),
        List<object?> l => UnsafeListMethods.Contains(name) ? Undefined.Unsafe(l, name) : SequenceMethod(l, name),
        object?[] t => SequenceMethod(t, name),
        Namespace ns => ns.Attributes.TryGetValue(name, out object? v) ? v : Missing,
        LoopInfo loop => LoopAttribute(loop, name),
        _ => Missing,
    };

    /// <summary>Python obj[key]; false when the key is missing or the object is not subscriptable.</summary>
    private static bool Item(object? obj, object? key, out object? value)
    {
        value = null;
        switch (obj)
        {
            case PyDict d:
                return key is not null and not List<object?> and not PyDict && d.TryGetValue(key, out value);
            case List<object?> or object?[]:
                var seq = (IReadOnlyList<object?>)obj;
                return PyOps.AsIndex(key) is long i && TryIndex(seq.Count, i, out int at) && Assign(seq[at], out value);
            case string s when PyOps.AsIndex(key) is long index:
                int[] cps = PyString.CodePoints(s);
                return TryIndex(cps.Length, index, out int cp) && Assign(PyString.CodePointString(cps[cp]), out value);
            default:
                return false;
        }
    }

    private static bool Assign(object? v, out object? value)
    {
        value = v;
        return true;
    }

    private static bool TryIndex(int count, long index, out int at)
    {
        long i = index < 0 ? index + count : index;
        at = (int)Math.Clamp(i, 0, int.MaxValue);
        return i >= 0 && i < count;
    }

    /// <summary>
    /// Python slicing of str, list and tuple. jinja2 compiles slices to a plain Python subscript
    /// (no getitem fallback), so slicing anything else raises.
    /// </summary>
    public static object? Slice(object? obj, object? start, object? stop, object? step)
    {
        if (obj is Undefined u) throw u.Fail();
        if (obj is PyDict) throw new PyError("unhashable type: 'slice'");
        if (obj is not (string or List<object?> or object?[])) throw new PyError($"'{PyOps.TypeName(obj)}' object is not subscriptable");
        long? Index(object? v) => v is null ? null
            : PyOps.AsIndex(v) ?? throw new PyError("slice indices must be integers or None or have an __index__ method");
        long? a = Index(start), b = Index(stop), c = Index(step);
        switch (obj)
        {
            case string s:
                int[] cps = PyString.CodePoints(s);
                return PyString.FromCodePoints(SliceIndices(cps.Length, a, b, c).Select(i => cps[i]));
            case List<object?> l:
                return SliceIndices(l.Count, a, b, c).Select(i => l[i]).ToList();
            default:
                var t = (object?[])obj;
                return SliceIndices(t.Length, a, b, c).Select(i => t[i]).ToArray();
        }
    }

    /// <summary>CPython's PySlice_AdjustIndices followed by the index walk.</summary>
    private static IEnumerable<int> SliceIndices(int length, long? start, long? stop, long? step)
    {
        long st = step ?? 1;
        if (st == 0) throw new PyError("slice step cannot be zero");
        long lower = st > 0 ? 0 : -1, upper = st > 0 ? length : length - 1;
        long Clamp(long? v, long whenMissing) => v is null ? whenMissing
            : v < 0 ? Math.Max(v.Value + length, lower) : Math.Min(v.Value, upper);
        long from = Clamp(start, st < 0 ? upper : lower);
        long to = Clamp(stop, st < 0 ? lower : upper);
        for (long i = from; st > 0 ? i < to : i > to; i += st) yield return (int)i;
    }

    private static object? DictMethod(PyDict d, string name) => name switch
    {
        "items" => new PyFunction("items", a => NoArgs("items", a, new DictView("dict_items", [.. d.Select(kv => (object?)new object?[] { kv.Key, kv.Value })]))),
        "keys" => new PyFunction("keys", a => NoArgs("keys", a, new DictView("dict_keys", [.. d.Keys]))),
        "values" => new PyFunction("values", a => NoArgs("values", a, new DictView("dict_values", [.. d.Values]))),
        "get" => new PyFunction("get", a =>
        {
            object?[] p = new Signature("get", ("key", Signature.Required), ("default", null)).Bind(a);
            return p[0] is not null and not List<object?> and not PyDict && d.TryGetValue(p[0]!, out object? v) ? v : p[1];
        }),
        "copy" => new PyFunction("copy", a => NoArgs("copy", a, Copy(d))),
        _ when UnsafeDictMethods.Contains(name) => Undefined.Unsafe(d, name),
        _ => Missing,
    };

    private static PyDict Copy(PyDict d)
    {
        var copy = new PyDict();
        foreach (var (k, v) in d) copy[k] = v;
        return copy;
    }

    private static object? NoArgs(string name, CallArgs args, object? result) =>
        args.Positional.Count + args.Keywords.Count == 0 ? result : throw new PyError($"{name}() takes no arguments");

    private static object? SequenceMethod(IReadOnlyList<object?> seq, string name) => name switch
    {
        "index" => new PyFunction("index", a =>
        {
            object? x = new Signature("index", ("value", Signature.Required)).Bind(a)[0];
            for (int i = 0; i < seq.Count; i++)
            {
                if (PyOps.Equal(seq[i], x)) return (long)i;
            }
            throw new PyError($"{PyFormat.Repr(x)} is not in {PyOps.TypeName(seq)}");
        }),
        "count" => new PyFunction("count", a =>
        {
            object? x = new Signature("count", ("value", Signature.Required)).Bind(a)[0];
            return (long)seq.Count(item => PyOps.Equal(item, x));
        }),
        "copy" when seq is List<object?> l => new PyFunction("copy", a => NoArgs("copy", a, new List<object?>(l))),
        _ => Missing,
    };

    private static object? LoopAttribute(LoopInfo loop, string name)
    {
        int i = loop.Index0, n = loop.Items.Count;
        return name switch
        {
            "index" => (long)(i + 1),
            "index0" => (long)i,
            "revindex" => (long)(n - i),
            "revindex0" => (long)(n - i - 1),
            "first" => i == 0,
            "last" => i == n - 1,
            "length" => (long)n,
            "depth" => 1L,
            "depth0" => 0L,
            "previtem" => i > 0 ? loop.Items[i - 1] : Undefined.Hint("there is no previous item"),
            "nextitem" => i < n - 1 ? loop.Items[i + 1] : Undefined.Hint("there is no next item"),
            "cycle" => new PyFunction("cycle", a => a.Positional.Count == 0
                ? throw new PyError("no items for cycling given")
                : a.Positional[i % a.Positional.Count]),
            "changed" => new PyFunction("changed", _ => throw new PyError("loop.changed() is not supported by this renderer")),
            _ => Missing,
        };
    }
}
