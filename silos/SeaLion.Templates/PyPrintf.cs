using System.Globalization;
using System.Text;

namespace SeaLion.Templates;

/// <summary>
/// Python's printf-style "fmt % args" for the common conversions: %s %r %d %i %f %e %g %x %%,
/// with "-"/"0" flags, width, precision and %(name)s keys. Other conversions raise.
/// </summary>
internal static class PyPrintf
{
    public static string Format(string format, object? args)
    {
        IReadOnlyList<object?> positional = args is object?[] tuple ? tuple : [args];
        // CPython treats any non-tuple, non-str object with __getitem__ as a mapping: leftovers are fine.
        bool mappingLike = args is PyDict or List<object?> or Undefined or DictView;
        int next = 0;
        var sb = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            char c = format[i];
            if (c != '%')
            {
                sb.Append(c);
                continue;
            }
            if (++i >= format.Length) throw new PyError("incomplete format");
            object? value;
            bool keyed = false;
            if (format[i] == '(')
            {
                int close = format.IndexOf(')', i);
                if (close < 0) throw new PyError("incomplete format key");
                if (args is not PyDict dict) throw new PyError("format requires a mapping");
                string key = format[(i + 1)..close];
                value = dict.TryGetValue(key, out object? v) ? v : throw new PyError($"KeyError: '{key}'");
                keyed = true;
                i = close + 1;
            }
            else value = null;
            bool left = false, zero = false;
            for (; i < format.Length && format[i] is '-' or '0' or ' ' or '+' or '#'; i++)
            {
                if (format[i] == '-') left = true;
                else if (format[i] == '0') zero = true;
                else throw new PyError($"printf flag '{format[i]}' is not supported by this renderer");
            }
            int width = ReadNumber(format, ref i) ?? 0;
            int? precision = null;
            if (i < format.Length && format[i] == '.')
            {
                i++;
                precision = ReadNumber(format, ref i) ?? 0;
            }
            if (i >= format.Length) throw new PyError("incomplete format");
            char conv = format[i];
            if (conv == '%')
            {
                sb.Append('%');
                continue;
            }
            if (!keyed)
            {
                if (next >= positional.Count) throw new PyError("not enough arguments for format string");
                value = positional[next++];
            }
            string text = Convert(conv, value, precision);
            bool numeric = conv is not ('s' or 'r');
            if (text.Length < width)
            {
                if (left) text = text.PadRight(width);
                else if (zero && numeric) text = text.StartsWith('-') ? "-" + text[1..].PadLeft(width - 1, '0') : text.PadLeft(width, '0');
                else text = text.PadLeft(width);
            }
            sb.Append(text);
            RenderBudget.CheckLength(sb.Length);
        }
        if (args is object?[] t && next < t.Length) throw new PyError("not all arguments converted during string formatting");
        if (args is not object?[] && next == 0 && !mappingLike) throw new PyError("not all arguments converted during string formatting");
        return sb.ToString();
    }

    private static int? ReadNumber(string s, ref int i)
    {
        int start = i;
        while (i < s.Length && char.IsAsciiDigit(s[i])) i++;
        return i > start ? int.Parse(s[start..i], CultureInfo.InvariantCulture) : null;
    }

    private static string Convert(char conv, object? value, int? precision)
    {
        if (value is Undefined u && conv is not ('s' or 'r')) throw u.Fail();
        switch (conv)
        {
            case 's':
                string s = PyFormat.Str(value);
                return precision is int p && p < s.Length ? s[..p] : s;
            case 'r':
                return PyFormat.Repr(value);
            case 'd' or 'i':
                if (!PyOps.IsNumber(value)) throw new PyError($"%{conv} format: a real number is required, not {PyOps.TypeName(value)}");
                return (PyOps.AsIndex(value) ?? (long)Math.Truncate(PyOps.ToDouble(value))).ToString(CultureInfo.InvariantCulture);
            case 'x':
                return (PyOps.AsIndex(value) ?? throw new PyError($"%x format: an integer is required, not {PyOps.TypeName(value)}")).ToString("x", CultureInfo.InvariantCulture);
            case 'f' or 'F' or 'e' or 'g':
                if (!PyOps.IsNumber(value)) throw new PyError($"must be real number, not {PyOps.TypeName(value)}");
                double d = PyOps.ToDouble(value);
                if (!double.IsFinite(d)) return double.IsNaN(d) ? "nan" : d > 0 ? "inf" : "-inf";
                return conv switch
                {
                    'e' => d.ToString("0." + new string('0', precision ?? 6) + "e+00", CultureInfo.InvariantCulture),
                    'g' => throw new PyError("printf conversion '%g' is not supported by this renderer"),
                    _ => d.ToString("F" + (precision ?? 6), CultureInfo.InvariantCulture),
                };
            default:
                throw new PyError($"printf conversion '%{conv}' is not supported by this renderer");
        }
    }
}
