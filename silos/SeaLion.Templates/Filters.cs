using System.Globalization;
using System.Numerics;
using System.Text;

namespace SeaLion.Templates;

internal delegate object? FilterFn(Renderer renderer, object? value, CallArgs args);

/// <summary>
/// jinja2's built-in filters (plus transformers' tojson). String filters apply Python str() to
/// non-string input first (soft_str), so none|upper is "NONE" and an undefined value is "".
/// </summary>
internal static partial class Filters
{
    private static readonly HashSet<string> UnsupportedBuiltins =
        ["filesizeformat", "format", "groupby", "pprint", "random", "striptags", "urlencode", "urlize", "wordwrap", "xmlattr"];

    private static readonly Dictionary<string, FilterFn> Table = Build();

    public static bool Exists(string name) => Table.ContainsKey(name);

    public static bool IsUnsupportedBuiltin(string name) => UnsupportedBuiltins.Contains(name);

    public static object? Apply(Renderer r, string name, object? value, CallArgs args) =>
        Table.TryGetValue(name, out FilterFn? f) ? f(r, value, args) : throw new PyError($"no filter named '{name}'");

    private static Dictionary<string, FilterFn> Build()
    {
        var t = new Dictionary<string, FilterFn>(StringComparer.Ordinal)
        {
            ["abs"] = (_, v, a) => NoArgs("abs", a, Abs(v)),
            ["attr"] = (_, v, a) => ObjectModel.AttributeOnly(v, Str(Bind("attr", a, ("name", Signature.Required))[0])),
            ["capitalize"] = (_, v, a) => NoArgs("capitalize", a, PyString.Capitalize(PyFormat.Str(v))),
            ["center"] = (_, v, a) => PyString.Center(PyFormat.Str(v), Int(Bind("center", a, ("width", 80L))[0])),
            ["default"] = Default,
            ["d"] = Default,
            ["escape"] = (_, v, a) => NoArgs("escape", a, HtmlEscape(PyFormat.Str(v))),
            ["e"] = (_, v, a) => NoArgs("e", a, HtmlEscape(PyFormat.Str(v))),
            ["forceescape"] = (_, v, a) => NoArgs("forceescape", a, HtmlEscape(PyFormat.Str(v))),
            ["float"] = (_, v, a) => ToFloat(v, Bind("float", a, ("default", 0.0))[0]),
            ["int"] = (_, v, a) => ToInt(v, Bind("int", a, ("default", 0L), ("base", 10L))),
            ["indent"] = (_, v, a) => Indent(v, Bind("indent", a, ("width", 4L), ("first", false), ("blank", false))),
            ["lower"] = (_, v, a) => NoArgs("lower", a, PyString.Lower(PyFormat.Str(v))),
            ["upper"] = (_, v, a) => NoArgs("upper", a, PyString.Upper(PyFormat.Str(v))),
            ["title"] = (_, v, a) => NoArgs("title", a, PyString.JinjaTitle(PyFormat.Str(v))),
            ["trim"] = (_, v, a) => PyString.Strip(PyFormat.Str(v), Bind("trim", a, ("chars", null))[0] is { } c ? Str(c) : null),
            ["replace"] = (_, v, a) =>
            {
                object?[] p = Bind("replace", a, ("old", Signature.Required), ("new", Signature.Required), ("count", null));
                return PyString.Replace(PyFormat.Str(v), PyFormat.Str(p[0]), PyFormat.Str(p[1]), p[2] is null ? -1 : Int(p[2]));
            },
            ["round"] = (_, v, a) => Round(v, Bind("round", a, ("precision", 0L), ("method", "common"))),
            ["safe"] = (_, v, a) => NoArgs("safe", a, PyFormat.Str(v)),
            ["string"] = (_, v, a) => NoArgs("string", a, PyFormat.Str(v)),
            ["truncate"] = (_, v, a) => Truncate(v, Bind("truncate", a, ("length", 255L), ("killwords", false), ("end", "..."), ("leeway", null))),
            ["wordcount"] = (_, v, a) => NoArgs("wordcount", a, WordCount(PyFormat.Str(v))),
            ["tojson"] = (_, v, a) => JsonDumps.ToJson(v, Bind("tojson", a,
                ("ensure_ascii", false), ("indent", null), ("separators", null), ("sort_keys", false))),
        };
        AddSequenceFilters(t);
        return t;
    }

    private static object?[] Bind(string name, CallArgs a, params (string, object?)[] parameters) => new Signature(name, parameters).Bind(a);

