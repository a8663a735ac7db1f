using System.Text;

namespace SeaLion.Templates;

/// <summary>
/// Splits template source into data and tag tokens exactly as jinja2's lexer does with
/// trim_blocks=True and lstrip_blocks=True: newlines are normalised to "\n", one trailing newline
/// is dropped, "-" strips all whitespace on its side, "+" disables lstrip/trim, lstrip removes
/// spaces before "{%"/"{#" at line start, and trim removes the first newline after "%}"/"#}".
/// </summary>
internal sealed class Lexer
{
    private readonly string _src;
    private readonly List<int> _lineStarts = [0];
    private readonly List<Token> _tokens = [];
    private int _pos;
    // Whether the previous match ended with a newline (jinja2's line_starting).
    private bool _lineStarting = true;

    private Lexer(string source)
    {
        _src = Normalize(source);
        for (int i = 0; i < _src.Length; i++)
        {
            if (_src[i] == '\n') _lineStarts.Add(i + 1);
        }
    }

    public static List<Token> Tokenize(string source)
    {
        var lexer = new Lexer(source);
        lexer.Run();
        return lexer._tokens;
    }

    internal SourcePos PosAt(int index)
    {
        int line = _lineStarts.BinarySearch(index);
        if (line < 0) line = ~line - 1;
        return new SourcePos(line + 1, index - _lineStarts[line] + 1);
    }

    internal TemplateException Error(int index, string problem) => new(PosAt(index), problem);

    /// <summary>"\r\n" and "\r" become "\n"; a single trailing newline is removed (keep_trailing_newline=False).</summary>
    private static string Normalize(string source)
    {
        string s = source.Replace("\r\n", "\n").Replace('\r', '\n');
        return s.EndsWith('\n') ? s[..^1] : s;
    }

    private void Run()
    {
        while (_pos < _src.Length)
        {
            int tag = FindTagStart(_pos);
            if (tag < 0)
            {
                Emit(TokenKind.Data, _src[_pos..], null, _pos);
                break;
            }
            char kind = _src[tag + 1];
            if (kind == '%' && TryRawBegin(tag, out int rawContent, out char rawSign))
            {
                EmitData(_pos, tag, rawSign, isVariable: false);
                _lineStarting = _src[rawContent - 1] == '\n';
                LexRaw(rawContent, tag);
                continue;
            }
            char sign = tag + 2 < _src.Length && _src[tag + 2] is '-' or '+' ? _src[tag + 2] : '\0';
            EmitData(_pos, tag, sign, isVariable: kind == '{');
            _lineStarting = false;
            _pos = tag + 2 + (sign == '\0' ? 0 : 1);
            if (kind == '#') SkipComment(tag);
            else new TagLexer(this, _src, isBlock: kind == '%').Lex(tag, ref _pos, ref _lineStarting);
        }
        Emit(TokenKind.Eof, "", null, _src.Length);
    }

    private int FindTagStart(int from)
    {
        for (int i = _src.IndexOf('{', from); i >= 0 && i + 1 < _src.Length; i = _src.IndexOf('{', i + 1))
        {
            if (_src[i + 1] is '{' or '%' or '#') return i;
        }
        return -1;
    }

    /// <summary>Emits the data before a tag after applying "-" stripping or lstrip_blocks.</summary>
    private void EmitData(int start, int end, char sign, bool isVariable)
    {
        string text = _src[start..end];
        if (sign == '-')
        {
            text = PyString.RStrip(text, null);
        }
        else if (sign != '+' && !isVariable)
        {
            int lineStart = text.LastIndexOf('\n') + 1;
            if ((lineStart > 0 || _lineStarting) && lineStart < text.Length && AllSpace(text, lineStart))
            {
                text = text[..lineStart];
            }
        }
        if (text.Length > 0) Emit(TokenKind.Data, text, null, start);
    }

    private static bool AllSpace(string s, int from)
    {
        for (int i = from; i < s.Length; i++)
        {
            if (!PyString.IsSpace(s[i])) return false;
        }
        return true;
    }

    private void SkipComment(int tag)
    {
        int close = _src.IndexOf("#}", _pos, StringComparison.Ordinal);
        if (close < 0) throw Error(tag, "comment '{#' is never closed (missing '#}')");
        char sign = close - 1 >= _pos && _src[close - 1] is '-' or '+' ? _src[close - 1] : '\0';
        _pos = close + 2;
        _lineStarting = SkipAfterEnd(sign, ref _pos);
    }

    /// <summary>
    /// Applies the whitespace rule after a block or comment end and returns whether the match
    /// ended with a newline: "+" keeps everything, "-" eats all whitespace, plain trims one newline.
    /// </summary>
    internal bool SkipAfterEnd(char sign, ref int pos)
    {
        if (sign == '+') return false;
        if (sign == '-')
        {
            int start = pos;
            pos = SkipSpace(pos);
            return pos > start && _src[pos - 1] == '\n';
        }
        if (pos < _src.Length && _src[pos] == '\n')
        {
            pos++;
            return true;
        }
        return false;
    }

    /// <summary>Matches "{%[-+]? raw [-]?%}" at <paramref name="tag"/>; the raw begin never trims a newline.</summary>
    private bool TryRawBegin(int tag, out int contentStart, out char sign)
    {
        contentStart = 0;
        int p = tag + 2;
        sign = p < _src.Length && _src[p] is '-' or '+' ? _src[p++] : '\0';
        p = SkipSpace(p);
        if (!At(p, "raw")) return false;
        p = SkipSpace(p + 3);
        if (At(p, "-%}"))
        {
            contentStart = SkipSpace(p + 3);
            return true;
        }
        if (!At(p, "%}")) return false;
        contentStart = p + 2;
        return true;
    }

    private void LexRaw(int contentStart, int tag)
    {
        for (int i = _src.IndexOf("{%", contentStart, StringComparison.Ordinal); i >= 0;
             i = _src.IndexOf("{%", i + 1, StringComparison.Ordinal))
        {
            int p = i + 2;
            char sign = p < _src.Length && _src[p] is '-' or '+' ? _src[p++] : '\0';
            p = SkipSpace(p);
            if (!At(p, "endraw")) continue;
            p = SkipSpace(p + 6);
            char endSign;
            if (At(p, "+%}") || At(p, "-%}")) endSign = _src[p++];
            else if (At(p, "%}")) endSign = '\0';
            else continue;
            EmitData(contentStart, i, sign, isVariable: false);
            _pos = p + 2;
            _lineStarting = SkipAfterEnd(endSign, ref _pos);
            return;
        }
        throw Error(tag, "'raw' block is never closed (missing '{% endraw %}')");
    }

    internal int SkipSpace(int p)
    {
        while (p < _src.Length && PyString.IsSpace(_src[p])) p++;
        return p;
    }

    internal bool At(int p, string s) => p + s.Length <= _src.Length && string.CompareOrdinal(_src, p, s, 0, s.Length) == 0;

    internal void Emit(TokenKind kind, string text, object? value, int index) =>
        _tokens.Add(new Token(kind, text, value, PosAt(index)));
}
