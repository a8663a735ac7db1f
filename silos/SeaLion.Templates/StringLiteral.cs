using System.Globalization;
using System.Text;

namespace SeaLion.Templates;

/// <summary>
/// Decodes a string literal body the way jinja2 does: non-ASCII characters are first turned into
/// backslash escapes ("backslashreplace") and the result is decoded with Python's "unicode-escape"
/// codec, so \n, \t, \xhh, \uhhhh, \Uhhhhhhhh and octal escapes work and unknown escapes keep
/// their backslash.
/// </summary>
internal static class StringLiteral
{
    public static string Decode(string body)
    {
        if (body.IndexOf('\\') < 0) return body;
        string ascii = BackslashReplace(body);
        var sb = new StringBuilder(ascii.Length);
        for (int i = 0; i < ascii.Length; i++)
        {
            char c = ascii[i];
            if (c != '\\')
            {
                sb.Append(c);
                continue;
            }
            if (i + 1 >= ascii.Length) throw new FormatException("\\ at end of string");
            char n = ascii[++i];
            switch (n)
            {
                case '\n': break;
                case '\\' or '\'' or '"': sb.Append(n); break;
                case 'a': sb.Append('\a'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'n': sb.Append('\n'); break;
                case 'r': sb.Append('\r'); break;
                case 't': sb.Append('\t'); break;
                case 'v': sb.Append('\v'); break;
                case >= '0' and <= '7':
                    int value = n - '0';
                    for (int k = 0; k < 2 && i + 1 < ascii.Length && ascii[i + 1] is >= '0' and <= '7'; k++)
                    {
                        value = value * 8 + (ascii[++i] - '0');
                    }
                    sb.Append((char)value);
                    break;
                case 'x': AppendHex(sb, ascii, ref i, 2, "\\xXX"); break;
                case 'u': AppendHex(sb, ascii, ref i, 4, "\\uXXXX"); break;
                case 'U': AppendHex(sb, ascii, ref i, 8, "\\UXXXXXXXX"); break;
                case 'N': throw new FormatException("\\N{...} escapes are not supported");
                default: sb.Append('\\').Append(n); break;
            }
        }
        return sb.ToString();
    }

    private static void AppendHex(StringBuilder sb, string s, ref int i, int digits, string name)
    {
        if (i + digits >= s.Length)
        {
            throw new FormatException($"truncated {name} escape");
        }
        string hex = s.Substring(i + 1, digits);
        if (hex.Any(ch => !char.IsAsciiHexDigit(ch)) || !long.TryParse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out long cp))
        {
            throw new FormatException($"truncated {name} escape");
        }
        if (cp > 0x10FFFF) throw new FormatException("illegal Unicode character");
        if (cp < 0x10000) sb.Append((char)cp);
        else sb.Append(char.ConvertFromUtf32((int)cp));
        i += digits;
    }

    private static string BackslashReplace(string s)
    {
        var sb = new StringBuilder(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            int cp = s[i];
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                cp = char.ConvertToUtf32(s[i], s[i + 1]);
                i++;
            }
            if (cp < 0x80) sb.Append((char)cp);
            else if (cp < 0x100) sb.Append("\\x").Append(cp.ToString("x2", CultureInfo.InvariantCulture));
            else if (cp < 0x10000) sb.Append("\\u").Append(cp.ToString("x4", CultureInfo.InvariantCulture));
            else sb.Append("\\U").Append(cp.ToString("x8", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }
}
