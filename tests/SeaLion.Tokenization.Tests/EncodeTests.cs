using System.Text;

namespace SeaLion.Tokenization.Tests;

public sealed class EncodeTests
{
    public static TheoryData<int> Cases => TestAssets.CaseIndices();

    [Theory]
    [MemberData(nameof(Cases))]
    public void Encode_matches_the_oracle(int index)
    {
        var c = TestAssets.Cases[index];
        int[] actual = TestAssets.Tokenizer.Encode(c.Text);
        Assert.True(c.Ids.SequenceEqual(actual),
            $"text {Escape(c.Text)}\nexpected [{string.Join(",", c.Ids)}]\nactual   [{string.Join(",", actual)}]");
    }

    [Fact]
    public void Fixture_set_is_large_and_covers_special_tokens_and_empty_text()
    {
        Assert.True(TestAssets.Cases.Count >= 150);
        Assert.Contains(TestAssets.Cases, c => c.Text.Length == 0 && c.Ids.Length == 0);
        Assert.Contains(TestAssets.Cases, c => c.Ids.Contains(128009));
    }

    [Fact]
    public void AddBos_prepends_the_bos_id()
    {
        var t = TestAssets.Tokenizer;
        Assert.Equal([128000, 9906, 1917], t.Encode("Hello world", addBos: true));
        Assert.Equal([128000], t.Encode("", addBos: true));
    }

    [Fact]
    public void Without_parseSpecial_special_token_text_is_plain_text()
    {
        var t = TestAssets.Tokenizer;
        Assert.Equal([128009], t.Encode("<|eot_id|>"));
        int[] plain = t.Encode("<|eot_id|>", parseSpecial: false);
        Assert.DoesNotContain(plain, id => t.IsSpecial(id));
        Assert.True(plain.Length > 1);
        Assert.Equal("<|eot_id|>", t.Decode(plain));
    }

    [Fact]
    public void Lone_surrogates_encode_as_replacement_character()
    {
        var t = TestAssets.Tokenizer;
        Assert.Equal(t.Encode("a\uFFFDb"), t.Encode("a\uD800b"));
        Assert.Equal(t.Encode("x \uFFFD"), t.Encode("x \uDC00"));
        Assert.Equal(t.Encode("\uFFFD"), t.Encode("\uD83D"));
        Assert.Equal("\uFFFD", t.Decode(t.Encode("\uD83D")));
    }

    [Fact]
    public void Encode_is_consistent_across_threads_with_a_cold_cache()
    {
        var fresh = BpeTokenizer.FromDirectory(TestAssets.TokenizerDir);
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, TestAssets.Cases.Count * 4, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            var c = TestAssets.Cases[i % TestAssets.Cases.Count];
            if (!fresh.Encode(c.Text).SequenceEqual(c.Ids)) failures.Add(c.Text);
        });
        Assert.Empty(failures);
    }

    [Fact]
    public void Long_pieces_beyond_cache_and_stack_limits_match_short_piece_logic()
    {
        var t = TestAssets.Tokenizer;
        string word = string.Concat(Enumerable.Repeat("abcdefghij", 300));
        int[] ids = t.Encode(word);
        Assert.Equal(word, t.Decode(ids));
        // Repeating the encode (now from the same code path, uncached) must be deterministic.
        Assert.Equal(ids, t.Encode(word));
        string spaces = new(' ', 5000);
        Assert.Equal(spaces + "x", t.Decode(t.Encode(spaces + "x")));
    }

    internal static string Escape(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (char ch in s) sb.Append(ch < 0x20 || ch > 0x7E ? $"\\u{(int)ch:X4}" : ch.ToString());
        return sb.Append('"').ToString();
    }
}
