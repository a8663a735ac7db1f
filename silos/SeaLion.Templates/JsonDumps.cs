using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;

namespace SeaLion.Templates;

/// <summary>
/// transformers' tojson filter: json.dumps(x, ensure_ascii=False, indent=indent,
/// separators=separators, sort_keys=sort_keys). Separators default to ", " and ": ", or ","
/// and ": " when indent is given; floats print as Python's repr; non-JSON values raise.
/// </summary>
internal static class JsonDumps
{
    private sealed record Options(bool EnsureAscii, string? Indent, string ItemSeparator, string KeySeparator, bool SortKeys);

    public static string ToJson(object? value, object?[] p)
    {
        string? indent = p[1] switch
        {
            null => null,
            string s => s,
            _ when PyOps.AsIndex(p[1]) is long n => new string(' ', (int)Math.Clamp(n, 0, 1024)),
            _ => throw new PyError($"tojson indent must be an int or a string, not {PyOps.TypeName(p[1])}"),
        };
        string itemSep = indent is null ? ", " : ",", keySep = ": ";
        if (p[2] is not null)
        {
            List<object?> seps = PyOps.ToList(p[2]);
            if (seps.Count != 2 || seps[0] is not string a || seps[1] is not string b)
            {
                throw new PyError("tojson separators must be a pair of strings (item_separator, key_separator)");
            }
            (itemSep, keySep) = (a, b);
        }
        var sb = new StringBuilder();
        Encode(sb, value, new Options(PyOps.Truthy(p[0]), indent, itemSep, keySep, PyOps.Truthy(p[3])), 0);
        return sb.ToString();
    }

    private static void Encode(StringBuilder sb, object? v, Options o, int level)
    {
        RuntimeHelpers.EnsureSufficientExecutionStack();
        RenderBudget.CheckLength(sb.Length);
        switch (v)
        {
            case null: sb.Append("null"); break;
            case bool b: sb.Append(b ? "true" : "false"); break;
            case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case double d: sb.Append(Float(d)); break;
            case string s: AppendString(sb, s, o.EnsureAscii); break;
            case List<object?> or object?[]:
                EncodeList(sb, (IReadOnlyList<object?>)v, o, level);
                break;
            case PyDict d: EncodeDict(sb, d, o, level); break;
            default: throw new PyError($"Object of type {PyOps.TypeName(v)} is not JSON serializable");
        }
    }

    private static string Float(double d) =>
        double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : PyFormat.Float(d);

    private static void NewLine(StringBuilder sb, Options o, int level)
    {
        sb.Append('\n');
        for (int i = 0; i < level; i++) sb.Append(o.Indent);
    }

    private static void EncodeList(StringBuilder sb, IReadOnlyList<object?> items, Options o, int level)
    {
        if (items.Count == 0)
        {
            sb.Append("[]");
            return;
        }
        sb.Append('[');
        if (o.Indent is not null) NewLine(sb, o, level + 1);
        for (int i = 0; i < items.Count; i++)
        {
            if (i > 0)
            {
                sb.Append(o.ItemSeparator);
                if (o.Indent is not null) NewLine(sb, o, level + 1);
            }
            Encode(sb, items[i], o, level + 1);
        }
        if (o.Indent is not null) NewLine(sb, o, level);
        sb.Append(']');
    }

    private static void EncodeDict(StringBuilder sb, PyDict dict, Options o, int level)
    {
        if (dict.Count == 0)
        {
            sb.Append("{}");
            return;
        }
        IEnumerable<KeyValuePair<object, object?>> entries = dict;
        if (o.SortKeys)
        {
            var keyed = dict.Select(kv => (Key: (object?)kv.Key, Item: (object?)kv)).ToList();
            try
            {
                keyed.Sort((x, y) => PyOps.Compare(x.Key, y.Key));
            }
            catch (InvalidOperationException e) when (e.InnerException is PyError inner)
            {
                throw inner;
            }
            entries = keyed.Select(x => (KeyValuePair<object, object?>)x.Item!);
        }
        sb.Append('{');
        if (o.Indent is not null) NewLine(sb, o, level + 1);
        bool first = true;
        foreach (var (key, value) in entries)
        {
            if (!first)
            {
                sb.Append(o.ItemSeparator);
                if (o.Indent is not null) NewLine(sb, o, level + 1);
            }
            first = false;
            string name = key switch
            {
                string s => s,
                bool b => b ? "true" : "false",
                long l => l.ToString(CultureInfo.InvariantCulture),
                double d => Float(d),
                _ => throw new PyError($"keys must be str, int, float, bool or None, not {PyOps.TypeName(key)}"),
            };
            AppendString(sb, name, o.EnsureAscii);
            sb.Append(o.KeySeparator);
            Encode(sb, value, o, level + 1);
        }
        if (o.Indent is not null) NewLine(sb, o, level);
        sb.Append('}');
    }

    /// <summary>Python's JSON string escaping; with ensure_ascii every non-ASCII UTF-16 unit becomes \uXXXX.</summary>
    private static void AppendString(StringBuilder sb, string s, bool ensureAscii)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20 || (ensureAscii && c > 0x7E)) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }
}
