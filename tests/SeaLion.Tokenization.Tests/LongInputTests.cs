namespace SeaLion.Tokenization.Tests;

/// <summary>What one request can cost: a long run of one character is one pre-token that BPE merges at length.</summary>
public sealed class LongInputTests
{
    [Fact]
    public void Merge_pair_keys_spread_over_hash_buckets()
    {
        // long's own hash (high word ^ low word) is 0 for every pair of a token with itself: Llama 3's 548 such merges
        // shared one bucket, and 1 MiB of "a" (or spaces, or "!") took ~20 s to encode instead of ~1 s.
        var model = TestAssets.Tokenizer.Model;
        var buckets = model.PairKeys.GroupBy(model.PairKeyComparer.GetHashCode).Select(g => g.Count()).ToArray();
        Assert.True(model.PairKeys.Count > 280_000);
        Assert.True(buckets.Max() <= 4, $"{buckets.Max()} merge pairs share one hash");
        long selfPairs = model.PairKeys.Count(k => (int)k == (int)(k >> 32));
        Assert.True(selfPairs > 500);   // the keys that collided before are there
    }

    [Fact]
    public void A_long_run_of_one_character_encodes_as_its_chunks_do()
    {
        // 8 "a" is one Llama 3 token; 64 KiB of "a" is 8,192 of it, however it is merged.
        var tok = TestAssets.Tokenizer;
        int eight = Assert.Single(tok.Encode("aaaaaaaa", addBos: false));
        Assert.Equal(Enumerable.Repeat(eight, 8192), tok.Encode(new string('a', 65_536), addBos: false));
    }
}
