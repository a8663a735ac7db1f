using System.Globalization;

namespace SeaLion.Structured;

/// <summary>
/// GBNF grammars (llama.cpp's, as xgrammar and vLLM's guided_grammar take them): rules "name ::= ...", literals
/// "..." with escapes, classes [...], rule references, groups, alternation, the quantifiers * + ? {m} {m,} {m,n},
/// and # comments; the output matches rule "root". Rules are inlined, so a grammar must not be recursive
/// (a recursive rule is refused by name): the constraint automaton is finite-state. Groups and rule references
/// nest at most <see cref="RegexParser.MaxNesting"/> deep (the parser recurses once per level).
/// </summary>
internal sealed class GbnfParser
{
    readonly string _g;
    int _i;
    int _depth;
    readonly Dictionary<string, (int Start, string Body)> _rules = [];

    GbnfParser(string grammar) => _g = grammar;

    public static Node Parse(string grammar)
    {
        var p = new GbnfParser(grammar);
        p.ReadRules();
        if (!p._rules.ContainsKey("root")) throw new ConstraintException("grammar: there is no rule \"root\"");
        return p.Expand("root", []);
    }

    ConstraintException Error(string message) => new($"grammar: {message} (line {Line(_offset + _i)})");
    int Line(int at) => _g.AsSpan(0, Math.Min(at, _g.Length)).Count('\n') + 1;

