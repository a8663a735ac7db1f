using SeaLion.Model.Sampling;

namespace SeaLion.Engine.Tests;

/// <summary>A stream cut after k tokens and resumed elsewhere from prompt + those tokens gives the uninterrupted stream.</summary>
[Collection("torch")]
public sealed class ResumeTests
{
    [Theory]
    [InlineData(0.9, 1)]
    [InlineData(0.9, 9)]
    [InlineData(0.0, 5)]
    public void A_resumed_seeded_request_continues_exactly_where_the_cut_stream_stopped(double temperature, int cutAfter)
    {
        using var model = Engines.TinyModel();
        var p = new SamplingParams { Temperature = temperature, TopP = 0.95, Seed = 1234, MaxTokens = 16, IgnoreEos = true, PresencePenalty = 0.5, FrequencyPenalty = 0.3 };
        int[] prompt = Engines.Prompt(30, 3);
        List<EngineOutput> whole;
        using (var core = Engines.TorchCore(model, 64, new SchedulerOptions()))
            whole = Engines.RunAll(core, [(0, new GenerateRequest(prompt, p, "a"))])["a"];

        // Another engine (a fresh cache) resumes from what the first had delivered after cutAfter tokens.
        var delivered = whole.Take(cutAfter).ToList();
        List<EngineOutput> rest;
        using (var core = Engines.TorchCore(model, 64, new SchedulerOptions()))
            rest = Engines.RunAll(core, [(0, new GenerateRequest(prompt, p, "b", Engines.Tokens(delivered)))])["b"];

        Assert.Equal(Engines.Tokens(whole), Engines.Tokens(delivered).Concat(Engines.Tokens(rest)).ToArray());
        Assert.Equal(string.Concat(whole.Select(o => o.Text)), string.Concat(delivered.Select(o => o.Text)) + string.Concat(rest.Select(o => o.Text)));
        Assert.Equal(whole[^1].Usage, rest[^1].Usage! with { CachedTokens = whole[^1].Usage!.CachedTokens });
    }

    [Fact]
    public void Resuming_with_nothing_left_to_generate_is_refused()
    {
        using var model = Engines.TinyModel();
        using var core = Engines.TorchCore(model, 64, new SchedulerOptions());
        var e = Assert.Throws<ArgumentException>(() => core.Add(new GenerateRequest([1, 2, 3], new SamplingParams { MaxTokens = 2 }, "x", [5, 6]), _ => { }));
        Assert.Contains("leaves nothing to generate", e.Message);
    }
}
