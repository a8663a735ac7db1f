using System.Text.Json.Nodes;
using SeaLion.Engine;
using SeaLion.Hosting;
using SeaLion.Tokenization;

namespace SeaLion.Bench;

/// <summary>
/// `bench engine`: a closed-loop concurrency sweep through the engine (TorchSharp model, or the simulated H100
/// engine on a virtual clock), optionally the multi-turn prefix-cache experiment; JSON on stdout.
/// </summary>
public static class EngineBenchVerb
{
    /// <param name="plot">Writes the sweep as a PNG (path, title, sweep) and returns the path; null where the build has no
    /// plotting (the GPU bundle): --plot is then refused.</param>
    public static async Task<int> RunAsync(CliArgs a, TextWriter stdout, Func<string, string, IReadOnlyList<SweepPoint>, string>? plot = null)
    {
        string engineKind = a.String("engine") ?? "torch";
        int[] levels = (a.String("concurrency") ?? "1,4,16,64").Split(',').Select(s => int.TryParse(s, out int v) && v > 0 ? v
            : throw new UsageException($"--concurrency takes positive integers separated by commas, got '{s}'")).ToArray();
        string workloadKind = a.String("workload") ?? "fixed";
        int promptLen = a.Int("prompt-len", 128, 1, 8000), genLen = a.Int("gen-len", 128, 1, 8000);
        int perLevel = a.Int("requests-per-level", 2, 1, 1000);
        int seed = a.Int("seed", 0, 0);
        bool prefix = a.Flag("prefix-experiment");
        string? plotPath = a.String("plot");
        if (plotPath is not null && plot is null) throw new UsageException("--plot: this build has no plotting; use ./sealion bench engine");
        var scheduler = new SchedulerOptions
        {
            MaxBatchedTokens = a.Int("max-batched-tokens", 2048, 1, 1 << 20),
            MaxSeqs = a.Int("max-seqs", engineKind == "sim" ? 256 : 64, 1, 4096),
        };
        Workload For(int c) => workloadKind switch
        {
            "fixed" => Workload.Fixed(Math.Max(4, perLevel * c), promptLen, genLen),
            "sharegpt" => Workload.ShareGptLike(Math.Max(4, perLevel * c), seed),
            _ => throw new UsageException($"--workload must be fixed or sharegpt, got '{workloadKind}'"),
        };
        var result = new JsonObject { ["bench"] = "engine", ["engine"] = engineKind, ["workload"] = workloadKind };
        var sweep = new List<SweepPoint>();

        if (engineKind == "sim")
        {
            a.EnsureAllUsed();
            var tokenizer = BpeTokenizer.FromDirectory(ModelLocator.TokenizerDir);
            var perf = new H100PerformanceModel();
            foreach (int c in levels) sweep.Add(EngineBenchmark.Simulate(tokenizer, For(c), c, scheduler, perf, seed));
            var single = EngineBenchmark.Simulate(tokenizer, Workload.Fixed(1, 128, 256), 1, scheduler, perf);
            var prefill = EngineBenchmark.Simulate(tokenizer, Workload.Fixed(1, 2000, 1), 1, scheduler, perf);
            var offline = EngineBenchmark.Simulate(tokenizer, Workload.ShareGptLike(1000, seed), int.MaxValue, scheduler with { MaxSeqs = 256, MaxBatchedTokens = 8192 }, perf, seed);
            result["model"] = "Llama 3 8B bf16 on one H100 SXM (performance model, virtual time)";
            result["kv_blocks"] = perf.KvBlocks(scheduler.BlockSize);
            result["calibration"] = new JsonObject
            {
                ["single_stream_decode_tok_s"] = Math.Round(single.OutputTokensPerSecond, 1),
                ["roofline_decode_tok_s"] = Math.Round(perf.HbmBytesPerSecond / perf.WeightBytes, 1),
                ["prefill_2000_ms"] = Math.Round(prefill.TtftP50 * 1000, 1),
                ["offline_sharegpt_1000_output_tok_s"] = Math.Round(offline.OutputTokensPerSecond),
                ["offline_sharegpt_1000_total_tok_s"] = Math.Round(offline.TotalTokensPerSecond),
                ["offline_sharegpt_1000_requests_s"] = Math.Round(offline.Requests / offline.Seconds, 2),
            };
        }
        else if (engineKind == "torch")
        {
            var (load, name, tokenizerDir, options) = ModelArgs.ReadForBench(a, defaultDtype: "fp32");
            var (kvBytes, utilization) = ModelArgs.ReadKvSizing(a);
            a.EnsureAllUsed();
            var tokenizer = BpeTokenizer.FromDirectory(tokenizerDir);
            using var model = load();
            result["model"] = name;
            result["device"] = options.Device.ToString().ToLowerInvariant();
            result["dtype"] = model.DType.ToString();
            result["tp"] = model.TensorParallel;
            using (var engine = LlmEngine.Create(model, tokenizer, new EngineOptions { Scheduler = scheduler, KvCacheBytes = kvBytes, GpuMemoryUtilization = utilization }))
            {
                result["kv_blocks"] = engine.Load.TotalBlocks;
                result["kv_sized_by"] = kvBytes is null && options.Device == TorchSharp.DeviceType.CUDA ? $"gpu_memory_utilization {utilization}" : $"{(kvBytes ?? EngineOptions.DefaultCpuKvCacheBytes) >> 20} MiB";
                // Warm-up: every level is measured on code the JIT has finished tiering up and on a settled
                // allocator. A few tiny requests left the first level (the 1x baseline of the speedup) partly on
                // tier-0 code while background compilation took one of the two cores from the ranks.
                int widest = levels.Max();
                await EngineBenchmark.RunAsync(engine, Workload.Fixed(widest, 32, 48), widest);
                await EngineBenchmark.RunAsync(engine, Workload.Fixed(2, 32, 48), 1);
                await Task.Delay(500);   // let queued background compilations finish
                await EngineBenchmark.RunAsync(engine, Workload.Fixed(2, 16, 8), 1);
                foreach (int c in levels) sweep.Add(await EngineBenchmark.RunAsync(engine, For(c), c, seed));
            }
            if (prefix)
            {
                var turns = new JsonObject();
                foreach (bool on in new[] { true, false })
                {
                    using var engine = LlmEngine.Create(model, tokenizer, new EngineOptions { Scheduler = scheduler with { PrefixCaching = on }, KvCacheBytes = kvBytes, GpuMemoryUtilization = utilization });
                    await EngineBenchmark.MultiTurnAsync(engine, 64, 8, 8, 99);   // warm-up
                    var best = Enumerable.Range(0, 3).Select(i => EngineBenchmark.MultiTurnAsync(engine, 1500, 32, 50, 1000 + i).GetAwaiter().GetResult()).MinBy(r => r.Turn2);
                    turns[on ? "prefix_cache_on" : "prefix_cache_off"] = new JsonObject
                    {
                        ["history_tokens"] = 1500, ["turn1_ttft_ms"] = Math.Round(best.Turn1 * 1000, 1),
                        ["turn2_ttft_ms"] = Math.Round(best.Turn2 * 1000, 1), ["turn2_cached_tokens"] = best.Cached,
                    };
                }
                turns["turn2_ttft_ratio_on_over_off"] = Math.Round(turns["prefix_cache_on"]!["turn2_ttft_ms"]!.GetValue<double>() / turns["prefix_cache_off"]!["turn2_ttft_ms"]!.GetValue<double>(), 3);
                result["multi_turn"] = turns;
            }
        }
        else throw new UsageException($"--engine must be torch or sim, got '{engineKind}'");

        result["sweep"] = new JsonArray(sweep.Select(p => (JsonNode)new JsonObject
        {
            ["concurrency"] = p.Concurrency, ["requests"] = p.Requests, ["seconds"] = Math.Round(p.Seconds, 3),
            ["output_tok_s"] = Math.Round(p.OutputTokensPerSecond, 1), ["total_tok_s"] = Math.Round(p.TotalTokensPerSecond, 1),
            ["ttft_p50_ms"] = Math.Round(p.TtftP50 * 1000, 2), ["ttft_p99_ms"] = Math.Round(p.TtftP99 * 1000, 2),
            ["itl_p50_ms"] = Math.Round(p.ItlP50 * 1000, 3), ["itl_p99_ms"] = Math.Round(p.ItlP99 * 1000, 3),
            ["prefix_hit_rate"] = Math.Round(p.PrefixHitRate, 4), ["preemptions"] = p.Preemptions,
        }).ToArray());
        if (sweep.Count > 1)
            result["speedup_vs_first_level"] = new JsonArray(sweep.Select(p => (JsonNode)Math.Round(p.OutputTokensPerSecond / sweep[0].OutputTokensPerSecond, 2)).ToArray());
        if (plotPath is not null) result["plot"] = plot!(plotPath, $"sealion bench engine ({engineKind}, {workloadKind})", sweep);
        stdout.WriteLine(result.ToJsonString());
        return 0;
    }
}
