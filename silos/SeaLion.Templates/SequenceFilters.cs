namespace SeaLion.Templates;

/// <summary>
/// Filters over iterables. Like jinja2, map/select/reject/selectattr/rejectattr/unique/batch/slice,
/// items and reverse return one-shot iterators (truthy, no length) rather than lists.
/// </summary>
internal static partial class Filters
{
    private static void AddSequenceFilters(Dictionary<string, FilterFn> t)
    {
        t["length"] = (_, v, a) => NoArgs("length", a, PyOps.Length(v));
        t["count"] = (_, v, a) => NoArgs("count", a, PyOps.Length(v));
        t["first"] = (_, v, a) => NoArgs("first", a, First(v));
        t["last"] = (_, v, a) => NoArgs("last", a, Last(v));
        t["list"] = (_, v, a) => NoArgs("list", a, PyOps.ToList(v));
        t["items"] = (_, v, a) => NoArgs("items", a, v switch
        {
            Undefined => new PyIterator([]),
            PyDict d => new PyIterator(d.Select(kv => (object?)new object?[] { kv.Key, kv.Value })),
            _ => throw new PyError("Can only get item pairs from a mapping."),
        });
        t["join"] = (_, v, a) => Join(v, Bind("join", a, ("d", ""), ("attribute", null)));
        t["reverse"] = (_, v, a) => NoArgs("reverse", a, Reverse(v));
        t["sort"] = (_, v, a) => Sort(v, Bind("sort", a, ("reverse", false), ("case_sensitive", false), ("attribute", null)));
        t["dictsort"] = (_, v, a) => DictSort(v, Bind("dictsort", a, ("case_sensitive", false), ("by", "key"), ("reverse", false)));
        t["unique"] = (_, v, a) => Unique(v, Bind("unique", a, ("case_sensitive", false), ("attribute", null)));
        t["min"] = (_, v, a) => MinMax(v, Bind("min", a, ("case_sensitive", false), ("attribute", null)), max: false);
        t["max"] = (_, v, a) => MinMax(v, Bind("max", a, ("case_sensitive", false), ("attribute", null)), max: true);
        t["sum"] = (_, v, a) => Sum(v, Bind("sum", a, ("attribute", null), ("start", 0L)));
        t["map"] = Map;
        t["select"] = (r, v, a) => SelectOrReject(r, v, a, select: true, lookupAttr: false);
        t["reject"] = (r, v, a) => SelectOrReject(r, v, a, select: false, lookupAttr: false);
        t["selectattr"] = (r, v, a) => SelectOrReject(r, v, a, select: true, lookupAttr: true);
        t["rejectattr"] = (r, v, a) => SelectOrReject(r, v, a, select: false, lookupAttr: true);
        t["batch"] = (_, v, a) => Batch(v, Bind("batch", a, ("linecount", Signature.Required), ("fill_with", null)));
        t["slice"] = (_, v, a) => SliceInto(v, Bind("slice", a, ("slices", Signature.Required), ("fill_with", null)));
    }

    private static object? First(object? v)
    {
        foreach (object? x in PyOps.Iterate(v)) return x;
        return Undefined.Hint("No first item, sequence was empty.");
    }

    private static object? Last(object? v)
    {
        if (v is PyIterator it) throw new PyError($"'{it.TypeName}' object is not reversible");
        List<object?> items = PyOps.ToList(v);
        return items.Count > 0 ? items[^1] : Undefined.Hint("No last item, sequence was empty.");
    }

    private static object? Reverse(object? v)
    {
        switch (v)
        {
            case string s:
                return PyString.FromCodePoints(PyString.CodePoints(s).Reverse());
            case PyIterator it:
                List<object?> items = [.. it.Drain()];
                items.Reverse();
                return items;
            case Undefined or List<object?> or object?[] or PyDict or DictView:
                List<object?> all = PyOps.ToList(v);
                all.Reverse();
                return new PyIterator(all, v is List<object?> ? "list_reverseiterator" : "reversed");
            default:
                throw new PyError("argument must be iterable");
        }
    }

