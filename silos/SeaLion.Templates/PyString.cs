using System.Text;

namespace SeaLion.Templates;

/// <summary>
/// Python str semantics that differ from .NET: whitespace is str.isspace(), lengths and indices
/// count code points (not UTF-16 units), and comparison is by code point.
/// </summary>
internal static partial class PyString
{
    /// <summary>Python's str.isspace() for one code point.</summary>
    public static bool IsSpace(int c) => c is (>= 0x09 and <= 0x0D) or (>= 0x1C and <= 0x20) or 0x85 or 0xA0 or 0x1680
        or (>= 0x2000 and <= 0x200A) or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000;

    public static bool HasSurrogates(string s)
    {
        foreach (char c in s)
        {
            if (char.IsSurrogate(c)) return true;
        }
        return false;
    }

    /// <summary>The code points of <paramref name="s"/>; lone surrogates stay single code points as in Python.</summary>
    public static int[] CodePoints(string s)
    {
        var cps = new List<int>(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                cps.Add(char.ConvertToUtf32(s[i], s[i + 1]));
                i++;
            }
            else cps.Add(s[i]);
        }
        return [.. cps];
    }

    public static string FromCodePoints(IEnumerable<int> cps)
    {
        var sb = new StringBuilder();
        foreach (int cp in cps) AppendCodePoint(sb, cp);
        return sb.ToString();
    }

    public static void AppendCodePoint(StringBuilder sb, int cp)
    {
        if (cp < 0x10000) sb.Append((char)cp);
        else sb.Append(char.ConvertFromUtf32(cp));
    }

    public static string CodePointString(int cp) => cp < 0x10000 ? ((char)cp).ToString() : char.ConvertFromUtf32(cp);

    public static int Length(string s) => HasSurrogates(s) ? CodePoints(s).Length : s.Length;

    /// <summary>Converts a UTF-16 index into a code point index.</summary>
    public static int CodePointIndex(string s, int utf16Index) =>
        utf16Index < 0 || !HasSurrogates(s) ? utf16Index : CodePoints(s[..utf16Index]).Length;

    public static int CompareCodePoints(string a, string b)
    {
        int n = Math.Min(a.Length, b.Length);
        for (int i = 0; i < n; i++)
        {
            char x = a[i], y = b[i];
            if (x == y) continue;
            // Surrogate pairs encode code points above every BMP unit, so shift them past 0xFFFF.
            int kx = x >= 0xE000 ? x - 0x800 : char.IsSurrogate(x) ? x + 0x2000 : x;
            int ky = y >= 0xE000 ? y - 0x800 : char.IsSurrogate(y) ? y + 0x2000 : y;
            return kx < ky ? -1 : 1;
        }
        return a.Length.CompareTo(b.Length);
    }

    public static string Strip(string s, string? chars) => LStrip(RStrip(s, chars), chars);

    public static string LStrip(string s, string? chars)
    {
        if (chars is null)
        {
            int i = 0;
            while (i < s.Length && IsSpace(s[i])) i++;
            return s[i..];
        }
        var set = new HashSet<int>(CodePoints(chars));
        int[] cps = CodePoints(s);
        int k = 0;
        while (k < cps.Length && set.Contains(cps[k])) k++;
        return FromCodePoints(cps.Skip(k));
    }

    public static string RStrip(string s, string? chars)
    {
        if (chars is null)
        {
            int i = s.Length;
            while (i > 0 && IsSpace(s[i - 1])) i--;
            return s[..i];
        }
        var set = new HashSet<int>(CodePoints(chars));
        int[] cps = CodePoints(s);
        int k = cps.Length;
        while (k > 0 && set.Contains(cps[k - 1])) k--;
        return FromCodePoints(cps.Take(k));
    }

    /// <summary>Python str.split(sep, maxsplit); a null separator splits on whitespace runs.</summary>
    public static List<object?> Split(string s, string? sep, long maxsplit)
    {
        var parts = new List<object?>();
        long budget = maxsplit < 0 ? long.MaxValue : maxsplit;
        if (sep is null)
        {
            int i = 0;
            while (budget-- > 0)
            {
                while (i < s.Length && IsSpace(s[i])) i++;
                if (i == s.Length) break;
                int j = i;
                while (i < s.Length && !IsSpace(s[i])) i++;
                parts.Add(s[j..i]);
            }
            while (i < s.Length && IsSpace(s[i])) i++;
            if (i < s.Length) parts.Add(s[i..]);
            return parts;
        }
        if (sep.Length == 0) throw new PyError("empty separator");
        int start = 0;
        while (budget-- > 0)
        {
            int at = s.IndexOf(sep, start, StringComparison.Ordinal);
            if (at < 0) break;
            parts.Add(s[start..at]);
            start = at + sep.Length;
        }
        parts.Add(s[start..]);
        return parts;
    }

    /// <summary>Python str.rsplit(sep, maxsplit).</summary>
    public static List<object?> RSplit(string s, string? sep, long maxsplit)
    {
        var parts = new List<object?>();
        long budget = maxsplit < 0 ? long.MaxValue : maxsplit;
        if (sep is null)
        {
            int i = s.Length;
            while (budget-- > 0)
            {
                while (i > 0 && IsSpace(s[i - 1])) i--;
                if (i == 0) break;
                int j = i;
                while (i > 0 && !IsSpace(s[i - 1])) i--;
                parts.Add(s[i..j]);
            }
            while (i > 0 && IsSpace(s[i - 1])) i--;
            if (i > 0) parts.Add(s[..i]);
            parts.Reverse();
            return parts;
        }
        if (sep.Length == 0) throw new PyError("empty separator");
        int end = s.Length;
        while (budget-- > 0 && end > 0)
        {
            int at = s.LastIndexOf(sep, end - 1, StringComparison.Ordinal);
            if (at < 0 || at + sep.Length > end) break;
            parts.Add(s[(at + sep.Length)..end]);
            end = at;
        }
        parts.Add(s[..end]);
        parts.Reverse();
        return parts;
    }

    private static bool IsLineBreak(char c) => c is '\n' or '\r' or '\v' or '\f' or '\x1c' or '\x1d' or '\x1e' or '\x85' or '\u2028' or '\u2029';

    /// <summary>Python str.splitlines().</summary>
    public static List<string> SplitLines(string s, bool keepEnds = false)
    {
        var lines = new List<string>();
        int start = 0, i = 0;
        while (i < s.Length)
        {
            if (!IsLineBreak(s[i])) { i++; continue; }
            int eol = i;
            i += s[i] == '\r' && i + 1 < s.Length && s[i + 1] == '\n' ? 2 : 1;
            lines.Add(keepEnds ? s[start..i] : s[start..eol]);
            start = i;
        }
        if (start < s.Length) lines.Add(s[start..]);
        return lines;
    }

    /// <summary>Python str.replace(old, new, count); an empty old inserts between code points.</summary>
    public static string Replace(string s, string old, string replacement, long count)
    {
        if (count < 0) count = long.MaxValue;
        var sb = new StringBuilder();
        if (old.Length == 0)
        {
            foreach (int cp in CodePoints(s))
            {
                if (count-- > 0) sb.Append(replacement);
                AppendCodePoint(sb, cp);
            }
            if (count > 0) sb.Append(replacement);
            return sb.ToString();
        }
        int start = 0;
        while (count-- > 0)
        {
            int at = s.IndexOf(old, start, StringComparison.Ordinal);
            if (at < 0) break;
            sb.Append(s, start, at - start).Append(replacement);
            start = at + old.Length;
            RenderBudget.CheckLength(sb.Length);
        }
        return sb.Append(s, start, s.Length - start).ToString();
    }

    public static long Count(string s, string sub)
    {
        if (sub.Length == 0) return Length(s) + 1;
        long n = 0;
        for (int at = s.IndexOf(sub, StringComparison.Ordinal); at >= 0; at = s.IndexOf(sub, at + sub.Length, StringComparison.Ordinal)) n++;
        return n;
    }

    /// <summary>Python str.center(width): the extra padding goes left when both margin and width are odd.</summary>
    public static string Center(string s, long width, string fill = " ")
    {
        long marg = width - Length(s);
        if (marg <= 0) return s;
        long left = marg / 2 + (marg & width & 1);
        RenderBudget.CheckLength(width);
        return Repeat(fill, left) + s + Repeat(fill, marg - left);
    }

    public static string Repeat(string s, long n)
    {
        if (n <= 0 || s.Length == 0) return "";
        RenderBudget.CheckLength(s.Length * n);
        return new StringBuilder(s.Length * (int)n).Insert(0, s, (int)n).ToString();
    }
}
