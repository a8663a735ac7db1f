namespace SeaLion.Tokenization.Tests;

public sealed class PreTokenizerTests
{
    // Expected pieces were produced by Oniguruma itself (libonig 6.9, the engine HF tokenizers uses)
    // running the Llama 3 pattern with find_iter.
    public static TheoryData<string, string[]> OnigurumaSplits => new()
    {
        { "a  \u000A\u000A  b", ["a", "  \u000A\u000A", " ", " b"] },
        { "I'M they'LL it'\u017F x'\u017Ft", ["I", "'M", " they", "'LL", " it", "'\u017F", " x", "'\u017F", "t"] },
        { "x \u0085 z", ["x", " \u0085", " z"] },
        { "ab\uFEFFc", ["ab", "\uFEFFc"] },
        { "\U0001D400\U0001D401 \U00020000", ["\U0001D400\U0001D401", " \U00020000"] },
        { "12345678 \u0661\u0662\u0663\u0664", ["123", "456", "78", " ", "\u0661\u0662\u0663", "\u0664"] },
        { "a\u000D\u000A\u000D\u000A b", ["a", "\u000D\u000A\u000D\u000A", " b"] },
        { "  hi\u0009\u0009there  ", [" ", " hi", "\u0009", "\u0009there", "  "] },
        { "   a", ["  ", " a"] },
        { "a \u00A0b", ["a", " ", "\u00A0b"] },
        { "!!!\u000A\u000Ax", ["!!!\u000A\u000A", "x"] },
        { " ?!\u000D\u000A\u000D\u000Aok", [" ?!\u000D\u000A\u000D\u000A", "ok"] },
        { "x\u000A \u000A", ["x", "\u000A \u000A"] },
        { "\u0009\u000B\u000C x", ["\u0009\u000B\u000C", " x"] },
        { "a\u2028b", ["a", "\u2028b"] },
        { "\u3000\u3000\u65E5\u672C", ["\u3000", "\u3000\u65E5\u672C"] },
        { "e\u0301t\u00E9", ["e", "\u0301t\u00E9"] },
        { " \U0001F600\U0001F600x", [" \U0001F600\U0001F600", "x"] },
        { "'\u000A", ["'\u000A"] },
        { "hello   ", ["hello", "   "] },
        { "\u000D \u000D", ["\u000D \u000D"] },
        { "\u0E17\u0E35\u0E48\u0E19\u0E35\u0E48", ["\u0E17", "\u0E35\u0E48", "\u0E19", "\u0E35\u0E48"] },
        { "'s'S'\u017F'T're'VE'm'Ll'd'x", ["'s", "'S", "'\u017F", "'T", "'re", "'VE", "'m", "'Ll", "'d", "'x"] },
        { "don't", ["don", "'t"] },
        { "$'s", ["$'", "s"] },
        { "\u00BD\u2167x", ["\u00BD\u2167", "x"] },
        { "<|eot", ["<|", "eot"] },
    };

    [Theory]
    [MemberData(nameof(OnigurumaSplits))]
    public void Splits_like_oniguruma(string text, string[] expected) => Assert.Equal(expected, Split(text));

    [Fact]
    public void Lone_surrogates_split_like_replacement_characters()
    {
        Assert.Equal(["a", "\uD800b"], Split("a\uD800b"));
        Assert.Equal(["a", "\uFFFDb"], Split("a\uFFFDb"));
        Assert.Equal(["x", " \uDC00"], Split("x \uDC00"));
        Assert.Equal(["\uD83D"], Split("\uD83D"));
    }

    [Fact]
    public void Pieces_tile_the_input()
    {
        string text = string.Concat(Enumerable.Range(0, 2000).Select(i => (char)(i * 7919 % 0x3000 + 1)));
        Assert.Equal(text, string.Concat(Split(text)));
    }

    private static List<string> Split(string text)
    {
        var pieces = new List<string>();
        for (int p = 0; p < text.Length;)
        {
            int end = Llama3PreTokenizer.NextPieceEnd(text, p);
            Assert.True(end > p);
            pieces.Add(text[p..end]);
            p = end;
        }
        return pieces;
    }
}
