using System.Buffers;
using System.Globalization;
using System.Text;

namespace SeaLion.Tokenization;

/// <summary>One entry of tokenizer.json "added_tokens".</summary>
internal sealed record AddedTokenSpec(
    int Id, string Content, bool Special, bool SingleWord, bool LStrip, bool RStrip, bool Normalized);

/// <summary>A run of the input: an added token (TokenId &gt;= 0) or plain text to pre-tokenize (-1).</summary>
internal readonly record struct TextSegment(int Start, int Length, int TokenId);

/// <summary>
/// Splits raw text on added tokens before pre-tokenization, as HF's AddedVocabulary does: first the
/// non-normalized tokens over the whole text, then the normalized ones over the remaining plain runs
/// (there is no normalizer, so both match raw text). Matching is leftmost-longest and, like aho-corasick's
/// iterator, resumes after a match even when that match is then discarded (not a single word, or a special
/// token while special parsing is off), so a discarded match hides any match overlapping it.
/// </summary>
internal sealed class AddedTokenSplitter
{
    private readonly TokenTrie _raw;
    private readonly TokenTrie _normalized;

    public AddedTokenSplitter(IEnumerable<AddedTokenSpec> tokens)
    {
        var list = tokens.Where(t => t.Content.Length > 0).ToList();
        _raw = new TokenTrie(list.Where(t => !t.Normalized));
        _normalized = new TokenTrie(list.Where(t => t.Normalized));
    }

    public void Split(string text, bool parseSpecial, List<TextSegment> segments)
    {
        var firstPass = new List<TextSegment>();
        FindMatches(text, 0, text.Length, _raw, parseSpecial, firstPass);
        foreach (var segment in firstPass)
        {
            if (segment.TokenId >= 0) segments.Add(segment);
            else FindMatches(text, segment.Start, segment.Start + segment.Length, _normalized, parseSpecial, segments);
        }
    }

    private static void FindMatches(
        string text, int start, int end, TokenTrie trie, bool parseSpecial, List<TextSegment> segments)
    {
        int offset = start;
        int i = start;
        while (!trie.IsEmpty && i < end)
        {
            int skip = text.AsSpan(i, end - i).IndexOfAny(trie.FirstChars);
            if (skip < 0) break;
            i += skip;
            if (!trie.TryMatchLongest(text.AsSpan(i, end - i), out int matchLength, out AddedTokenSpec? token))
            {
                i++;
                continue;
            }
            int s = i, e = i + matchLength;
            i = e;
            if (token.Special && !parseSpecial) continue;
            if (token.SingleWord && ((s > start && EndsWithWordChar(text.AsSpan(start, s - start)))
                || (e < end && StartsWithWordChar(text.AsSpan(e, end - e)))))
            {
                continue;
            }
            if (token.LStrip)
            {
                while (s > start && char.IsWhiteSpace(text[s - 1])) s--;
                s = Math.Max(s, offset);
            }
            if (token.RStrip)
            {
                while (e < end && char.IsWhiteSpace(text[e])) e++;
                i = e;
            }
            if (offset < s) segments.Add(new TextSegment(offset, s - offset, -1));
            segments.Add(new TextSegment(s, e - s, token.Id));
            offset = e;
        }
        if (offset < end) segments.Add(new TextSegment(offset, end - offset, -1));
    }

    private static bool StartsWithWordChar(ReadOnlySpan<char> text)
    {
        Rune.DecodeFromUtf16(text, out Rune r, out _);
        return IsWordChar(r);
    }

    private static bool EndsWithWordChar(ReadOnlySpan<char> text)
    {
        Rune.DecodeLastFromUtf16(text, out Rune r, out _);
        return IsWordChar(r);
    }

    /// <summary>Approximates Rust regex's Unicode \w: letters, marks, decimal digits, connectors, ZWNJ/ZWJ.</summary>
    private static bool IsWordChar(Rune r) => r.Value is 0x200C or 0x200D || Rune.GetUnicodeCategory(r) switch
    {
        UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
            or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter or UnicodeCategory.LetterNumber
            or UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark
            or UnicodeCategory.EnclosingMark or UnicodeCategory.DecimalDigitNumber
            or UnicodeCategory.ConnectorPunctuation => true,
        _ => false,
    };

    /// <summary>Character trie over token contents; a node's terminal is the token ending there.</summary>
    private sealed class TokenTrie
    {
        private readonly Dictionary<(int Node, char Char), int> _edges = [];
        private readonly List<AddedTokenSpec?> _terminals = [null];

        public TokenTrie(IEnumerable<AddedTokenSpec> tokens)
        {
            var firstChars = new HashSet<char>();
            foreach (var token in tokens)
            {
                int node = 0;
                foreach (char c in token.Content)
                {
                    if (!_edges.TryGetValue((node, c), out int child))
                    {
                        child = _terminals.Count;
                        _terminals.Add(null);
                        _edges[(node, c)] = child;
                    }
                    node = child;
                }
                // A content listed twice keeps its last entry, as HF's map insert does.
                _terminals[node] = token;
                firstChars.Add(token.Content[0]);
            }
            FirstChars = SearchValues.Create([.. firstChars]);
            IsEmpty = firstChars.Count == 0;
        }

        public SearchValues<char> FirstChars { get; }

        public bool IsEmpty { get; }

        /// <summary>Longest token that is a prefix of <paramref name="text"/>.</summary>
        public bool TryMatchLongest(ReadOnlySpan<char> text, out int length,
            [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out AddedTokenSpec? token)
        {
            token = null;
            length = 0;
            int node = 0;
            for (int i = 0; i < text.Length; i++)
            {
                if (!_edges.TryGetValue((node, text[i]), out node)) break;
                if (_terminals[node] is { } hit)
                {
                    token = hit;
                    length = i + 1;
                }
            }
            return token is not null;
        }
    }
}