    /// <summary>jinja2's make_attrgetter: dotted path, digit parts index sequences, each step via getitem.</summary>
    private static Func<object?, object?> AttrGetter(object? attribute, bool lowerStrings = false, object? fallback = null)
    {
        object?[] parts = attribute switch
        {
            null => [],
            string s => [.. s.Split('.').Select(p => p.Length > 0 && p.All(char.IsAsciiDigit) ? (object?)long.Parse(p) : p)],
            _ => [attribute],
        };
        return item =>
        {
            foreach (object? part in parts)
            {
                item = ObjectModel.GetItem(item, part);
                if (fallback is not null && item is Undefined) item = fallback;
            }
            return lowerStrings && item is string str ? PyString.Lower(str) : item;
        };
    }

    private static string Join(object? v, object?[] p)
    {
        IEnumerable<object?> items = PyOps.Iterate(v);
        if (p[1] is not null) items = items.Select(AttrGetter(p[1]));
        var sb = new System.Text.StringBuilder();
        string sep = PyFormat.Str(p[0]);
        bool first = true;
        foreach (object? item in items)
        {
            if (!first) sb.Append(sep);
            first = false;
            sb.Append(PyFormat.Str(item));
            RenderBudget.CheckLength(sb.Length);
        }
        return sb.ToString();
    }

    private static List<object?> Sort(object? v, object?[] p)
    {
        bool lower = !PyOps.Truthy(p[1]);
        Func<object?, object?>[] getters = p[2] is string s
            ? [.. s.Split(',').Select(part => AttrGetter(part, lower))]
            : [AttrGetter(p[2], lower)];
        var keyed = PyOps.Iterate(v).Select(item => (Key: (object?)getters.Select(g => g(item)).ToList(), Item: item)).ToList();
        return [.. StableSort(keyed, PyOps.Truthy(p[0])).Select(x => x.Item)];
    }

    /// <summary>Merge sort on keys (Python's sort is stable; reverse keeps equal items in input order).</summary>
    private static List<(object? Key, object? Item)> StableSort(List<(object? Key, object? Item)> items, bool reverse)
    {
        if (items.Count <= 1) return items;
        int mid = items.Count / 2;
        List<(object?, object?)> left = StableSort(items[..mid], reverse), right = StableSort(items[mid..], reverse);
        var merged = new List<(object?, object?)>(items.Count);
        int i = 0, j = 0;
        while (i < left.Count && j < right.Count)
        {
            // Take from the right only when it is strictly smaller (strictly larger when reversed).
            bool takeRight = reverse ? PyOps.Ordered("<", left[i].Item1, right[j].Item1) : PyOps.Ordered("<", right[j].Item1, left[i].Item1);
            merged.Add(takeRight ? right[j++] : left[i++]);
        }
        merged.AddRange(left.Skip(i));
        merged.AddRange(right.Skip(j));
        return merged;
    }

    private static List<object?> DictSort(object? v, object?[] p)
    {
        if (v is not PyDict d) throw new PyError($"'{PyOps.TypeName(v)}' object has no attribute 'items'");
        int pos = p[1] switch
        {
            "key" => 0,
            "value" => 1,
            _ => throw new PyError("You can only sort by either \"key\" or \"value\""),
        };
        bool lower = !PyOps.Truthy(p[0]);
        var keyed = d.Select(kv =>
        {
            object? key = pos == 0 ? kv.Key : kv.Value;
            return (Key: lower && key is string s ? PyString.Lower(s) : key, Item: (object?)new object?[] { kv.Key, kv.Value });
        }).ToList();
        return [.. StableSort(keyed, PyOps.Truthy(p[2])).Select(x => x.Item)];
    }

    // Stands in for None in the seen-set (dict keys cannot be null in .NET).
    private static readonly object NoneKey = new();

    private static PyIterator Unique(object? v, object?[] p)
    {
        Func<object?, object?> key = AttrGetter(p[1], lowerStrings: !PyOps.Truthy(p[0]));
        IEnumerable<object?> Run()
        {
            var seen = new PyDict();
            foreach (object? item in PyOps.Iterate(v))
            {
                object k = key(item) ?? NoneKey;
                if (seen.TryAdd(k, null)) yield return item;
            }
        }
        return new PyIterator(Run());
    }