    /// <summary>Splits the text into rules: each runs from "name ::=" to the next "name ::=".</summary>
    void ReadRules()
    {
        var heads = new List<(string Name, int NameAt, int BodyAt)>();
        for (int at = 0; at < _g.Length;)
        {
            int eol = _g.IndexOf('\n', at);
            if (eol < 0) eol = _g.Length;
            string line = _g[at..eol];
            int def = IndexOutsideQuotes(line, "::=");
            if (def >= 0)
            {
                string name = line[..def].Trim();
                if (name.Length == 0 || !name.All(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.'))
                    throw new ConstraintException($"grammar: bad rule name \"{name}\" (line {Line(at)})");
                heads.Add((name, at, at + def + 3));
            }
            at = eol + 1;
        }
        for (int k = 0; k < heads.Count; k++)
        {
            int end = k + 1 < heads.Count ? heads[k + 1].NameAt : _g.Length;
            if (_rules.ContainsKey(heads[k].Name)) throw new ConstraintException($"grammar: rule \"{heads[k].Name}\" is defined twice (line {Line(heads[k].NameAt)})");
            _rules[heads[k].Name] = (heads[k].BodyAt, _g[heads[k].BodyAt..end]);
        }
        if (heads.Count == 0) throw new ConstraintException("grammar: no rules (expected lines like: root ::= \"yes\" | \"no\")");
    }

    static int IndexOutsideQuotes(string line, string what)
    {
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            if (line[i] == '\\') { i++; continue; }
            if (line[i] == '"') quoted = !quoted;
            else if (line[i] == '#' && !quoted) return -1;
            else if (!quoted && string.CompareOrdinal(line, i, what, 0, what.Length) == 0) return i;
        }
        return -1;
    }

    readonly Dictionary<string, Node> _done = [];

    Node Expand(string name, HashSet<string> active)
    {
        if (_done.TryGetValue(name, out var done)) return done;
        if (!_rules.TryGetValue(name, out var rule)) throw new ConstraintException($"grammar: rule \"{name}\" is used but not defined");
        if (!active.Add(name)) throw new ConstraintException($"grammar: rule \"{name}\" is recursive; only grammars without recursion (regular ones) are supported");
        if (active.Count > RegexParser.MaxNesting)
            throw new ConstraintException($"grammar: rule \"{name}\" is reached through more than {RegexParser.MaxNesting} nested rule references");
        int save = _i;
        string saveText = _text;
        _text = rule.Body;
        _i = 0;
        _offset = rule.Start;
        var node = Alternation(active);
        SkipSpace();
        if (_i < _text.Length) throw Error($"unexpected '{_text[_i]}' in rule \"{name}\"");
        _text = saveText;
        _i = save;
        active.Remove(name);
        _done[name] = node;
        return node;
    }

    string _text = "";
    int _offset;

    void SkipSpace()
    {
        while (_i < _text.Length)
        {
            if (char.IsWhiteSpace(_text[_i])) _i++;
            else if (_text[_i] == '#') { while (_i < _text.Length && _text[_i] != '\n') _i++; }
            else break;
        }
    }

    Node Alternation(HashSet<string> active)
    {
        var options = new List<Node> { Sequence(active) };
        SkipSpace();
        while (_i < _text.Length && _text[_i] == '|') { _i++; options.Add(Sequence(active)); SkipSpace(); }
        return Node.Either([.. options]);
    }

    Node Sequence(HashSet<string> active)
    {
        var items = new List<Node>();
        while (true)
        {
            SkipSpace();
            if (_i >= _text.Length || _text[_i] is '|' or ')') break;
            items.Add(Quantified(Atom(active)));
        }
        return items.Count == 1 ? items[0] : new Seq([.. items]);
    }

    Node Quantified(Node atom)
    {
        while (_i < _text.Length)
        {
            char c = _text[_i];
            if (c == '*') { _i++; atom = new Repeat(atom, 0, -1); }
            else if (c == '+') { _i++; atom = new Repeat(atom, 1, -1); }
            else if (c == '?') { _i++; atom = new Repeat(atom, 0, 1); }
            else if (c == '{')
            {
                int close = _text.IndexOf('}', _i);
                if (close < 0) throw Error("missing '}'");
                var parts = _text[(_i + 1)..close].Split(',');
                if (!int.TryParse(parts[0].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int min)) throw Error("bad repetition");
                int max = parts.Length == 1 ? min : parts[1].Trim().Length == 0 ? -1
                    : int.TryParse(parts[1].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int m) ? m : throw Error("bad repetition");
                if (min > RegexParser.MaxRepeat || max > RegexParser.MaxRepeat || (max >= 0 && max < min)) throw Error("repetition out of range");
                _i = close + 1;
                atom = new Repeat(atom, min, max);
            }
            else break;
        }
        return atom;
    }

    Node Atom(HashSet<string> active)
    {
        char c = _text[_i];
        if (c == '"')
        {
            _i++;
            var sb = new System.Text.StringBuilder();
            while (_i < _text.Length && _text[_i] != '"')
            {
                int cp = Char();
                if (cp is >= 0xD800 and <= 0xDFFF) throw Error($"\\u{cp:x4} is a surrogate, not a character");
                sb.Append(char.ConvertFromUtf32(cp));
            }
            if (_i >= _text.Length) throw Error("unterminated string literal");
            _i++;
            return sb.Length == 0 ? Node.Empty : Node.Text(sb.ToString());
        }
        if (c == '[')
        {
            _i++;
            bool negate = _i < _text.Length && _text[_i] == '^';
            if (negate) _i++;
            var set = CharSet.Of();
            while (_i < _text.Length && _text[_i] != ']')
            {
                int lo = Char();
                int hi = lo;
                if (_i + 1 < _text.Length && _text[_i] == '-' && _text[_i + 1] != ']') { _i++; hi = Char(); }
                if (hi < lo) throw Error("class range out of order");
                set = set.Union(CharSet.Of((lo, hi)));
            }
            if (_i >= _text.Length) throw Error("missing ']'");
            _i++;
            return new Chars(negate ? set.Negate() : set);
        }
        if (c == '(')
        {
            _i++;
            if (++_depth > RegexParser.MaxNesting) throw Error($"groups nested more than {RegexParser.MaxNesting} deep");
            var inner = Alternation(active);
            SkipSpace();
            if (_i >= _text.Length || _text[_i] != ')') throw Error("missing ')'");
            _i++;
            _depth--;
            return inner;
        }
        if (c == '.') { _i++; return new Chars(CharSet.Any); }
        if (char.IsLetter(c) || c == '_')
        {
            int start = _i;
            while (_i < _text.Length && (char.IsLetterOrDigit(_text[_i]) || _text[_i] is '-' or '_' or '.')) _i++;
            string name = _text[start.._i];
            int save = _i, saveOffset = _offset;
            string saveText = _text;
            var node = Expand(name, active);
            (_text, _i, _offset) = (saveText, save, saveOffset);
            return node;
        }
        throw Error($"unexpected '{c}'");
    }

    int Char()
    {
        if (_text[_i] != '\\')
        {
            int cp = char.ConvertToUtf32(_text, _i);
            _i += char.IsHighSurrogate(_text[_i]) ? 2 : 1;
            return cp;
        }
        _i++;
        if (_i >= _text.Length) throw Error("trailing backslash");
        char e = _text[_i++];
        return e switch
        {
            'n' => '\n', 't' => '\t', 'r' => '\r', '\\' => '\\', '"' => '"', '[' => '[', ']' => ']', '-' => '-', '^' => '^',
            'x' => Hex(2), 'u' => Hex(4), 'U' => Hex(8),
            _ => throw Error($"unknown escape \\{e}"),
        };
    }

    int Hex(int n)
    {
        if (_i + n > _text.Length || !int.TryParse(_text.AsSpan(_i, n), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int v)) throw Error($"expected {n} hex digits");
        if (v is < 0 or > CharSet.MaxCodePoint) throw Error($"escape {_text.Substring(_i - 2, n + 2)} is past U+10FFFF");
        _i += n;
        return v;
    }
}
