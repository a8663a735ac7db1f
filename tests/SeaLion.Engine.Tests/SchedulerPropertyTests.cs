using SeaLion.Engine.Blocks;
using SeaLion.Routing;
using SeaLion.Model.Sampling;

namespace SeaLion.Engine.Tests;

/// <summary>
/// Random workloads (shared prefixes, aborts, tiny caches, tiny budgets) against the real scheduler and block
/// pool with a model-free runner, checking the invariants after every step.
/// </summary>
public sealed class SchedulerPropertyTests
{
    static void CheckInvariants(EngineCore core, FakeRunner runner, SchedulerOptions o)
    {
        var pool = core.Kv.Pool;
        var live = core.Scheduler.Running.Concat(core.Scheduler.Waiting).ToList();
        // Every reference is held by exactly the tables that list the block.
        var refs = new Dictionary<int, int>();
        foreach (var r in live)
            foreach (var b in core.Kv.BlocksOf(r)) refs[b.Id] = refs.GetValueOrDefault(b.Id) + 1;
        foreach (var b in pool.Blocks)
        {
            Assert.Equal(refs.GetValueOrDefault(b.Id), b.RefCount);
            Assert.Equal(b.RefCount == 0, b.FreeNode is not null);   // free exactly when unreferenced
        }
        Assert.Equal(pool.NumBlocks, pool.FreeCount + pool.Blocks.Count(b => b.RefCount > 0));
        foreach (var r in core.Scheduler.Waiting) Assert.Empty(core.Kv.BlocksOf(r));
        foreach (var r in core.Scheduler.Running)
        {
            Assert.True(core.Kv.BlocksOf(r).Count * o.BlockSize >= r.NumComputedTokens, $"{r.Id} computed {r.NumComputedTokens} tokens in {core.Kv.BlocksOf(r).Count} blocks");
            Assert.True(r.NumComputedTokens <= r.NumTokens);
        }
        if (runner.Steps.Count > 0)
        {
            var last = runner.Steps[^1];
            Assert.True(last.Sum(c => c.NumTokens) <= o.MaxBatchedTokens, "token budget exceeded");
            Assert.True(last.Count <= o.MaxSeqs, "more sequences than max_num_seqs");
            Assert.Equal(last.Count, last.Select(c => c.Request).Distinct().Count());
        }
    }

    [Theory]
    [InlineData(1, 8, 16, 4, 3)]
    [InlineData(2, 20, 64, 8, 16)]
    [InlineData(3, 6, 12, 2, 1)]
    [InlineData(4, 40, 256, 16, 4)]
    [InlineData(5, 16, 7, 3, 5)]
    public void Random_workloads_keep_pool_and_budget_invariants_and_finish_everything(int seed, int numBlocks, int budget, int maxSeqs, int blockSize)
    {
        var rnd = new Random(seed);
        var o = new SchedulerOptions { MaxBatchedTokens = budget, MaxSeqs = maxSeqs, BlockSize = blockSize };
        var runner = new FakeRunner(eos: 1000 + seed);   // some requests end on "eos" by chance
        using var core = new EngineCore(runner, Engines.Tokenizer, numBlocks, o);
        int[] shared = Engines.Prompt(3 * blockSize, seed);
        var ended = new Dictionary<string, string>();
        var submitted = new List<string>();
        int capacity = numBlocks * blockSize;
        for (int step = 0; step < 20_000; step++)
        {
            if (step < 400 && rnd.NextDouble() < 0.3)
            {
                int len = rnd.Next(1, Math.Max(2, capacity / 2));
                int[] prompt = rnd.NextDouble() < 0.5 && len > shared.Length ? [.. shared, .. Engines.Prompt(len - shared.Length, rnd.Next())] : Engines.Prompt(len, rnd.Next());
                int maxTokens = rnd.Next(1, Math.Max(2, capacity - len));
                string id = $"q{step}";
                core.Add(new GenerateRequest(prompt, new SamplingParams { Temperature = 0, MaxTokens = maxTokens, Stop = rnd.NextDouble() < 0.2 ? ["a"] : [] }, id),
                    out_ => { if (out_.FinishReason is not null) { Assert.False(ended.ContainsKey(out_.RequestId), "finished twice"); ended[out_.RequestId] = out_.FinishReason; } });
                submitted.Add(id);
            }
            if (submitted.Count > 0 && rnd.NextDouble() < 0.05) core.Abort(submitted[rnd.Next(submitted.Count)]);
            core.Step();
            CheckInvariants(core, runner, o);
            if (step >= 400 && !core.HasWork) break;
        }
        Assert.False(core.HasWork, "requests were still running after 20,000 steps: " + string.Join("; ",
            core.Scheduler.Running.Concat(core.Scheduler.Waiting).Select(r => $"{r.Id} {r.Status} tokens {r.NumTokens} computed {r.NumComputedTokens} out {r.NumOutputTokens}/{r.Sampling.Params.MaxTokens} blocks {core.Kv.BlocksOf(r).Count} pre {r.Preemptions}")) + $" free {core.Kv.Pool.FreeCount}");
        Assert.Equal(submitted.Count, ended.Count);
        Assert.All(ended.Values, r => Assert.Contains(r, new[] { "stop", "length", "abort" }));
        Assert.All(core.Kv.Pool.Blocks, b => Assert.Equal(0, b.RefCount));
        Assert.Equal(numBlocks, core.Kv.Pool.FreeCount);
    }