    private static object? MinMax(object? v, object?[] p, bool max)
    {
        Func<object?, object?> key = AttrGetter(p[1], lowerStrings: !PyOps.Truthy(p[0]));
        bool any = false;
        object? best = null, bestKey = null;
        foreach (object? item in PyOps.Iterate(v))
        {
            object? k = key(item);
            if (!any || PyOps.Ordered(max ? ">" : "<", k, bestKey))
            {
                best = item;
                bestKey = k;
                any = true;
            }
        }
        return any ? best : Undefined.Hint("No aggregated item, sequence was empty.");
    }

    private static object? Sum(object? v, object?[] p)
    {
        IEnumerable<object?> items = PyOps.Iterate(v);
        if (p[0] is not null) items = items.Select(AttrGetter(p[0]));
        object? total = p[1];
        foreach (object? item in items) total = PyArithmetic.Binary("+", total, item);
        return total;
    }

    private static object? Map(Renderer r, object? v, CallArgs a)
    {
        Func<object?, object?> func;
        if (a.Positional.Count == 0 && a.Keywords.Any(k => k.Key == "attribute"))
        {
            var extra = a.Keywords.FirstOrDefault(k => k.Key is not "attribute" and not "default");
            if (extra.Key is not null) throw new PyError($"Unexpected keyword argument '{extra.Key}'");
            func = AttrGetter(a.Keywords.First(k => k.Key == "attribute").Value, fallback: a.Keywords.FirstOrDefault(k => k.Key == "default").Value);
        }
        else
        {
            if (a.Positional.Count == 0) throw new PyError("map requires a filter argument");
            string name = PyFormat.Str(a.Positional[0]);
            CallArgs rest = a.Skip(1);
            func = item => Apply(r, name, item, rest);
        }
        return new PyIterator(PyOps.Truthy(v) ? PyOps.Iterate(v).Select(func) : []);
    }

    private static PyIterator SelectOrReject(Renderer r, object? v, CallArgs a, bool select, bool lookupAttr)
    {
        Func<object?, object?> transform = item => item;
        int offset = 0;
        if (lookupAttr)
        {
            if (a.Positional.Count == 0) throw new PyError("Missing parameter for attribute name");
            transform = AttrGetter(a.Positional[0]);
            offset = 1;
        }
        Func<object?, bool> test = PyOps.Truthy;
        if (a.Positional.Count > offset)
        {
            string name = PyFormat.Str(a.Positional[offset]);
            CallArgs rest = a.Skip(offset + 1);
            test = item => TestFunctions.Run(name, item, rest);
        }
        return new PyIterator(PyOps.Truthy(v) ? PyOps.Iterate(v).Where(item => test(transform(item)) == select) : []);
    }

    private static PyIterator Batch(object? v, object?[] p)
    {
        long size = Int(p[0]);
        IEnumerable<object?> Run()
        {
            var current = new List<object?>();
            foreach (object? item in PyOps.Iterate(v))
            {
                if (current.Count == size)
                {
                    yield return current;
                    current = [];
                }
                current.Add(item);
            }
            if (current.Count == 0) yield break;
            if (p[1] is not null) while (current.Count < size) current.Add(p[1]);
            yield return current;
        }
        return new PyIterator(Run());
    }

    private static PyIterator SliceInto(object? v, object?[] p)
    {
        long slices = Int(p[0]);
        if (slices == 0) throw new PyError("integer division or modulo by zero");
        List<object?> seq = slices < 0 ? [] : PyOps.ToList(v);
        slices = Math.Max(slices, 0);
        IEnumerable<object?> Run()
        {
            long perSlice = slices == 0 ? 0 : seq.Count / slices, withExtra = slices == 0 ? 0 : seq.Count % slices, offset = 0;
            for (long n = 0; n < slices; n++)
            {
                long start = offset + n * perSlice;
                if (n < withExtra) offset++;
                long end = offset + (n + 1) * perSlice;
                List<object?> part = seq.GetRange((int)start, (int)(end - start));
                if (p[1] is not null && n >= withExtra) part.Add(p[1]);
                yield return part;
            }
        }
        return new PyIterator(Run());
    }
}