    private static object? NoArgs(string name, CallArgs a, object? result) =>
        a.Positional.Count + a.Keywords.Count == 0 ? result : throw new PyError($"filter '{name}' takes no arguments");

    private static string Str(object? v) => v as string ?? throw new PyError($"expected a string argument, got '{PyOps.TypeName(v)}'");

    private static long Int(object? v) => PyOps.AsIndex(v) ?? throw new PyError($"'{PyOps.TypeName(v)}' object cannot be interpreted as an integer");

    private static object? Default(Renderer _, object? v, CallArgs a)
    {
        object?[] p = Bind("default", a, ("default_value", ""), ("boolean", false));
        return v is Undefined || (PyOps.Truthy(p[1]) && !PyOps.Truthy(v)) ? p[0] : v;
    }

    private static object Abs(object? v) => v switch
    {
        long l => l == long.MinValue ? throw new PyError("integer overflow in abs()") : (object)Math.Abs(l),
        bool b => b ? 1L : 0L,
        double d => Math.Abs(d),
        Undefined u => throw u.Fail(),
        _ => throw new PyError($"bad operand type for abs(): '{PyOps.TypeName(v)}'"),
    };

    /// <summary>markupsafe.escape: &amp; &lt; &gt; " ' become entities.</summary>
    private static string HtmlEscape(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;")
        .Replace("\"", "&#34;").Replace("'", "&#39;");

    /// <summary>Python float(): numbers convert, strings parse (with "inf"/"nan"); failures give the default.</summary>
    private static object? ToFloat(object? v, object? fallback)
    {
        if (v is Undefined u) throw u.Fail();
        if (PyOps.IsNumber(v)) return PyOps.ToDouble(v);
        return v is string s && TryParseFloat(s, out double d) ? d : fallback;
    }

    private static bool TryParseFloat(string s, out double d)
    {
        string t = PyString.Strip(s, null).ToLowerInvariant();
        string body = t.TrimStart('+', '-');
        bool negative = t.StartsWith('-');
        if (body is "inf" or "infinity" or "nan")
        {
            d = body == "nan" ? double.NaN : negative ? double.NegativeInfinity : double.PositiveInfinity;
            return t.Length - body.Length <= 1;
        }
        d = 0;
        if (t.Length == 0 || t.Contains("__") || t.StartsWith('_') || t.EndsWith('_')) return false;
        foreach (char c in t)
        {
            if (!(char.IsAsciiDigit(c) || c is '.' or 'e' or '+' or '-' or '_')) return false;
        }
        return double.TryParse(t.Replace("_", ""), NumberStyles.Float, CultureInfo.InvariantCulture, out d);
    }

    /// <summary>jinja2's int filter: int(value, base), else int(float(value)), else the default.</summary>
    private static object? ToInt(object? v, object?[] p)
    {
        if (v is Undefined u) throw u.Fail();
        switch (v)
        {
            case long or bool:
                return PyOps.AsIndex(v);
            case double d:
                return !double.IsFinite(d) ? p[0] : Math.Abs(d) < 9.2e18 ? (long)Math.Truncate(d)
                    : throw new PyError("integer overflow: values beyond 64 bits are not supported");
            case string s:
                if (TryParseInt(PyString.Strip(s, null), Int(p[1]), out long n)) return n;
                return TryParseFloat(s, out double f) && double.IsFinite(f) && Math.Abs(f) < 9.2e18 ? (long)Math.Truncate(f) : p[0];
            default:
                return p[0];
        }
    }

    private static bool TryParseInt(string s, long radix, out long value)
    {
        value = 0;
        bool negative = s.StartsWith('-');
        if (s.StartsWith('-') || s.StartsWith('+')) s = s[1..];
        string lower = s.ToLowerInvariant();
        if ((radix == 16 && lower.StartsWith("0x")) || (radix == 8 && lower.StartsWith("0o")) || (radix == 2 && lower.StartsWith("0b"))) s = s[2..].TrimStart('_');
        if (s.Length == 0 || s.StartsWith('_') || s.EndsWith('_') || s.Contains("__") || radix is < 2 or > 36) return false;
        BigInteger acc = 0;
        foreach (char c in s.Replace("_", "").ToLowerInvariant())
        {
            int digit = char.IsAsciiDigit(c) ? c - '0' : c is >= 'a' and <= 'z' ? c - 'a' + 10 : 99;
            if (digit >= radix) return false;
            acc = acc * radix + digit;
        }
        if (negative) acc = -acc;
        if (acc > long.MaxValue || acc < long.MinValue) throw new PyError("integer does not fit in 64 bits");
        value = (long)acc;
        return true;
    }

    private static string Indent(object? v, object?[] p)
    {
        if (v is Undefined u) throw u.Fail();
        if (v is not string s) throw new PyError($"can only indent strings, not '{PyOps.TypeName(v)}'");
        string indention = p[0] is string w ? w : PyString.Repeat(" ", Int(p[0]));
        List<string> lines = PyString.SplitLines(s + "\n");
        string rv;
        if (PyOps.Truthy(p[2]))
        {
            rv = string.Join("\n" + indention, lines);
        }
        else
        {
            var sb = new StringBuilder(lines[0]);
            if (lines.Count > 1) sb.Append('\n').Append(string.Join("\n", lines.Skip(1).Select(l => l.Length > 0 ? indention + l : l)));
            rv = sb.ToString();
        }
        return PyOps.Truthy(p[1]) ? indention + rv : rv;
    }

    /// <summary>Python round(): half-to-even on the exact binary value; "floor"/"ceil" as math.floor/ceil.</summary>
    private static object Round(object? v, object?[] p)
    {
        if (v is Undefined u) throw u.Fail();
        long precision = Int(p[0]);
        string method = p[1] as string ?? "";
        if (method is not ("common" or "floor" or "ceil")) throw new PyError("method must be common, ceil or floor");
        if (!PyOps.IsNumber(v)) throw new PyError($"type {PyOps.TypeName(v)} doesn't define __round__ method");
        if (method != "common")
        {
            double scale = Math.Pow(10, precision);
            double x = PyOps.ToDouble(v) * scale;
            return (method == "floor" ? Math.Floor(x) : Math.Ceiling(x)) / scale;
        }
        if (PyOps.AsIndex(v) is long l) return precision >= 0 ? l : RoundInt(l, precision);
        return ExactRound((double)v!, precision);
    }

    private static long RoundInt(long value, long precision)
    {
        if (precision < -18) return 0;
        long scale = (long)Math.Pow(10, -precision);
        long q = (long)Math.Floor((double)value / scale), r = value - q * scale;
        if (r * 2 > scale || (r * 2 == scale && q % 2 != 0)) q++;
        return q * scale;
    }

    private static double ExactRound(double d, long ndigits)
    {
        if (!double.IsFinite(d) || d == 0 || ndigits > 330) return d;
        if (ndigits < -330) return 0.0 * d;
        // d = mantissa * 2^exponent exactly; scale by 10^ndigits as an exact rational and round half to even.
        long bits = BitConverter.DoubleToInt64Bits(d);
        int exp = (int)((bits >> 52) & 0x7FF);
        long frac = bits & 0xFFFFFFFFFFFFFL;
        BigInteger mantissa = exp == 0 ? frac : frac | (1L << 52);
        int e2 = (exp == 0 ? 1 : exp) - 1075;
        BigInteger num = BigInteger.Abs(mantissa), den = BigInteger.One;
        if (e2 > 0) num <<= e2; else den <<= -e2;
        if (ndigits >= 0) num *= BigInteger.Pow(10, (int)ndigits); else den *= BigInteger.Pow(10, (int)-ndigits);
        BigInteger q = BigInteger.DivRem(num, den, out BigInteger rem);
        int cmp = (rem * 2).CompareTo(den);
        if (cmp > 0 || (cmp == 0 && !q.IsEven)) q += 1;
        string text = q.ToString(CultureInfo.InvariantCulture) + "e" + (-ndigits).ToString(CultureInfo.InvariantCulture);
        double result = double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);
        return d < 0 ? -result : result;
    }

    private static object? Truncate(object? v, object?[] p)
    {
        long length = Int(p[0]);
        string end = Str(p[2]);
        long leeway = p[3] is null ? 5 : Int(p[3]);
        if (length < PyString.Length(end)) throw new PyError($"expected length >= {PyString.Length(end)}, got {length}");
        if (leeway < 0) throw new PyError($"expected leeway >= 0, got {leeway}");
        if (v is Undefined || PyOps.Length(v) <= length + leeway) return v;
        int[] cps = PyString.CodePoints(Str(v));
        string head = PyString.FromCodePoints(cps.Take((int)(length - PyString.Length(end))));
        if (PyOps.Truthy(p[1])) return head + end;
        List<object?> parts = PyString.RSplit(head, " ", 1);
        return (string)parts[0]! + end;
    }

    private static long WordCount(string s)
    {
        long count = 0;
        bool inWord = false;
        foreach (int cp in PyString.CodePoints(s))
        {
            bool word = PyString.IsWordChar(cp);
            if (word && !inWord) count++;
            inWord = word;
        }
        return count;
    }
}
