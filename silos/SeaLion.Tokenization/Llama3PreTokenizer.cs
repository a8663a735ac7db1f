using System.Globalization;
using System.Text;

namespace SeaLion.Tokenization;

/// <summary>
/// Hand-written equivalent of HF's Split pre-tokenizer (behaviour Isolated) with the Llama 3 pattern
/// <see cref="Pattern"/> as Oniguruma runs it: on Unicode code points, leftmost-first alternation with
/// backtracking. Every code point is matched by some alternative and none can match empty, so the pieces
/// tile the input with no gaps. Classes: \p{L} = Lu Ll Lt Lm Lo; \p{N} = Nd Nl No; \s = U+0009-000D,
/// U+0085, Zs, Zl, Zp (what <see cref="Rune.IsWhiteSpace"/> tests). A lone surrogate counts as U+FFFD
/// (category So), matching the bytes EF BF BD the BPE step then sees.
/// </summary>
internal static class Llama3PreTokenizer
{
    public const string Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private enum Kind : byte { Other, Letter, Number, Space, Newline }

    private static readonly Kind[] AsciiKinds = BuildAsciiKinds();

    /// <summary>
    /// End (exclusive, UTF-16 index) of the piece that starts at <paramref name="p"/>; p &lt; text.Length.
    /// </summary>
    public static int NextPieceEnd(ReadOnlySpan<char> text, int p)
    {
        Kind k0 = KindAt(text, p, out int w0, out char c0);

        // 1. (?i:'s|'t|'re|'ve|'m|'ll|'d): apostrophe plus one suffix, case-insensitive with Unicode
        //    simple folding (U+017F long s folds to s); no suffix is a prefix of another, so order is moot.
        if (c0 == '\'')
        {
            int suffix = ContractionLength(text, p + 1);
            if (suffix > 0) return p + 1 + suffix;
        }

        // 2. [^\r\n\p{L}\p{N}]?\p{L}+ : a maximal letter run, optionally preceded by exactly one code point
        //    that is not CR, LF, letter or number (so a space, tab, NBSP, punctuation or mark can lead).
        if (k0 == Kind.Letter) return LetterRunEnd(text, p + w0);
        if (k0 != Kind.Number && k0 != Kind.Newline && p + w0 < text.Length
            && KindAt(text, p + w0, out int w1, out _) == Kind.Letter)
        {
            return LetterRunEnd(text, p + w0 + w1);
        }

        // 3. \p{N}{1,3} : one to three numbers, greedy.
        if (k0 == Kind.Number)
        {
            int end = p + w0;
            for (int n = 1; n < 3 && end < text.Length; n++)
            {
                if (KindAt(text, end, out int w, out _) != Kind.Number) break;
                end += w;
            }
            return end;
        }

        // 4. " ?[^\s\p{L}\p{N}]+[\r\n]*" : optional U+0020, a maximal run of "other" code points (not
        //    whitespace, letter or number), then every CR/LF that follows. With a leading space but no
        //    "other" after it, the alternative fails (the space itself is \s).
        int q = c0 == ' ' ? p + 1 : p;
        if (q < text.Length && KindAt(text, q, out _, out _) == Kind.Other)
        {
            while (q < text.Length && KindAt(text, q, out int w, out _) == Kind.Other) q += w;
            while (q < text.Length && (text[q] == '\r' || text[q] == '\n')) q++;
            return q;
        }

        // Here c0 is whitespace. Let the maximal whitespace run be [p, runEnd); all \s are BMP chars.
        int runEnd = p;
        int lastNewline = -1;
        while (runEnd < text.Length)
        {
            Kind k = KindAt(text, runEnd, out _, out _);
            if (k == Kind.Newline) lastNewline = runEnd;
            else if (k != Kind.Space) break;
            runEnd++;
        }

        // 5. \s*[\r\n]+ : \s* backtracks until [\r\n]+ fits, so the match ends just after the LAST CR/LF
        //    of the run (the char after it is not CR/LF, so [\r\n]+ takes only that one).
        if (lastNewline >= 0) return lastNewline + 1;

        // 6. \s+(?!\S) : the whole run at end of text; otherwise the run minus its last char (which is then
        //    followed by whitespace), failing when that leaves nothing.
        if (runEnd == text.Length) return runEnd;
        if (runEnd - 1 > p) return runEnd - 1;

        // 7. \s+ : a single whitespace char followed by a non-space.
        return runEnd;
    }

    private static int LetterRunEnd(ReadOnlySpan<char> text, int i)
    {
        while (i < text.Length && KindAt(text, i, out int w, out _) == Kind.Letter) i += w;
        return i;
    }

    /// <summary>UTF-16 length of the contraction suffix at <paramref name="i"/>, or 0 if none.</summary>
    private static int ContractionLength(ReadOnlySpan<char> text, int i)
    {
        if (i >= text.Length) return 0;
        char a = text[i];
        if (a == 's' || a == 'S' || a == '\u017F' || a == 't' || a == 'T' || a == 'm' || a == 'M'
            || a == 'd' || a == 'D')
        {
            return 1;
        }
        if (i + 1 >= text.Length) return 0;
        char b = text[i + 1];
        bool twoLetter = ((a == 'r' || a == 'R') && (b == 'e' || b == 'E'))
            || ((a == 'v' || a == 'V') && (b == 'e' || b == 'E'))
            || ((a == 'l' || a == 'L') && (b == 'l' || b == 'L'));
        return twoLetter ? 2 : 0;
    }

    /// <summary>Kind of the code point at <paramref name="i"/>; width is its UTF-16 length.</summary>
    private static Kind KindAt(ReadOnlySpan<char> text, int i, out int width, out char first)
    {
        char c = text[i];
        first = c;
        width = 1;
        if (c < 128) return AsciiKinds[c];
        Rune r;
        if (!char.IsSurrogate(c)) r = new Rune(c);
        else if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
        {
            r = new Rune(c, text[i + 1]);
            width = 2;
        }
        else return Kind.Other;
        if (Rune.IsWhiteSpace(r)) return Kind.Space;
        return Rune.GetUnicodeCategory(r) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => Kind.Letter,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber
                or UnicodeCategory.OtherNumber => Kind.Number,
            _ => Kind.Other,
        };
    }

    private static Kind[] BuildAsciiKinds()
    {
        var kinds = new Kind[128];
        for (int c = 0; c < 128; c++)
        {
            kinds[c] = c switch
            {
                '\r' or '\n' => Kind.Newline,
                '\t' or '\v' or '\f' or ' ' => Kind.Space,
                >= 'a' and <= 'z' or >= 'A' and <= 'Z' => Kind.Letter,
                >= '0' and <= '9' => Kind.Number,
                _ => Kind.Other,
            };
        }
        return kinds;
    }
}