    [Fact]
    public void Block_events_describe_the_cache_contents()
    {
        var runner = new FakeRunner();
        using var core = new EngineCore(runner, Engines.Tokenizer, 6, new SchedulerOptions { BlockSize = 4 });
        var cached = new HashSet<BlockHash>();
        core.KvEvents = events =>
        {
            foreach (var e in events)
            {
                if (e is BlockStored s) Assert.True(cached.Add(s.Hash), "stored twice");
                else Assert.True(cached.Remove(e.Hash), "removed a block that was never stored");
            }
        };
        var rnd = new Random(3);
        for (int i = 0; i < 30; i++)
        {
            core.Add(new GenerateRequest(Engines.Prompt(rnd.Next(2, 12), i % 4), new SamplingParams { Temperature = 0, MaxTokens = rnd.Next(1, 8) }), _ => { });
            while (core.HasWork) core.Step();
            Assert.Equal(core.Kv.Pool.Blocks.Where(b => b.Hash is not null).Select(b => b.Hash!.Value).ToHashSet(), cached);
        }
        Assert.True(core.Kv.PrefixHitRate > 0, "repeated prompts never hit the prefix cache");
    }

    [Fact]
    public void Block_hash_chains_identify_whole_prefixes()
    {
        int[] a = [1, 2, 3, 4, 5, 6, 7, 8], b = [9, 2, 3, 4, 5, 6, 7, 8];
        var ha = BlockHash.Chain(a, 4);
        var hb = BlockHash.Chain(b, 4);
        Assert.Equal(2, ha.Count);
        Assert.NotEqual(ha[0], hb[0]);
        Assert.NotEqual(ha[1], hb[1]);   // same tokens in block 2, different parent
        Assert.Equal(ha, BlockHash.Chain([.. a, 99], 4));
    }
}

public sealed class EngineFaultTests
{
    sealed class FailingRunner(int failAt) : IModelRunner
    {
        readonly FakeRunner _inner = new();
        int _steps;
        public int VocabSize => _inner.VocabSize;
        public int MaxContext => _inner.MaxContext;
        public IReadOnlyList<int> EosTokenIds => _inner.EosTokenIds;
        public bool HasLogits => false;
        public IReadOnlyList<SampledToken> Execute(IReadOnlyList<ScheduledChunk> chunks, KvCacheManager kv) =>
            ++_steps == failAt ? throw new InvalidOperationException("device lost") : _inner.Execute(chunks, kv);
        public void Dispose() { }
    }

    [Fact]
    public async Task A_failed_step_ends_every_open_stream_with_the_error_and_refuses_new_requests()
    {
        using var engine = new LlmEngine(new EngineCore(new FailingRunner(3), Engines.Tokenizer, 64, new SchedulerOptions()), "faulty");
        var streams = Enumerable.Range(0, 3).Select(i => Task.Run(async () =>
        {
            await foreach (var _ in engine.GenerateAsync(new GenerateRequest(Engines.Prompt(10, i), new SamplingParams { MaxTokens = 50, IgnoreEos = true }))) { }
        })).ToArray();
        foreach (var s in streams)
        {
            var e = await Assert.ThrowsAnyAsync<InvalidOperationException>(() => s.WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.Contains("device lost", e.InnerException?.Message ?? e.Message);
        }
        Assert.NotNull(engine.Fault);
        await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            await foreach (var _ in engine.GenerateAsync(new GenerateRequest([1, 2, 3], new SamplingParams()))) { }
        });
    }
}

public sealed class EngineMetricsTests
{
    [Fact]
    public async Task Metrics_count_tokens_requests_and_latencies_with_vllm_meanings()
    {
        var registry = Prometheus.Metrics.NewCustomRegistry();
        var metrics = new EngineMetrics("m1", registry);
        using var core = new EngineCore(new FakeRunner(), Engines.Tokenizer, 64, new SchedulerOptions { BlockSize = 4 }, new WallClock(), metrics);
        int[] prompt = Engines.Prompt(9, 1);
        for (int i = 0; i < 3; i++)
        {
            core.Add(new GenerateRequest(prompt, new SamplingParams { Temperature = 0, MaxTokens = 5, IgnoreEos = true }, $"m{i}"), _ => { });
            while (core.HasWork) core.Step();
        }
        core.Add(new GenerateRequest(prompt, new SamplingParams { MaxTokens = 5 }, "gone"), _ => { });
        core.Abort("gone");
        using var stream = new MemoryStream();
        await registry.CollectAndExportAsTextAsync(stream);
        string text = System.Text.Encoding.UTF8.GetString(stream.ToArray());
        double Value(string series) => double.Parse(text.Split('\n').Single(l => l.StartsWith(series + " ", StringComparison.Ordinal)).Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(15, Value("sealion_generation_tokens_total{engine=\"m1\"}"));
        Assert.Equal(36, Value("sealion_prompt_tokens_total{engine=\"m1\"}"));
        Assert.Equal(3, Value("sealion_request_success_total{engine=\"m1\",finished_reason=\"length\"}"));
        Assert.Equal(1, Value("sealion_request_success_total{engine=\"m1\",finished_reason=\"abort\"}"));
        Assert.Equal(3, Value("sealion_time_to_first_token_seconds_count{engine=\"m1\"}"));
        Assert.Equal(12, Value("sealion_inter_token_latency_seconds_count{engine=\"m1\"}"));
        Assert.Equal(4, Value("sealion_e2e_request_latency_seconds_count{engine=\"m1\"}"));
        // Requests 2 and 3 repeat request 1's 9-token prompt: 2 full blocks of 4 hit each time.
        Assert.Equal(27, Value("sealion_prefix_cache_queries_total{engine=\"m1\"}"));
        Assert.Equal(16, Value("sealion_prefix_cache_hits_total{engine=\"m1\"}"));
        Assert.Equal(0, Value("sealion_num_requests_running{engine=\"m1\"}"));
    }
}
