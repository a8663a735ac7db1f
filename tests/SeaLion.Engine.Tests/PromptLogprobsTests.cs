using SeaLion.Model.Sampling;
using SeaLion.Model.Tests;

namespace SeaLion.Engine.Tests;

/// <summary>
/// Prompt logprobs (vLLM's prompt_logprobs, OpenAI's echo) against the naive reference forward pass: the
/// log-softmax of its fp64 logits at every prompt position, cold, on a prefix-cache hit, and batched.
/// </summary>
[Collection("torch")]
public sealed class PromptLogprobsTests
{
    const double Tolerance = 1e-4;
    static readonly NaiveLlama Naive = new(TestModels.Get());

    /// <summary>log_softmax of the naive logits at each position p, which predicts token p + 1.</summary>
    static double[][] NaiveLogprobs(int[] prompt) => Naive.Forward(prompt).Select(row =>
    {
        double max = row.Max(), lse = max + Math.Log(row.Sum(x => Math.Exp(x - max)));
        return row.Select(x => x - lse).ToArray();
    }).ToArray();

    static void AssertMatchesNaive(int[] prompt, IReadOnlyList<PromptLogprob> got, int topN)
    {
        var reference = NaiveLogprobs(prompt);
        Assert.Equal(prompt.Length - 1, got.Count);
        for (int i = 0; i < got.Count; i++)
        {
            var row = reference[i];
            var g = got[i];
            Assert.Equal(prompt[i + 1], g.TokenId);
            double want = row[g.TokenId];
            Assert.True(Math.Abs(g.Logprob - want) < Tolerance, $"position {i + 1}: logprob {g.Logprob}, naive {want}");
            // The rank counts the tokens more likely; a token within the tolerance of the chosen one may fall either side.
            int above = row.Count(x => x > want + Tolerance), aboveOrTied = row.Count(x => x > want - Tolerance) - 1;
            Assert.InRange(g.Rank, above + 1, aboveOrTied + 1);
            var best = row.OrderByDescending(x => x).Take(topN).ToArray();
            Assert.Equal(topN, g.Top.Count);
            for (int k = 0; k < topN; k++)
            {
                Assert.True(Math.Abs(g.Top[k].Logprob - best[k]) < Tolerance, $"position {i + 1}, top {k}: {g.Top[k].Logprob} vs naive {best[k]}");
                Assert.True(Math.Abs(row[g.Top[k].TokenId] - g.Top[k].Logprob) < Tolerance, $"position {i + 1}, top {k}: token {g.Top[k].TokenId}'s naive logprob differs");
            }
        }
    }

    static List<PromptLogprob> PromptLogprobsOf(List<EngineOutput> outs)
    {
        var with = outs.Where(o => o.PromptLogprobs is not null).ToList();
        Assert.Single(with);
        Assert.Same(outs[0], with[0]);   // on the first output, once
        return with[0].PromptLogprobs!.ToList();
    }

    [Fact]
    public void Echo_with_max_tokens_0_returns_the_prompt_logprobs_of_a_full_forward_pass_and_generates_nothing()
    {
        using var model = Engines.TinyModel();
        using var core = Engines.TorchCore(model, 32, new SchedulerOptions());
        int[] prompt = Engines.Prompt(37, 3);
        var outs = Engines.RunAll(core, [(0, new GenerateRequest(prompt, new SamplingParams { Temperature = 0, MaxTokens = 0, PromptLogprobs = 3 }, "e"))])["e"];
        AssertMatchesNaive(prompt, PromptLogprobsOf(outs), 3);
        Assert.Empty(Engines.Tokens(outs));
        Assert.Equal("length", outs[^1].FinishReason);
        Assert.Equal(new EngineUsage(prompt.Length, 0, 0), outs[^1].Usage);
        Assert.Equal(core.Kv.Pool.NumBlocks, core.Kv.Pool.FreeCount);
    }

    [Fact]
    public void On_a_prefix_cache_hit_the_cached_positions_are_recomputed_and_the_logprobs_are_the_same()
    {
        using var model = Engines.TinyModel();
        using var core = Engines.TorchCore(model, 32, new SchedulerOptions());
        int[] prompt = Engines.Prompt(53, 9);
        var plain = new SamplingParams { Temperature = 0, MaxTokens = 4, IgnoreEos = true };
        var warm = Engines.RunAll(core, [(0, new GenerateRequest(prompt, plain, "warm"))])["warm"];
        var again = Engines.RunAll(core, [(0, new GenerateRequest(prompt, plain, "again"))])["again"];
        Assert.Equal(48, again[^1].Usage!.CachedTokens);   // the prompt's 3 full blocks are in the cache
        var outs = Engines.RunAll(core, [(0, new GenerateRequest(prompt, plain with { PromptLogprobs = 2 }, "hit"))])["hit"];
        Assert.Equal(0, outs[^1].Usage!.CachedTokens);      // not read from the cache: the logits were recomputed
        AssertMatchesNaive(prompt, PromptLogprobsOf(outs), 2);
        Assert.Equal(Engines.Tokens(warm), Engines.Tokens(outs));
        // The next plain request still hits the cache.
        var after = Engines.RunAll(core, [(0, new GenerateRequest(prompt, plain, "after"))])["after"];
        Assert.Equal(48, after[^1].Usage!.CachedTokens);
    }

