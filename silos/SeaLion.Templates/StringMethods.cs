namespace SeaLion.Templates;

/// <summary>Python str methods callable from templates ('abc'.upper(), s.split(',', 1), ...).</summary>
internal static class StringMethods
{
    public static PyFunction? Bind(string s, string name)
    {
        Func<CallArgs, object?>? body = name switch
        {
            "strip" => a => PyString.Strip(s, OptStr(Args(name, a, ("chars", null))[0])),
            "lstrip" => a => PyString.LStrip(s, OptStr(Args(name, a, ("chars", null))[0])),
            "rstrip" => a => PyString.RStrip(s, OptStr(Args(name, a, ("chars", null))[0])),
            "split" => a => SplitCall(s, a, name, PyString.Split),
            "rsplit" => a => SplitCall(s, a, name, PyString.RSplit),
            "splitlines" => a => PyString.SplitLines(s, PyOps.Truthy(Args(name, a, ("keepends", false))[0])).Cast<object?>().ToList(),
            "startswith" => a => Affix(s, Args(name, a, ("prefix", Signature.Required))[0], s.StartsWith),
            "endswith" => a => Affix(s, Args(name, a, ("suffix", Signature.Required))[0], s.EndsWith),
            "upper" => a => NoArgs(name, a, PyString.Upper(s)),
            "lower" or "casefold" => a => NoArgs(name, a, PyString.Lower(s)),
            "title" => a => NoArgs(name, a, PyString.Title(s)),
            "capitalize" => a => NoArgs(name, a, PyString.Capitalize(s)),
            "swapcase" => a => NoArgs(name, a, string.Concat(PyString.CodePoints(s).Select(cp =>
                PyString.Category(cp) == System.Globalization.UnicodeCategory.UppercaseLetter
                    ? PyString.Lower(PyString.CodePointString(cp)) : PyString.Upper(PyString.CodePointString(cp))))),
            "replace" => a =>
            {
                object?[] p = Args(name, a, ("old", Signature.Required), ("new", Signature.Required), ("count", -1L));
                return PyString.Replace(s, Str(p[0]), Str(p[1]), Int(p[2]));
            },
            "find" or "index" => a => Find(s, Str(Args(name, a, ("sub", Signature.Required))[0]), name == "index", last: false),
            "rfind" or "rindex" => a => Find(s, Str(Args(name, a, ("sub", Signature.Required))[0]), name == "rindex", last: true),
            "count" => a => PyString.Count(s, Str(Args(name, a, ("sub", Signature.Required))[0])),
            "join" => a => Join(s, Args(name, a, ("iterable", Signature.Required))[0]),
            "zfill" => a => ZFill(s, Int(Args(name, a, ("width", Signature.Required))[0])),
            "center" => a => Pad(s, name, a, (t, w, f) => PyString.Center(t, w, f)),
            "ljust" => a => Pad(s, name, a, (t, w, f) => t + PyString.Repeat(f, w - PyString.Length(t))),
            "rjust" => a => Pad(s, name, a, (t, w, f) => PyString.Repeat(f, w - PyString.Length(t)) + t),
            "isdigit" or "isdecimal" => a => NoArgs(name, a, s.Length > 0 && PyString.CodePoints(s).All(cp => PyString.Category(cp) == System.Globalization.UnicodeCategory.DecimalDigitNumber)),
            "isnumeric" => a => NoArgs(name, a, s.Length > 0 && PyString.CodePoints(s).All(PyString.IsNumeric)),
            "isalpha" => a => NoArgs(name, a, s.Length > 0 && PyString.CodePoints(s).All(PyString.IsAlpha)),
            "isalnum" => a => NoArgs(name, a, s.Length > 0 && PyString.CodePoints(s).All(cp => PyString.IsAlpha(cp) || PyString.IsNumeric(cp))),
            "isspace" => a => NoArgs(name, a, s.Length > 0 && s.All(c => PyString.IsSpace(c))),
            "isupper" => a => NoArgs(name, a, PyString.IsAllCase(s, upper: true)),
            "islower" => a => NoArgs(name, a, PyString.IsAllCase(s, upper: false)),
            "partition" => a => Partition(s, Str(Args(name, a, ("sep", Signature.Required))[0]), last: false),
            "rpartition" => a => Partition(s, Str(Args(name, a, ("sep", Signature.Required))[0]), last: true),
            "removeprefix" => a => Str(Args(name, a, ("prefix", Signature.Required))[0]) is var p && s.StartsWith(p, StringComparison.Ordinal) ? s[p.Length..] : s,
            "removesuffix" => a => Str(Args(name, a, ("suffix", Signature.Required))[0]) is var p && p.Length > 0 && s.EndsWith(p, StringComparison.Ordinal) ? s[..^p.Length] : s,
            "format" or "format_map" or "encode" or "translate" or "expandtabs" or "istitle" or "isidentifier" or "isprintable" or "isascii" =>
                _ => throw new PyError($"str.{name}() is not supported by this renderer"),
            _ => null,
        };
        return body is null ? null : new PyFunction(name, body);
    }

