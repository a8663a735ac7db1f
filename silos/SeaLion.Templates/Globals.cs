using System.Globalization;
using System.Text;

namespace SeaLion.Templates;

/// <summary>
/// The global functions of transformers' environment: jinja2's range (capped at 100,000 items as
/// in the sandbox), dict, namespace and joiner, plus raise_exception and strftime_now.
/// </summary>
internal static class Globals
{
    private const int MaxRange = 100_000;

    public static void AddTo(Scope scope, Func<DateTime> clock)
    {
        scope.Set("range", new PyFunction("range", Range));
        scope.Set("dict", new PyFunction("dict", DictOf));
        scope.Set("namespace", new PyFunction("namespace", NewNamespace));
        scope.Set("joiner", new PyFunction("joiner", Joiner));
        scope.Set("cycler", new PyFunction("cycler", _ => throw new PyError("cycler() is not supported by this renderer")));
        scope.Set("lipsum", new PyFunction("lipsum", _ => throw new PyError("lipsum() is not supported by this renderer")));
        scope.Set("raise_exception", new PyFunction("raise_exception", a =>
            throw new PyError(PyFormat.Str(new Signature("raise_exception", ("message", Signature.Required)).Bind(a)[0])) { RaisedByTemplate = true }));
        scope.Set("strftime_now", new PyFunction("strftime_now", a =>
            Strftime(clock(), PyFormat.Str(new Signature("strftime_now", ("format", Signature.Required)).Bind(a)[0]))));
    }

    private static object? Range(CallArgs a)
    {
        if (a.Keywords.Count > 0) throw new PyError("range() takes no keyword arguments");
        long[] n = [.. a.Positional.Select(v => PyOps.AsIndex(v) ?? throw new PyError($"'{PyOps.TypeName(v)}' object cannot be interpreted as an integer"))];
        (long start, long stop, long step) = n.Length switch
        {
            1 => (0, n[0], 1),
            2 => (n[0], n[1], 1),
            3 => (n[0], n[1], n[2]),
            _ => throw new PyError($"range expected 1 to 3 arguments, got {n.Length}"),
        };
        if (step == 0) throw new PyError("range() arg 3 must not be zero");
        double count = Math.Max(0, Math.Ceiling(((double)stop - start) / step));
        if (count > MaxRange) throw new PyError($"Range too big. The sandbox blocks ranges larger than MAX_RANGE ({MaxRange}).");
        var items = new List<object?>((int)count);
        for (long i = start; step > 0 ? i < stop : i > stop; i += step) items.Add(i);
        return items;
    }

    private static object? DictOf(CallArgs a)
    {
        if (a.Positional.Count > 0) throw new PyError("dict() with positional arguments is not supported; use keyword arguments");
        var d = new PyDict();
        foreach (var (k, v) in a.Keywords) d[k] = v;
        return d;
    }

    private static object? NewNamespace(CallArgs a)
    {
        var ns = new Namespace();
        if (a.Positional.Count > 1) throw new PyError("namespace() takes at most one positional argument");
        if (a.Positional.Count == 1)
        {
            if (a.Positional[0] is not PyDict init) throw new PyError("namespace() positional argument must be a dict");
            foreach (var (k, v) in init) ns.Attributes[k] = v;
        }
        foreach (var (k, v) in a.Keywords) ns.Attributes[k] = v;
        return ns;
    }

    private static object? Joiner(CallArgs a)
    {
        string sep = PyFormat.Str(new Signature("joiner", ("sep", ", ")).Bind(a)[0]);
        bool used = false;
        return new PyFunction("joiner", _ =>
        {
            if (used) return sep;
            used = true;
            return "";
        });
    }

    /// <summary>Python's datetime.strftime for the common directives (C locale names).</summary>
    internal static string Strftime(DateTime t, string format)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length)
            {
                sb.Append(format[i]);
                continue;
            }
            char d = format[++i];
            sb.Append(d switch
            {
                'Y' => t.Year.ToString("0000", CultureInfo.InvariantCulture),
                'y' => (t.Year % 100).ToString("00", CultureInfo.InvariantCulture),
                'm' => t.Month.ToString("00", CultureInfo.InvariantCulture),
                'd' => t.Day.ToString("00", CultureInfo.InvariantCulture),
                'e' => t.Day.ToString(CultureInfo.InvariantCulture).PadLeft(2),
                'H' => t.Hour.ToString("00", CultureInfo.InvariantCulture),
                'I' => ((t.Hour + 11) % 12 + 1).ToString("00", CultureInfo.InvariantCulture),
                'M' => t.Minute.ToString("00", CultureInfo.InvariantCulture),
                'S' => t.Second.ToString("00", CultureInfo.InvariantCulture),
                'f' => (t.Ticks % TimeSpan.TicksPerSecond / 10).ToString("000000", CultureInfo.InvariantCulture),
                'p' => t.Hour < 12 ? "AM" : "PM",
                'B' => CultureInfo.InvariantCulture.DateTimeFormat.GetMonthName(t.Month),
                'b' or 'h' => CultureInfo.InvariantCulture.DateTimeFormat.GetAbbreviatedMonthName(t.Month),
                'A' => CultureInfo.InvariantCulture.DateTimeFormat.GetDayName(t.DayOfWeek),
                'a' => CultureInfo.InvariantCulture.DateTimeFormat.GetAbbreviatedDayName(t.DayOfWeek),
                'j' => t.DayOfYear.ToString("000", CultureInfo.InvariantCulture),
                'w' => ((int)t.DayOfWeek).ToString(CultureInfo.InvariantCulture),
                '%' => "%",
                _ => throw new PyError($"strftime directive '%{d}' is not supported by this renderer"),
            });
        }
        return sb.ToString();
    }
}
