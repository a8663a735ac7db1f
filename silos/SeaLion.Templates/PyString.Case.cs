using System.Globalization;
using System.Text;

namespace SeaLion.Templates;

/// <summary>
/// Python case mapping and character classes: upper() uses full mappings for the common special
/// cases (ß -> SS, ligatures), title()/capitalize() follow CPython, classes follow Unicode categories.
/// </summary>
internal static partial class PyString
{
    public static string Upper(string s)
    {
        var sb = new StringBuilder(s.Length);
        foreach (char c in s)
        {
            sb.Append(c switch
            {
                'ß' => "SS",
                'ﬀ' => "FF",
                'ﬁ' => "FI",
                'ﬂ' => "FL",
                'ﬃ' => "FFI",
                'ﬄ' => "FFL",
                'ﬅ' or 'ﬆ' => "ST",
                _ => null,
            } ?? char.ToUpperInvariant(c).ToString());
        }
        return HasSurrogates(s) ? FromCodePoints(CodePoints(sb.ToString()).Select(ToUpperCp)) : sb.ToString();
    }

    public static string Lower(string s)
    {
        string lower = s.Replace("\u0130", "i\u0307").ToLowerInvariant();
        return HasSurrogates(lower) ? FromCodePoints(CodePoints(lower).Select(ToLowerCp)) : lower;
    }

    private static int ToUpperCp(int cp) => cp < 0x10000 ? cp : char.ConvertToUtf32(char.ConvertFromUtf32(cp).ToUpperInvariant(), 0);

    private static int ToLowerCp(int cp) => cp < 0x10000 ? cp : char.ConvertToUtf32(char.ConvertFromUtf32(cp).ToLowerInvariant(), 0);

    public static bool IsCased(int cp) => Category(cp) is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter;

    public static UnicodeCategory Category(int cp) => CharUnicodeInfo.GetUnicodeCategory(cp);

    /// <summary>Python str.title(): a cased character after an uncased one is upper-cased, the rest lower-cased.</summary>
    public static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool previousCased = false;
        foreach (int cp in CodePoints(s))
        {
            string one = CodePointString(cp);
            sb.Append(previousCased ? Lower(one) : Upper(one));
            previousCased = IsCased(cp);
        }
        return sb.ToString();
    }

    /// <summary>Python str.capitalize(): first code point upper-cased, the rest lower-cased.</summary>
    public static string Capitalize(string s)
    {
        int[] cps = CodePoints(s);
        if (cps.Length == 0) return s;
        return Upper(CodePointString(cps[0])) + Lower(FromCodePoints(cps.Skip(1)));
    }

    /// <summary>jinja2's title filter: every run after "-", whitespace, "(", "{", "[" or "&lt;" starts upper-case.</summary>
    public static string JinjaTitle(string s)
    {
        static bool IsBreak(int c) => c is '-' or '(' or '{' or '[' or '<' || IsSpace(c);
        var sb = new StringBuilder(s.Length);
        int[] cps = CodePoints(s);
        int i = 0;
        while (i < cps.Length)
        {
            bool brk = IsBreak(cps[i]);
            int j = i;
            while (j < cps.Length && IsBreak(cps[j]) == brk) j++;
            sb.Append(Upper(CodePointString(cps[i]))).Append(Lower(FromCodePoints(cps[(i + 1)..j])));
            i = j;
        }
        return sb.ToString();
    }

    /// <summary>Python str.isupper()/islower(): at least one cased character and all cased ones in that case.</summary>
    public static bool IsAllCase(string s, bool upper)
    {
        bool any = false;
        foreach (int cp in CodePoints(s))
        {
            var cat = Category(cp);
            if (cat is UnicodeCategory.TitlecaseLetter) return false;
            if (cat is UnicodeCategory.UppercaseLetter) { if (!upper) return false; any = true; }
            if (cat is UnicodeCategory.LowercaseLetter) { if (upper) return false; any = true; }
        }
        return any;
    }

    public static bool IsAlpha(int cp) => Category(cp) is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter
        or UnicodeCategory.TitlecaseLetter or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter;

    public static bool IsNumeric(int cp) => Category(cp) is UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber;

    /// <summary>Python's re \w: alphanumeric code points and underscore.</summary>
    public static bool IsWordChar(int cp) => cp == '_' || IsAlpha(cp) || IsNumeric(cp);
}