    private static object?[] Args(string name, CallArgs a, params (string, object?)[] parameters) => new Signature(name, parameters).Bind(a);

    private static object? NoArgs(string name, CallArgs a, object? result) =>
        a.Positional.Count + a.Keywords.Count == 0 ? result : throw new PyError($"{name}() takes no arguments");

    private static string Str(object? v) => v as string ?? throw new PyError($"expected a str argument, got '{PyOps.TypeName(v)}'");

    private static string? OptStr(object? v) => v is null ? null : Str(v);

    private static long Int(object? v) => PyOps.AsIndex(v) ?? throw new PyError($"'{PyOps.TypeName(v)}' object cannot be interpreted as an integer");

    private static object SplitCall(string s, CallArgs a, string name, Func<string, string?, long, List<object?>> split)
    {
        object?[] p = Args(name, a, ("sep", null), ("maxsplit", -1L));
        return split(s, OptStr(p[0]), Int(p[1]));
    }

    private static bool Affix(string s, object? affix, Func<string, StringComparison, bool> test) => affix switch
    {
        string one => test(one, StringComparison.Ordinal),
        object?[] many => many.Any(x => test(Str(x), StringComparison.Ordinal)),
        _ => throw new PyError($"startswith/endswith first arg must be str or a tuple of str, not {PyOps.TypeName(affix)}"),
    };

    private static long Find(string s, string sub, bool raise, bool last)
    {
        int at = last ? s.LastIndexOf(sub, StringComparison.Ordinal) : s.IndexOf(sub, StringComparison.Ordinal);
        if (at < 0 && raise) throw new PyError("substring not found");
        return PyString.CodePointIndex(s, at);
    }

    private static string Join(string sep, object? iterable)
    {
        var parts = new List<string>();
        long total = 0;
        foreach (object? item in PyOps.Iterate(iterable))
        {
            string part = item as string ?? throw new PyError($"sequence item {parts.Count}: expected str instance, {PyOps.TypeName(item)} found");
            total += part.Length + sep.Length;
            RenderBudget.CheckLength(total);
            parts.Add(part);
        }
        return string.Join(sep, parts);
    }

    private static string ZFill(string s, long width)
    {
        long pad = width - PyString.Length(s);
        if (pad <= 0) return s;
        string zeros = PyString.Repeat("0", pad);
        return s.Length > 0 && s[0] is '+' or '-' ? s[0] + zeros + s[1..] : zeros + s;
    }

    private static string Pad(string s, string name, CallArgs a, Func<string, long, string, string> pad)
    {
        object?[] p = Args(name, a, ("width", Signature.Required), ("fillchar", " "));
        string fill = Str(p[1]);
        if (PyString.Length(fill) != 1) throw new PyError("The fill character must be exactly one character long");
        return pad(s, Int(p[0]), fill);
    }

    private static object?[] Partition(string s, string sep, bool last)
    {
        if (sep.Length == 0) throw new PyError("empty separator");
        int at = last ? s.LastIndexOf(sep, StringComparison.Ordinal) : s.IndexOf(sep, StringComparison.Ordinal);
        if (at < 0) return last ? ["", "", s] : [s, "", ""];
        return [s[..at], sep, s[(at + sep.Length)..]];
    }
}
