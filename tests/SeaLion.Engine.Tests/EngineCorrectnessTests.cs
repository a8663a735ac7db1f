using SeaLion.Model.Generation;
using SeaLion.Model.Sampling;

namespace SeaLion.Engine.Tests;

[Collection("torch")]
public sealed class EngineCorrectnessTests
{
    static int[] Alone(SeaLion.Model.Llama.LlamaModel model, int[] prompt, SamplingParams p) =>
        SequenceGenerator.Generate(model, Engines.Tokenizer, prompt, p).Select(s => s.TokenId).ToArray();

    [Fact]
    public void Concurrent_greedy_requests_with_chunked_prefill_equal_each_run_alone()
    {
        using var model = Engines.TinyModel();
        var requests = new[] { (5, 12), (70, 6), (17, 20), (33, 3), (1, 9), (48, 15) }
            .Select((x, i) => (AtStep: i * 2, Request: new GenerateRequest(Engines.Prompt(x.Item1, i),
                new SamplingParams { Temperature = 0, MaxTokens = x.Item2, IgnoreEos = true }, $"r{i}"))).ToList();
        // A 24-token budget forces prompts to be chunked and decodes to share steps with prefills.
        using var core = Engines.TorchCore(model, 64, new SchedulerOptions { MaxBatchedTokens = 24, MaxSeqs = 4 });
        var outputs = Engines.RunAll(core, requests);
        foreach (var (_, req) in requests)
        {
            var got = Engines.Tokens(outputs[req.RequestId!]);
            Assert.Equal(Alone(model, req.PromptTokenIds, req.Sampling), got);
            Assert.Equal("length", outputs[req.RequestId!][^1].FinishReason);
            Assert.Equal(new EngineUsage(req.PromptTokenIds.Length, 0, req.Sampling.MaxTokens), outputs[req.RequestId!][^1].Usage);
        }
        Assert.Equal(core.Kv.Pool.NumBlocks, core.Kv.Pool.FreeCount);
    }

    [Fact]
    public void Prefix_cache_hit_gives_the_same_tokens_as_a_miss()
    {
        using var model = Engines.TinyModel();
        var p = new SamplingParams { Temperature = 0, MaxTokens = 10, IgnoreEos = true };
        int[] prompt = Engines.Prompt(53, 7);
        using var core = Engines.TorchCore(model, 32, new SchedulerOptions());
        var first = Engines.RunAll(core, [(0, new GenerateRequest(prompt, p, "a"))])["a"];
        var second = Engines.RunAll(core, [(0, new GenerateRequest(prompt, p, "b"))])["b"];
        Assert.Equal(0, first[^1].Usage!.CachedTokens);
        Assert.Equal(48, second[^1].Usage!.CachedTokens);             // 3 full blocks of 16
        Assert.Equal(Engines.Tokens(first), Engines.Tokens(second));
        Assert.Equal(Alone(model, prompt, p), Engines.Tokens(second));
        // A second turn: the first turn's prompt and reply are a cached prefix of the next prompt.
        int[] turn2 = [.. prompt, .. Engines.Tokens(first), 13, 1115, 374];
        var third = Engines.RunAll(core, [(0, new GenerateRequest(turn2, p, "c"))])["c"];
        // Turn 1 computed K/V for 53 + 10 - 1 = 62 tokens (the last sampled token never ran): 3 full blocks.
        Assert.Equal((prompt.Length + 10 - 1) / 16 * 16, third[^1].Usage!.CachedTokens);
        Assert.Equal(Alone(model, turn2, p), Engines.Tokens(third));
        Assert.True(core.Kv.PrefixHitRate > 0.5);
    }

    [Fact]
    public void Preemption_and_recompute_give_the_same_tokens()
    {
        using var model = Engines.TinyModel();
        var requests = Enumerable.Range(0, 5).Select(i => (AtStep: 0, Request: new GenerateRequest(Engines.Prompt(20 + 7 * i, 100 + i),
            new SamplingParams { Temperature = 0.8, Seed = i, MaxTokens = 30, IgnoreEos = true }, $"p{i}"))).ToList();
        // 12 blocks of 16 tokens hold 192 tokens; the five requests grow to 290: someone must be preempted.
        using var core = Engines.TorchCore(model, 12, new SchedulerOptions { MaxBatchedTokens = 64 });
        var outputs = Engines.RunAll(core, requests);
        Assert.True(core.Scheduler.Preemptions > 0, "the cache was large enough that nothing was preempted");
        foreach (var (_, req) in requests)
            Assert.Equal(Alone(model, req.PromptTokenIds, req.Sampling), Engines.Tokens(outputs[req.RequestId!]));
        Assert.Equal(core.Kv.Pool.NumBlocks, core.Kv.Pool.FreeCount);
    }

    [Fact]
    public void Requests_that_can_never_fit_are_rejected_naming_the_limit()
    {
        using var core = new EngineCore(new FakeRunner(), Engines.Tokenizer, 4, new SchedulerOptions());
        var e = Assert.ThrowsAny<ArgumentException>(() => core.Add(new GenerateRequest(Engines.Prompt(60, 1), new SamplingParams { MaxTokens = 10 }), _ => { }));
        Assert.Contains("5 KV blocks", e.Message);
        e = Assert.ThrowsAny<ArgumentException>(() => core.Add(new GenerateRequest([1, 2], new SamplingParams { MaxTokens = 8191 }), _ => { }));
        Assert.Contains("8193", e.Message);
        e = Assert.ThrowsAny<ArgumentException>(() => core.Add(new GenerateRequest([], new SamplingParams()), _ => { }));
        Assert.Contains("prompt", e.Message);
        Assert.False(core.HasWork);
    }

    [Fact]
    public void A_bf16_model_gives_the_same_greedy_tokens_alone_and_in_a_batch()
    {
        using var model = SeaLion.Model.Llama.LlamaModel.Load(SeaLion.Model.Tests.TestModels.Get(), new SeaLion.Model.Llama.ModelOptions { DType = TorchSharp.torch.ScalarType.BFloat16, TensorParallel = 1 });
        var p = new SamplingParams { Temperature = 0, MaxTokens = 12, IgnoreEos = true };
        var prompts = Enumerable.Range(0, 6).Select(i => Engines.Prompt(9 + 7 * i, 300 + i)).ToArray();
        var alone = prompts.Select((prompt, i) =>
        {
            using var core = Engines.TorchCore(model, 32, new SchedulerOptions());
            return Engines.Tokens(Engines.RunAll(core, [(0, new GenerateRequest(prompt, p, $"a{i}"))])[$"a{i}"]);
        }).ToArray();
        // Together, with chunked prefill mixing prompts and decodes in the same steps.
        using var busy = Engines.TorchCore(model, 128, new SchedulerOptions { MaxBatchedTokens = 24 });
        var outs = Engines.RunAll(busy, prompts.Select((prompt, i) => (i, new GenerateRequest(prompt, p, $"b{i}"))));
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(alone[i], Engines.Tokens(outs[$"b{i}"]));
    }
}
