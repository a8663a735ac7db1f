using System.Globalization;

namespace SeaLion.Structured;

/// <summary>
/// The regular-expression subset structured outputs take (a whole-output match, as vLLM's guided_regex): literals,
/// escapes (\d \w \s and their negations, \n \t \r \f \v \xHH \uHHHH, escaped metacharacters), '.', classes with
/// ranges and negation, groups ((...), (?:...), (?&lt;name&gt;...)), alternation, and the quantifiers * + ? {n} {n,}
/// {n,m} (lazy forms match the same set). ^ and $ are allowed at the ends. Backreferences, lookaround and \b are
/// refused with their position: they are not regular. So are a quantifier on a quantifier ("a**", as .NET and
/// Python refuse it) and groups nested more than <see cref="MaxNesting"/> deep: the parser and the automaton builder
/// recurse once per level, and a pattern of 20,000 '(' overflowed the stack, which ends the process.
/// </summary>
internal sealed class RegexParser
{
    public const int MaxRepeat = 1000;
    public const int MaxNesting = 200;
    readonly string _p;
    readonly string _what;
    int _i;
    int _depth;

    RegexParser(string pattern, string what) { _p = pattern; _what = what; }

    public static Node Parse(string pattern, string what = "regex")
    {
        var parser = new RegexParser(pattern, what);
        if (parser.Peek('^')) parser._i++;
        var node = parser.Alternation();
        if (parser._i < pattern.Length && pattern[parser._i] == '$' && parser._i == pattern.Length - 1) parser._i++;
        if (parser._i < pattern.Length) throw parser.Error(pattern[parser._i] == ')' ? "unbalanced ')'" : $"unexpected '{pattern[parser._i]}'");
        return node;
    }

    ConstraintException Error(string message) => new($"{_what}: {message} at position {_i} of \"{(_p.Length > 80 ? _p[..80] + "..." : _p)}\"");

    bool Peek(char c) => _i < _p.Length && _p[_i] == c;

    Node Alternation()
    {
        var options = new List<Node> { Sequence() };
        while (Peek('|')) { _i++; options.Add(Sequence()); }
        return Node.Either([.. options]);
    }

    Node Sequence()
    {
        var items = new List<Node>();
        while (_i < _p.Length && _p[_i] != '|' && _p[_i] != ')')
        {
            if (_p[_i] == '$' && _i == _p.Length - 1) break;
            items.Add(Quantified(Atom()));
        }
        return items.Count == 1 ? items[0] : new Seq([.. items]);
    }

    Node Quantified(Node atom)
    {
        if (!TryQuantifier(out int min, out int max)) return atom;
        if (Peek('?') || Peek('+')) _i++;   // lazy / possessive: the same set of strings
        int at = _i;
        if (TryQuantifier(out _, out _)) { _i = at; throw Error("a quantifier cannot follow another (nested quantifier)"); }
        return new Repeat(atom, min, max);
    }

    bool TryQuantifier(out int min, out int max)
    {
        min = max = 0;
        if (_i >= _p.Length) return false;
        char c = _p[_i];
        if (c == '*') { min = 0; max = -1; _i++; return true; }
        if (c == '+') { min = 1; max = -1; _i++; return true; }
        if (c == '?') { min = 0; max = 1; _i++; return true; }
        return c == '{' && TryBraces(out min, out max);
    }