    [Fact]
    public void Batched_with_15_other_requests_and_chunked_each_prompts_logprobs_equal_the_naive_pass()
    {
        using var model = Engines.TinyModel();
        // A 40-token budget chunks the prompts and mixes prefill chunks with decodes of the others.
        using var core = Engines.TorchCore(model, 128, new SchedulerOptions { MaxBatchedTokens = 40, MaxSeqs = 16 });
        var requests = Enumerable.Range(0, 16).Select(i => (AtStep: i % 4, Request: new GenerateRequest(Engines.Prompt(12 + 5 * i, 40 + i),
            new SamplingParams { Temperature = 0, MaxTokens = 3 + i % 5, IgnoreEos = true, PromptLogprobs = i % 2 == 0 ? i % 6 : null, Logprobs = i % 3 == 0 ? 2 : null },
            $"b{i}"))).ToList();
        var outputs = Engines.RunAll(core, requests);
        foreach (var (_, req) in requests)
        {
            var outs = outputs[req.RequestId!];
            if (req.Sampling.PromptLogprobs is { } n) AssertMatchesNaive(req.PromptTokenIds, PromptLogprobsOf(outs), n);
            else Assert.All(outs, o => Assert.Null(o.PromptLogprobs));
            // Asking for prompt logprobs changes nothing else: the same tokens as the request run alone without them.
            using var alone = Engines.TorchCore(model, 32, new SchedulerOptions());
            var solo = Engines.RunAll(alone, [(0, req with { Sampling = req.Sampling with { PromptLogprobs = null } })])[req.RequestId!];
            Assert.Equal(Engines.Tokens(solo), Engines.Tokens(outs));
        }
        Assert.Equal(core.Kv.Pool.NumBlocks, core.Kv.Pool.FreeCount);
    }
}

/// <summary>min_tokens, logit_bias, include_stop_str_in_output and skip_special_tokens through the engine.</summary>
[Collection("torch")]
public sealed class SamplingControlsTests
{
    [Fact]
    public void Min_tokens_masks_the_stop_tokens_until_reached_and_logit_bias_steers_greedy_choice()
    {
        using var model = Engines.TinyModel();
        using var core = Engines.TorchCore(model, 64, new SchedulerOptions());
        int[] prompt = Engines.Prompt(9, 1);
        var greedy = new SamplingParams { Temperature = 0, MaxTokens = 6, IgnoreEos = true };
        int[] plain = Engines.Tokens(Engines.RunAll(core, [(0, new GenerateRequest(prompt, greedy, "plain"))])["plain"]);
        // The greedy first token as a stop token ends the request at once; with min_tokens 4 it cannot be sampled
        // before the 5th token, so at least 4 tokens come and none of the first 4 is that token.
        var stop = greedy with { StopTokenIds = [plain[0]] };
        var stopped = Engines.RunAll(core, [(0, new GenerateRequest(prompt, stop, "stopped"))])["stopped"];
        Assert.Equal([plain[0]], Engines.Tokens(stopped));
        Assert.Equal("stop", stopped[^1].FinishReason);
        var held = Engines.Tokens(Engines.RunAll(core, [(0, new GenerateRequest(prompt, stop with { MinTokens = 4 }, "held"))])["held"]);
        Assert.True(held.Length >= 4, $"min_tokens 4 gave {held.Length} tokens");
        Assert.DoesNotContain(plain[0], held.Take(4));
        // A +100 bias on a token makes greedy pick it every time; -100 on the greedy token removes it.
        var biased = Engines.Tokens(Engines.RunAll(core, [(0, new GenerateRequest(prompt, greedy with { LogitBias = new Dictionary<int, float> { [4242] = 100 } }, "up"))])["up"]);
        Assert.All(biased, t => Assert.Equal(4242, t));
        var banned = Engines.Tokens(Engines.RunAll(core, [(0, new GenerateRequest(prompt, greedy with { LogitBias = new Dictionary<int, float> { [plain[0]] = -100 } }, "down"))])["down"]);
        Assert.DoesNotContain(plain[0], banned);
    }

    [Fact]
    public void Out_of_range_values_are_refused_naming_the_field()
    {
        using var model = Engines.TinyModel();
        using var core = Engines.TorchCore(model, 16, new SchedulerOptions());
        void Refused(SamplingParams p, string field)
        {
            var e = Assert.ThrowsAny<ArgumentException>(() => core.Add(new GenerateRequest([128000, 9906], p, Guid.NewGuid().ToString()), _ => { }));
            Assert.Equal(field, e.ParamName);
        }
        var ok = new SamplingParams { MaxTokens = 4 };
        Refused(ok with { LogitBias = new Dictionary<int, float> { [128256] = 1 } }, "logit_bias");
        Refused(ok with { LogitBias = new Dictionary<int, float> { [5] = 100.5f } }, "logit_bias");
        Refused(ok with { MinTokens = 5 }, "min_tokens");
        Refused(ok with { PromptLogprobs = 21 }, "prompt_logprobs");
        Refused(ok with { MaxTokens = 0 }, "max_tokens");
        Assert.False(core.HasWork);
    }

    [Fact]
    public void Include_stop_str_in_output_keeps_the_stop_string_and_skip_special_tokens_off_shows_special_tokens()
    {
        var stops = new StopStrings(["END"], includeStop: true);
        Assert.Equal("abc", stops.Push("abcE"));
        Assert.Equal("END", stops.Push("NDxyz"));
        Assert.True(stops.Stopped);
        var tok = Engines.Tokenizer;
        int eot = tok.TokenToId("<|eot_id|>")!.Value;
        var shown = tok.CreateDetokenizer(skipSpecialTokens: false);
        var hidden = tok.CreateDetokenizer(skipSpecialTokens: true);
        Assert.Equal("<|eot_id|>", shown.Push(eot));
        Assert.Equal("", hidden.Push(eot));
    }
}
