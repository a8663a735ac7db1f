using System.Text;

namespace SeaLion.Tokenization.Tests;

public sealed class IncrementalDetokenizerTests
{
    public static TheoryData<int> Cases => TestAssets.CaseIndices();

    [Theory]
    [MemberData(nameof(Cases))]
    public void Streamed_text_equals_decode_and_never_splits_a_character(int index)
    {
        var t = TestAssets.Tokenizer;
        int[] ids = TestAssets.Cases[index].Ids;
        foreach (bool skip in new[] { true, false })
        {
            string full = t.Decode(ids, skipSpecialTokens: skip);
            var detok = t.CreateDetokenizer(skip);
            var emitted = new StringBuilder();
            foreach (int id in ids)
            {
                string piece = detok.Push(id);
                AssertWellFormed(piece);
                emitted.Append(piece);
                // Anything emitted is final: it must be a prefix of the whole decode.
                Assert.StartsWith(emitted.ToString(), full, StringComparison.Ordinal);
            }
            emitted.Append(detok.Flush());
            Assert.Equal(full, emitted.ToString());
        }
    }

    [Fact]
    public void Fixtures_include_characters_split_across_tokens()
    {
        var t = TestAssets.Tokenizer;
        int held = 0;
        foreach (var c in TestAssets.Cases)
        {
            var detok = t.CreateDetokenizer();
            foreach (int id in c.Ids)
            {
                if (t.TokenBytes(id).Length > 0 && detok.Push(id).Length == 0) held++;
            }
        }
        Assert.True(held >= 10, $"only {held} tokens were held back");
    }

    [Fact]
    public void Emoji_fed_byte_by_byte_appears_once_complete()
    {
        var detok = TestAssets.Tokenizer.CreateDetokenizer();
        byte[] bytes = Encoding.UTF8.GetBytes("\U0001F600");
        Assert.Equal(["", "", "", "\U0001F600"], bytes.Select(b => detok.Push(TestAssets.ByteToken(b))).ToArray());
        Assert.Equal("", detok.Flush());
    }

    [Fact]
    public void Sequence_that_can_never_be_valid_is_replaced_where_lossy_decoding_puts_it()
    {
        var detok = TestAssets.Tokenizer.CreateDetokenizer();
        Assert.Equal("", detok.Push(TestAssets.ByteToken(0xF0)));
        Assert.Equal("", detok.Push(TestAssets.ByteToken(0x9F)));
        Assert.Equal("\uFFFDA", detok.Push(TestAssets.ByteToken((byte)'A')));
        Assert.Equal("\uFFFD", detok.Push(TestAssets.ByteToken(0x80)));
        Assert.Equal("", detok.Push(TestAssets.ByteToken(0xE0)));
        Assert.Equal("\uFFFD\uFFFD", detok.Push(TestAssets.ByteToken(0x80)));
        Assert.Equal("", detok.Push(TestAssets.ByteToken(0xED)));
        Assert.Equal("\uFFFD\uFFFD", detok.Push(TestAssets.ByteToken(0xA0)));
    }

    [Fact]
    public void Flush_replaces_an_unfinished_character_and_resets()
    {
        var detok = TestAssets.Tokenizer.CreateDetokenizer();
        Assert.Equal("", detok.Push(TestAssets.ByteToken(0xE0)));
        Assert.Equal("", detok.Push(TestAssets.ByteToken(0xB8)));
        Assert.Equal("\uFFFD", detok.Flush());
        Assert.Equal("", detok.Flush());
        Assert.Equal("Hello", detok.Push(9906));
    }

    [Fact]
    public void Special_tokens_are_skipped_by_default_and_kept_on_request()
    {
        var t = TestAssets.Tokenizer;
        Assert.Equal("", t.CreateDetokenizer().Push(128009));
        Assert.Equal("<|eot_id|>", t.CreateDetokenizer(skipSpecialTokens: false).Push(128009));
    }

    [Fact]
    public void A_skipped_special_token_does_not_break_a_pending_character()
    {
        var t = TestAssets.Tokenizer;
        byte[] bytes = Encoding.UTF8.GetBytes("\u0E01");
        int[] ids = [TestAssets.ByteToken(bytes[0]), 128009, TestAssets.ByteToken(bytes[1]), TestAssets.ByteToken(bytes[2])];
        var detok = t.CreateDetokenizer();
        string streamed = string.Concat(ids.Select(detok.Push)) + detok.Flush();
        Assert.Equal("\u0E01", streamed);
        Assert.Equal(t.Decode(ids, skipSpecialTokens: true), streamed);
        var keep = t.CreateDetokenizer(skipSpecialTokens: false);
        Assert.Equal(t.Decode(ids), string.Concat(ids.Select(keep.Push)) + keep.Flush());
    }

    private static void AssertWellFormed(string s)
    {
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) i++;
            else Assert.False(char.IsSurrogate(s[i]), $"lone surrogate at {i} in {EncodeTests.Escape(s)}");
        }
    }
}