    bool TryBraces(out int min, out int max)
    {
        min = max = 0;
        int close = _p.IndexOf('}', _i);
        if (close < 0) return false;
        string body = _p[(_i + 1)..close];
        string[] parts = body.Split(',');
        if (parts.Length > 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out min)) return false;
        if (parts.Length == 1) max = min;
        else if (parts[1].Length == 0) max = -1;
        else if (!int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out max)) return false;
        if (max >= 0 && max < min) throw Error($"repetition {{{body}}} has max < min");
        if (min > MaxRepeat || max > MaxRepeat) throw Error($"repetition {{{body}}} exceeds {MaxRepeat}");
        _i = close + 1;
        return true;
    }

    Node Atom()
    {
        char c = _p[_i];
        switch (c)
        {
            case '(':
            {
                _i++;
                if (Peek('?'))
                {
                    if (_i + 1 < _p.Length && _p[_i + 1] == ':') _i += 2;
                    else if (_i + 1 < _p.Length && _p[_i + 1] == '<' && _i + 2 < _p.Length && _p[_i + 2] is not ('=' or '!'))
                    {
                        int end = _p.IndexOf('>', _i);
                        if (end < 0) throw Error("unterminated group name");
                        _i = end + 1;
                    }
                    else if (_i + 1 < _p.Length && _p[_i + 1] == 'P' && _i + 2 < _p.Length && _p[_i + 2] == '<')
                    {
                        int end = _p.IndexOf('>', _i);
                        if (end < 0) throw Error("unterminated group name");
                        _i = end + 1;
                    }
                    else throw Error("lookaround and inline flags are not supported (not regular)");
                }
                if (++_depth > MaxNesting) throw Error($"groups nested more than {MaxNesting} deep");
                var inner = Alternation();
                if (!Peek(')')) throw Error("missing ')'");
                _i++;
                _depth--;
                return inner;
            }
            case '[': return new Chars(Class());
            case '.': _i++; return new Chars(CharSet.Single('\n').Negate());
            case '\\': return new Chars(Escape(inClass: false));
            case '*' or '+' or '?': throw Error($"'{c}' has nothing to repeat");
            case '^' or '$': throw Error($"'{c}' is only supported at the start or the end");
            default:
            {
                int cp = char.ConvertToUtf32(_p, _i);
                _i += char.IsHighSurrogate(c) ? 2 : 1;
                return new Chars(CharSet.Single(cp));
            }
        }
    }

    CharSet Class()
    {
        _i++;   // [
        bool negate = Peek('^');
        if (negate) _i++;
        var set = CharSet.Of();
        bool first = true;
        while (_i < _p.Length && (_p[_i] != ']' || first))
        {
            first = false;
            CharSet item;
            int lo;
            if (_p[_i] == '\\')
            {
                item = Escape(inClass: true);
                if (item.Ranges.Count != 1 || item.Ranges[0].Lo != item.Ranges[0].Hi) { set = set.Union(item); continue; }
                lo = item.Ranges[0].Lo;
            }
            else if (_p[_i] == '[' && _i + 1 < _p.Length && _p[_i + 1] == ':') throw Error("POSIX classes [:name:] are not supported");
            else { lo = char.ConvertToUtf32(_p, _i); _i += char.IsHighSurrogate(_p[_i]) ? 2 : 1; }
            if (_i + 1 < _p.Length && _p[_i] == '-' && _p[_i + 1] != ']')
            {
                _i++;
                int hi;
                if (_p[_i] == '\\')
                {
                    var e = Escape(inClass: true);
                    if (e.Ranges.Count != 1 || e.Ranges[0].Lo != e.Ranges[0].Hi) throw Error("a class range must end in one character");
                    hi = e.Ranges[0].Lo;
                }
                else { hi = char.ConvertToUtf32(_p, _i); _i += char.IsHighSurrogate(_p[_i]) ? 2 : 1; }
                if (hi < lo) throw Error("class range out of order");
                set = set.Union(CharSet.Of((lo, hi)));
            }
            else set = set.Union(CharSet.Single(lo));
        }
        if (!Peek(']')) throw Error("missing ']'");
        _i++;
        return negate ? set.Negate() : set;
    }

    static readonly CharSet Digit = CharSet.Of(('0', '9'));
    static readonly CharSet Word = CharSet.Of(('0', '9'), ('A', 'Z'), ('a', 'z'), ('_', '_'));
    static readonly CharSet Space = CharSet.Of((' ', ' '), ('\t', '\r'));

    CharSet Escape(bool inClass)
    {
        _i++;   // backslash
        if (_i >= _p.Length) throw Error("trailing backslash");
        char c = _p[_i++];
        switch (c)
        {
            case 'd': return Digit;
            case 'D': return Digit.Negate();
            case 'w': return Word;
            case 'W': return Word.Negate();
            case 's': return Space;
            case 'S': return Space.Negate();
            case 'n': return CharSet.Single('\n');
            case 't': return CharSet.Single('\t');
            case 'r': return CharSet.Single('\r');
            case 'f': return CharSet.Single('\f');
            case 'v': return CharSet.Single('\v');
            case '0': return CharSet.Single(0);
            case 'x': return CharSet.Single(Hex(2));
            case 'u': return CharSet.Single(Hex(4));
            case 'b' when inClass: return CharSet.Single('\b');
            case 'b' or 'B' or 'A' or 'z' or 'Z' or 'G': _i--; throw Error($"\\{c} (an anchor or boundary) is not supported");
            case >= '1' and <= '9': _i--; throw Error("backreferences are not supported (not regular)");
            case 'p' or 'P': _i--; throw Error("Unicode categories \\p{...} are not supported");
            default:
                if (char.IsLetterOrDigit(c)) { _i--; throw Error($"unknown escape \\{c}"); }
                return CharSet.Single(c);
        }
    }

    int Hex(int digits)
    {
        if (_i + digits > _p.Length || !int.TryParse(_p.AsSpan(_i, digits), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int v))
            throw Error($"expected {digits} hex digits");
        _i += digits;
        return v;
    }
}
