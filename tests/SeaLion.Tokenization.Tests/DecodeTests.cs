using System.Text;

namespace SeaLion.Tokenization.Tests;

public sealed class DecodeTests
{
    public static TheoryData<int> Cases => TestAssets.CaseIndices();

    [Theory]
    [MemberData(nameof(Cases))]
    public void Decode_of_encode_round_trips(int index)
    {
        var c = TestAssets.Cases[index];
        var t = TestAssets.Tokenizer;
        Assert.Equal(c.Text, t.Decode(t.Encode(c.Text)));
        Assert.Equal(c.Text, t.Decode(c.Ids));
    }

    [Fact]
    public void Special_tokens_are_kept_or_skipped()
    {
        var t = TestAssets.Tokenizer;
        int[] ids = [128000, 9906, 1917, 128009];
        Assert.Equal("<|begin_of_text|>Hello world<|eot_id|>", t.Decode(ids));
        Assert.Equal("Hello world", t.Decode(ids, skipSpecialTokens: true));
    }

    // Expected strings follow Rust's String::from_utf8_lossy: one U+FFFD per maximal ill-formed subpart.
    [Theory]
    [InlineData(new byte[] { 0xF0, 0x9F, 0x98, 0x41 }, "\uFFFDA")]
    [InlineData(new byte[] { 0xE0, 0x80 }, "\uFFFD\uFFFD")]
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 }, "\uFFFD\uFFFD\uFFFD")]
    [InlineData(new byte[] { 0xC0, 0xAF }, "\uFFFD\uFFFD")]
    [InlineData(new byte[] { 0xF4, 0x90, 0x80, 0x80 }, "\uFFFD\uFFFD\uFFFD\uFFFD")]
    [InlineData(new byte[] { 0x61, 0x80, 0x62 }, "a\uFFFDb")]
    [InlineData(new byte[] { 0xE2, 0x82 }, "\uFFFD")]
    [InlineData(new byte[] { 0xF0, 0x9F, 0x98, 0x80 }, "\U0001F600")]
    [InlineData(new byte[] { 0xE0, 0xB8, 0x81, 0xE0, 0xB8 }, "\u0E01\uFFFD")]
    public void Invalid_utf8_decodes_like_from_utf8_lossy(byte[] bytes, string expected)
    {
        int[] ids = bytes.Select(TestAssets.ByteToken).ToArray();
        Assert.Equal(expected, TestAssets.Tokenizer.Decode(ids));
    }

    [Fact]
    public void Token_bytes_are_raw_bytes_or_special_content()
    {
        var t = TestAssets.Tokenizer;
        int the = t.TokenToId("\u0120the") ?? throw new InvalidOperationException("no Ġthe");
        Assert.Equal(" the"u8.ToArray(), t.TokenBytes(the));
        Assert.Equal("<|eot_id|>"u8.ToArray(), t.TokenBytes(128009));
        Assert.Equal(new byte[] { 0x0A }, t.TokenBytes(TestAssets.ByteToken(0x0A)));
        // A copy: mutating it does not change the tokenizer.
        t.TokenBytes(the)[0] = (byte)'X';
        Assert.Equal(" the", t.Decode([the]));
    }

    [Fact]
    public void Token_strings_and_ids_map_both_ways()
    {
        var t = TestAssets.Tokenizer;
        Assert.Equal(128009, t.TokenToId("<|eot_id|>"));
        Assert.Equal("<|eot_id|>", t.IdToToken(128009));
        Assert.Equal("Hello", t.IdToToken(9906));
        Assert.Equal(9906, t.TokenToId("Hello"));
        Assert.Null(t.TokenToId("definitely not a token"));
        Assert.True(t.IsSpecial(128009));
        Assert.False(t.IsSpecial(9906));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(128256)]
    [InlineData(int.MaxValue)]
    public void Out_of_range_ids_name_the_id_and_vocab_size(int id)
    {
        var t = TestAssets.Tokenizer;
        foreach (Action call in new Action[]
        {
            () => t.Decode([1, id]),
            () => t.TokenBytes(id),
            () => t.CreateDetokenizer().Push(id),
            () => t.IdToToken(id),
            () => t.IsSpecial(id),
        })
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(call);
            Assert.Contains(id.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message);
            Assert.Contains("128256", e.Message);
        }
    }

    [Fact]
    public void Decode_matches_utf8_of_concatenated_token_bytes()
    {
        var t = TestAssets.Tokenizer;
        int[] ids = [9906, TestAssets.ByteToken(0xE0), TestAssets.ByteToken(0xB8), 1917];
        var bytes = ids.SelectMany(t.TokenBytes).ToArray();
        Assert.Equal(Encoding.UTF8.GetString(bytes), t.Decode(ids));
        Assert.Equal("Hello\uFFFD world", t.Decode(ids));
    }
}
