using System.Text.Json.Nodes;

namespace SeaLion.Tokenization.Tests;

/// <summary>Merge order and added-token matching on tiny vocabularies (byte tokens are ids 0-255).</summary>
public sealed class BpeSemanticsTests
{
    [Fact]
    public void Equal_ranks_merge_leftmost_first()
    {
        using var dir = new MiniTokenizerDir(["aa"], ["a a"]);
        dir.Model["ignore_merges"] = false;
        Assert.Equal([256, 'a'], dir.Load().Encode("aaa"));
    }

    [Fact]
    public void Lowest_rank_merges_first()
    {
        using (var dir = new MiniTokenizerDir(["bc", "ab"], ["b c", "a b"]))
            Assert.Equal(['a', 256], dir.Load().Encode("abc"));
        using (var dir = new MiniTokenizerDir(["ab", "bc"], ["a b", "b c"]))
            Assert.Equal([256, 'c'], dir.Load().Encode("abc"));
    }

    [Fact]
    public void Merges_chain_through_new_neighbours()
    {
        using var dir = new MiniTokenizerDir(["ab", "abc"], ["a b", "ab c"]);
        Assert.Equal([257, 256], dir.Load().Encode("abcab"));
    }

    [Fact]
    public void Ignore_merges_emits_a_whole_vocab_word_directly()
    {
        using var dir = new MiniTokenizerDir(["abc"]);
        Assert.Equal([256], dir.Load().Encode("abc"));
        dir.Model["ignore_merges"] = false;
        Assert.Equal(['a', 'b', 'c'], dir.Load().Encode("abc"));
    }

    [Fact]
    public void Array_form_merges_are_accepted()
    {
        using var dir = new MiniTokenizerDir(["ab"]);
        dir.Model["merges"] = new JsonArray(new JsonArray("a", "b"));
        dir.Model["ignore_merges"] = false;
        Assert.Equal([256, 'c'], dir.Load().Encode("abc"));
    }

    [Fact]
    public void Added_tokens_match_leftmost_longest_before_pre_tokenization()
    {
        using var dir = new MiniTokenizerDir();
        var added = dir.Tokenizer["added_tokens"]!.AsArray();
        added.Add(NonSpecial(258, "ab"));
        added.Add(NonSpecial(259, "abc"));
        var t = dir.Load();
        Assert.Equal(['x', 259, 'd'], t.Encode("xabcd"));
        Assert.Equal([258, 256, 'b'], t.Encode("ab<s>b"));
        Assert.Equal("ab<s>b", t.Decode(t.Encode("ab<s>b")));
    }

    [Fact]
    public void Special_match_discarded_without_parseSpecial_still_hides_overlapping_tokens()
    {
        using var dir = new MiniTokenizerDir();
        var overlapping = NonSpecial(258, "s>x");
        overlapping["normalized"] = false;
        dir.Tokenizer["added_tokens"]!.AsArray().Add(overlapping);
        var t = dir.Load();
        Assert.Equal([256, 'x'], t.Encode("<s>x"));
        Assert.Equal(['<', 's', '>', 'x'], t.Encode("<s>x", parseSpecial: false));
        Assert.Equal(['a', 258], t.Encode("as>x", parseSpecial: false));
    }

    [Fact]
    public void Normalized_added_tokens_match_in_a_second_pass_over_the_plain_runs()
    {
        using var dir = new MiniTokenizerDir();
        dir.Tokenizer["added_tokens"]!.AsArray().Add(NonSpecial(258, "s>x"));
        var t = dir.Load();
        // First pass (non-normalized) matches "<s>" and leaves "x"; with special parsing off it leaves
        // the whole text, where the second pass then finds "s>x".
        Assert.Equal([256, 'x'], t.Encode("<s>x"));
        Assert.Equal(['<', 258], t.Encode("<s>x", parseSpecial: false));
    }

    [Fact]
    public void Lstrip_and_rstrip_absorb_surrounding_whitespace()
    {
        using var dir = new MiniTokenizerDir();
        var added = dir.Tokenizer["added_tokens"]!.AsArray();
        var mask = NonSpecial(258, "<m>");
        mask["lstrip"] = true;
        mask["rstrip"] = true;
        added.Add(mask);
        var t = dir.Load();
        Assert.Equal(['x', 258, 'y'], t.Encode("x  <m>\t y"));
    }

    [Fact]
    public void Single_word_tokens_only_match_outside_words()
    {
        using var dir = new MiniTokenizerDir();
        var word = NonSpecial(258, "hi");
        word["single_word"] = true;
        dir.Tokenizer["added_tokens"]!.AsArray().Add(word);
        var t = dir.Load();
        Assert.Equal([258, '!'], t.Encode("hi!"));
        Assert.Equal(['c', 'h', 'i'], t.Encode("chi"));
    }

    private static JsonObject NonSpecial(int id, string content) => new()
    {
        ["id"] = id, ["content"] = content, ["single_word"] = false, ["lstrip"] = false,
        ["rstrip"] = false, ["normalized"] = true, ["special"] = false,
    };
}
