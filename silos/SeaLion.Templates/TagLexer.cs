using System.Globalization;
using System.Text;

namespace SeaLion.Templates;

/// <summary>
/// Lexes the inside of a "{{ }}" or "{% %}" tag into names, literals and operators, in jinja2's
/// rule order (end tag, whitespace, float, integer, name, string, operator). End tags only count
/// while brackets are balanced, so "{{ {'a': {'b': 1}} }}" works.
/// </summary>
internal sealed class TagLexer(Lexer lexer, string src, bool isBlock)
{
    private static readonly string[] Operators =
        ["//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";"];

    public void Lex(int tag, ref int pos, ref bool lineStarting)
    {
        var open = new Stack<char>();
        lexer.Emit(isBlock ? TokenKind.BlockBegin : TokenKind.VariableBegin, isBlock ? "{%" : "{{", null, tag);
        while (true)
        {
            if (pos >= src.Length)
            {
                throw lexer.Error(tag, isBlock ? "tag '{%' is never closed (missing '%}')" : "tag '{{' is never closed (missing '}}')");
            }
            if (open.Count == 0 && TryEnd(ref pos, out bool endedWithNewline))
            {
                lineStarting = endedWithNewline;
                return;
            }
            int start = pos;
            char c = src[pos];
            if (PyString.IsSpace(c))
            {
                pos = lexer.SkipSpace(pos);
            }
            else if (char.IsAsciiDigit(c))
            {
                LexNumber(ref pos);
            }
            else if (c == '_' || char.IsLetter(c))
            {
                while (pos < src.Length && (src[pos] == '_' || char.IsLetterOrDigit(src[pos]) ||
                       CharUnicodeInfo.GetUnicodeCategory(src[pos]) is UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark))
                {
                    pos++;
                }
                lexer.Emit(TokenKind.Name, src[start..pos], null, start);
            }
            else if (c is '\'' or '"')
            {
                LexString(ref pos);
            }
            else
            {
                LexOperator(ref pos, open);
            }
        }
    }

    private bool TryEnd(ref int pos, out bool endedWithNewline)
    {
        endedWithNewline = false;
        string close = isBlock ? "%}" : "}}";
        char sign = '\0';
        int p = pos;
        if (isBlock && lexer.At(p, "+" + close)) { sign = '+'; p++; }
        else if (lexer.At(p, "-" + close)) { sign = '-'; p++; }
        else if (!lexer.At(p, close)) return false;
        lexer.Emit(isBlock ? TokenKind.BlockEnd : TokenKind.VariableEnd, close, null, pos);
        pos = p + 2;
        // Variable ends never trim a newline; block ends do (trim_blocks).
        if (!isBlock && sign == '\0') return true;
        endedWithNewline = lexer.SkipAfterEnd(sign, ref pos);
        return true;
    }

    private void LexNumber(ref int pos)
    {
        int start = pos;
        // float_re has a (?<!\.) look-behind: "x.0.1" is x, ., 0, ., 1 rather than a float.
        if (start == 0 || src[start - 1] != '.')
        {
            int end = ScanFloat(start);
            if (end > 0)
            {
                string text = src[start..end];
                pos = end;
                lexer.Emit(TokenKind.Float, text, double.Parse(text.Replace("_", ""), CultureInfo.InvariantCulture), start);
                return;
            }
        }
        pos = ScanInteger(start, out long value);
        lexer.Emit(TokenKind.Integer, src[start..pos], value, start);
    }

    /// <summary>Digits with single underscores between runs: (\d+_)*\d+. Returns the end or -1.</summary>
    private int ScanDigits(int p, Func<char, bool> isDigit)
    {
        if (p >= src.Length || !isDigit(src[p])) return -1;
        while (true)
        {
            while (p < src.Length && isDigit(src[p])) p++;
            if (p + 1 < src.Length && src[p] == '_' && isDigit(src[p + 1])) p++;
            else return p;
        }
    }

    private int ScanFloat(int start)
    {
        int p = ScanDigits(start, char.IsAsciiDigit);
        int fractionEnd = p < src.Length && src[p] == '.' ? ScanDigits(p + 1, char.IsAsciiDigit) : -1;
        int q = fractionEnd > 0 ? fractionEnd : p;
        if (q < src.Length && src[q] is 'e' or 'E')
        {
            int e = q + 1;
            if (e < src.Length && src[e] is '+' or '-') e++;
            int expEnd = ScanDigits(e, char.IsAsciiDigit);
            if (expEnd > 0) return expEnd;
        }
        return fractionEnd;
    }

    private int ScanInteger(int start, out long value)
    {
        int radix = 10;
        int digitsStart = start;
        int end;
        if (src[start] == '0' && start + 1 < src.Length && char.ToLowerInvariant(src[start + 1]) is 'b' or 'o' or 'x'
            && start + 2 < src.Length)
        {
            char r = char.ToLowerInvariant(src[start + 1]);
            radix = r == 'b' ? 2 : r == 'o' ? 8 : 16;
            Func<char, bool> isDigit = radix == 2 ? c => c is '0' or '1' : radix == 8 ? c => c is >= '0' and <= '7' : char.IsAsciiHexDigit;
            int p = start + 2;
            if (src[p] == '_') p++;
            end = ScanDigits(p, isDigit);
            if (end < 0) { radix = 10; end = start + 1; }
            else digitsStart = start + 2;
        }
        else if (src[start] == '0')
        {
            // "0(_?0)*": a leading zero may only be followed by zeros.
            end = start + 1;
            while (end < src.Length && (src[end] == '0' || (src[end] == '_' && end + 1 < src.Length && src[end + 1] == '0'))) end++;
        }
        else
        {
            end = ScanDigits(start, char.IsAsciiDigit);
        }
        string digits = src[digitsStart..end].Replace("_", "");
        try
        {
            value = radix == 10 ? long.Parse(digits, CultureInfo.InvariantCulture) : Convert.ToInt64(digits, radix);
        }
        catch (OverflowException)
        {
            throw lexer.Error(start, $"integer literal '{src[start..end]}' does not fit in 64 bits");
        }
        return end;
    }

    private void LexString(ref int pos)
    {
        int start = pos;
        char quote = src[pos++];
        var body = new StringBuilder();
        while (true)
        {
            if (pos >= src.Length) throw lexer.Error(start, "string literal is never closed");
            char c = src[pos];
            if (c == quote) break;
            if (c == '\\' && pos + 1 < src.Length)
            {
                body.Append(c).Append(src[pos + 1]);
                pos += 2;
                continue;
            }
            body.Append(c);
            pos++;
        }
        pos++;
        string value;
        try
        {
            value = StringLiteral.Decode(body.ToString());
        }
        catch (FormatException e)
        {
            throw lexer.Error(start, $"invalid string literal: {e.Message}");
        }
        lexer.Emit(TokenKind.String, src[start..pos], value, start);
    }

    private void LexOperator(ref int pos, Stack<char> open)
    {
        int start = pos;
        foreach (string op in Operators)
        {
            if (!lexer.At(pos, op)) continue;
            if (op is "{" or "(" or "[") open.Push(op == "{" ? '}' : op == "(" ? ')' : ']');
            else if (op is "}" or ")" or "]")
            {
                if (open.Count == 0) throw lexer.Error(start, $"unexpected '{op}'");
                char expected = open.Pop();
                if (expected != op[0]) throw lexer.Error(start, $"unexpected '{op}', expected '{expected}'");
            }
            pos += op.Length;
            lexer.Emit(TokenKind.Operator, op, null, start);
            return;
        }
        throw lexer.Error(start, $"unexpected character '{src[pos]}'");
    }
}
