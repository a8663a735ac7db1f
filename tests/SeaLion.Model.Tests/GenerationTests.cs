using SeaLion.Model.Generation;
using SeaLion.Model.Llama;
using SeaLion.Model.Sampling;
using SeaLion.Tokenization;
using static TorchSharp.torch;

namespace SeaLion.Model.Tests;

[Collection("torch")]
public sealed class GenerationTests
{
    static readonly int[] Prompt = [128000, 9906, 11, 1917, 0];

    static (LlamaModel, BpeTokenizer) Load(ScalarType dtype = ScalarType.Float32)
    {
        string dir = TestModels.Get();
        return (LlamaModel.Load(dir, new ModelOptions { DType = dtype }), BpeTokenizer.FromDirectory(dir));
    }

    [Fact]
    public void Greedy_generation_follows_the_argmax_of_the_full_forward_pass()
    {
        var (model, tok) = Load();
        using var _ = model;
        var steps = SequenceGenerator.Generate(model, tok, Prompt, new SamplingParams { Temperature = 0, MaxTokens = 8, IgnoreEos = true }).ToList();
        Assert.Equal(8, steps.Count);
        Assert.Equal("length", steps[^1].FinishReason);
        Assert.All(steps[..^1], s => Assert.Null(s.FinishReason));
        // Teacher-forced check: each generated token is the argmax of a fresh full pass over everything before it.
        var context = Prompt.ToList();
        foreach (var s in steps)
        {
            var logits = TeacherForced.AllLogits(model, context.ToArray())[^1];
            Assert.Equal(Array.IndexOf(logits, logits.Max()), s.TokenId);
            context.Add(s.TokenId);
        }
        Assert.Equal(tok.Decode(steps.Select(s => s.TokenId), skipSpecialTokens: true), string.Concat(steps.Select(s => s.TextDelta)));
    }

    [Fact]
    public void Seeded_sampling_reproduces_and_different_seeds_diverge()
    {
        var (model, tok) = Load();
        using var _ = model;
        int[] Run(long seed) => SequenceGenerator.Generate(model, tok, Prompt,
            new SamplingParams { Temperature = 1.0, TopP = 0.95, Seed = seed, MaxTokens = 12, IgnoreEos = true }).Select(s => s.TokenId).ToArray();
        Assert.Equal(Run(1234), Run(1234));
        Assert.NotEqual(Run(1234), Run(99));
    }

    [Fact]
    public void Stop_token_ends_generation_with_reason_stop()
    {
        var (model, tok) = Load();
        using var _ = model;
        var greedy = SequenceGenerator.Generate(model, tok, Prompt, new SamplingParams { Temperature = 0, MaxTokens = 6, IgnoreEos = true }).ToList();
        int third = greedy[2].TokenId;
        var stopped = SequenceGenerator.Generate(model, tok, Prompt,
            new SamplingParams { Temperature = 0, MaxTokens = 6, IgnoreEos = true, StopTokenIds = [third] }).ToList();
        Assert.Equal(greedy.Take(3).Select(s => s.TokenId), stopped.Select(s => s.TokenId).Take(3));
        Assert.True(stopped.Count <= 3 && stopped[^1].FinishReason == "stop", $"stopped after {stopped.Count} with {stopped[^1].FinishReason}");
    }

    [Fact]
    public void Stop_string_truncates_the_text_before_it()
    {
        var (model, tok) = Load();
        using var _ = model;
        var greedy = SequenceGenerator.Generate(model, tok, Prompt, new SamplingParams { Temperature = 0, MaxTokens = 10, IgnoreEos = true }).ToList();
        string text = string.Concat(greedy.Select(s => s.TextDelta));
        string stop = text.Substring(text.Length / 2, 3);
        var stopped = SequenceGenerator.Generate(model, tok, Prompt, new SamplingParams { Temperature = 0, MaxTokens = 10, IgnoreEos = true, Stop = [stop] }).ToList();
        Assert.Equal("stop", stopped[^1].FinishReason);
        Assert.Equal(text[..text.IndexOf(stop, StringComparison.Ordinal)], string.Concat(stopped.Select(s => s.TextDelta)));
    }

    [Fact]
    public void Prompt_plus_max_tokens_over_the_context_is_rejected_with_both_numbers()
    {
        var (model, tok) = Load();
        using var _ = model;
        var e = Assert.Throws<ArgumentException>(() => SequenceGenerator.Generate(model, tok, Prompt, new SamplingParams { MaxTokens = 8190 }).ToList());
        Assert.Contains("8190", e.Message);
        Assert.Contains("8192", e.Message);
    }
}

public sealed class StopStringsTests
{
    static (string Text, bool Stopped) Feed(string[] stops, params string[] deltas)
    {
        var s = new StopStrings(stops);
        string outText = string.Concat(deltas.Select(s.Push)) + s.Flush();
        return (outText, s.Stopped);
    }

    [Fact]
    public void Stop_string_split_across_deltas_is_caught_and_never_emitted()
    {
        var s = new StopStrings(["END"]);
        Assert.Equal("abc ", s.Push("abc E"));    // "E" could start "END": held back
        Assert.Equal("", s.Push("N"));
        Assert.Equal("", s.Push("Dxyz"));
        Assert.True(s.Stopped);
    }

    [Fact]
    public void Held_back_text_is_released_when_it_cannot_be_a_stop()
    {
        Assert.Equal(("abc Ex", false), Feed(["END"], "abc E", "x"));
        Assert.Equal(("a", true), Feed(["cd", "bcd"], "ab", "cd"));    // earliest match wins: "bcd" starts at 1
    }

    [Fact]
    public void Without_stops_everything_passes_through() => Assert.Equal(("hello", false), Feed([], "hel", "lo"));
}
