using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;

namespace SeaLion.Templates;

/// <summary>Python's str() and repr() of runtime values, which is what "{{ value }}" prints.</summary>
internal static class PyFormat
{
    public static string Str(object? v) => v switch
    {
        string s => s,
        Undefined => "",
        _ => Repr(v),
    };

    public static string Repr(object? v)
    {
        var sb = new StringBuilder();
        AppendRepr(sb, v);
        return sb.ToString();
    }

    private static void AppendRepr(StringBuilder sb, object? v)
    {
        RuntimeHelpers.EnsureSufficientExecutionStack();
        RenderBudget.CheckLength(sb.Length);
        switch (v)
        {
            case null: sb.Append("None"); break;
            case bool b: sb.Append(b ? "True" : "False"); break;
            case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case double d: sb.Append(Float(d)); break;
            case string s: AppendStringRepr(sb, s); break;
            case Undefined: sb.Append("Undefined"); break;
            case List<object?> list: AppendItems(sb, "[", list, "]"); break;
            case object?[] tuple: AppendItems(sb, "(", tuple, tuple.Length == 1 ? ",)" : ")"); break;
            case PyDict dict: AppendDict(sb, dict); break;
            case DictView view:
                sb.Append(view.Kind).Append('(');
                AppendItems(sb, "[", view.Items, "]");
                sb.Append(')');
                break;
            case Namespace ns:
                sb.Append("<Namespace ");
                AppendDict(sb, ns.Attributes);
                sb.Append('>');
                break;
            case PyIterator it: sb.Append('<').Append(it.TypeName).Append(" object>"); break;
            case PyFunction f: sb.Append("<built-in method ").Append(f.Name).Append('>'); break;
            case MacroValue m: sb.Append("<Macro '").Append(m.Definition.Name).Append("'>"); break;
            case LoopInfo loop: sb.Append("<LoopContext ").Append(loop.Index0 + 1).Append('/').Append(loop.Items.Count).Append('>'); break;
            default: sb.Append(v); break;
        }
    }

    private static void AppendItems(StringBuilder sb, string open, IReadOnlyList<object?> items, string close)
    {
        sb.Append(open);
        for (int i = 0; i < items.Count; i++)
        {
            if (i > 0) sb.Append(", ");
            AppendRepr(sb, items[i]);
        }
        sb.Append(close);
    }

    private static void AppendDict(StringBuilder sb, PyDict dict)
    {
        sb.Append('{');
        bool first = true;
        foreach (var (key, value) in dict)
        {
            if (!first) sb.Append(", ");
            first = false;
            AppendRepr(sb, key);
            sb.Append(": ");
            AppendRepr(sb, value);
        }
        sb.Append('}');
    }

    /// <summary>Python's repr(str): single quotes unless only single quotes occur, non-printables escaped.</summary>
    public static void AppendStringRepr(StringBuilder sb, string s)
    {
        char quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        sb.Append(quote);
        foreach (int cp in PyString.CodePoints(s))
        {
            if (cp == quote || cp == '\\') sb.Append('\\').Append((char)cp);
            else if (cp == '\t') sb.Append("\\t");
            else if (cp == '\n') sb.Append("\\n");
            else if (cp == '\r') sb.Append("\\r");
            else if (cp < 0x20 || cp == 0x7F) sb.Append("\\x").Append(cp.ToString("x2", CultureInfo.InvariantCulture));
            else if (cp < 0x7F || IsPrintable(cp)) PyString.AppendCodePoint(sb, cp);
            else if (cp <= 0xFF) sb.Append("\\x").Append(cp.ToString("x2", CultureInfo.InvariantCulture));
            else if (cp <= 0xFFFF) sb.Append("\\u").Append(cp.ToString("x4", CultureInfo.InvariantCulture));
            else sb.Append("\\U").Append(cp.ToString("x8", CultureInfo.InvariantCulture));
        }
        sb.Append(quote);
    }

    /// <summary>Python's str.isprintable() for one code point: no control, format, separator or unassigned.</summary>
    private static bool IsPrintable(int cp) => PyString.Category(cp) is not (UnicodeCategory.Control or UnicodeCategory.Format
        or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned
        or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator or UnicodeCategory.SpaceSeparator);

    /// <summary>
    /// Python's repr(float): the shortest round-trip digits, positional for exponents -4..15
    /// ("1e-05", "0.0001", "1e+16", "1000000000000000.0").
    /// </summary>
    public static string Float(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsInfinity(d)) return d > 0 ? "inf" : "-inf";
        if (d == 0) return double.IsNegative(d) ? "-0.0" : "0.0";
        string r = Math.Abs(d).ToString("R", CultureInfo.InvariantCulture);
        int e = r.IndexOfAny(['E', 'e']);
        int exponent = e >= 0 ? int.Parse(r[(e + 1)..], CultureInfo.InvariantCulture) : 0;
        string mantissa = e >= 0 ? r[..e] : r;
        int dot = mantissa.IndexOf('.');
        string digits = mantissa.Replace(".", "");
        // Decimal point position relative to the first digit: value = 0.DIGITS * 10^decpt.
        int decpt = (dot >= 0 ? dot : mantissa.Length) + exponent;
        int lead = 0;
        while (lead < digits.Length - 1 && digits[lead] == '0') lead++;
        digits = digits[lead..].TrimEnd('0');
        decpt -= lead;
        if (digits.Length == 0) digits = "0";
        var sb = new StringBuilder(d < 0 ? "-" : "");
        if (decpt <= -4 || decpt > 16)
        {
            sb.Append(digits[0]);
            if (digits.Length > 1) sb.Append('.').Append(digits, 1, digits.Length - 1);
            int exp = decpt - 1;
            sb.Append('e').Append(exp < 0 ? '-' : '+').Append(Math.Abs(exp).ToString("00", CultureInfo.InvariantCulture));
        }
        else if (decpt <= 0)
        {
            sb.Append("0.").Append('0', -decpt).Append(digits);
        }
        else if (decpt >= digits.Length)
        {
            sb.Append(digits).Append('0', decpt - digits.Length).Append(".0");
        }
        else
        {
            sb.Append(digits, 0, decpt).Append('.').Append(digits, decpt, digits.Length - decpt);
        }
        return sb.ToString();
    }
}
