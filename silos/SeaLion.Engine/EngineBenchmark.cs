using System.Diagnostics;
using SeaLion.Model.Sampling;

namespace SeaLion.Engine;

/// <summary>A benchmark workload: prompt and output lengths, fixed or drawn from a ShareGPT-like mix.</summary>
public sealed record Workload(string Name, IReadOnlyList<(int Prompt, int Output)> Requests)
{
    public static Workload Fixed(int n, int prompt, int output) => new($"fixed-{prompt}-{output}", Enumerable.Repeat((prompt, output), n).ToArray());

    /// <summary>
    /// Log-normal lengths shaped like the ShareGPT set vLLM benchmarks with: prompts median ~180 tokens (mean ~270),
    /// outputs median ~150 (mean ~200), clipped to [4, maxPrompt] and [4, maxOutput].
    /// </summary>
    public static Workload ShareGptLike(int n, int seed = 0, int maxPrompt = 2048, int maxOutput = 1024)
    {
        var rnd = new Random(seed);
        double Normal() => Math.Sqrt(-2 * Math.Log(1 - rnd.NextDouble())) * Math.Cos(2 * Math.PI * rnd.NextDouble());
        int Clip(double v, int max) => (int)Math.Clamp(Math.Round(v), 4, max);
        return new("sharegpt-like", Enumerable.Range(0, n).Select(_ => (Clip(Math.Exp(5.2 + 0.9 * Normal()), maxPrompt), Clip(Math.Exp(5.0 + 0.8 * Normal()), maxOutput))).ToArray());
    }
}

/// <summary>One point of a sweep: throughput and latency percentiles (seconds) at a concurrency.</summary>
public sealed record SweepPoint(
    int Concurrency, int Requests, double Seconds, long PromptTokens, long OutputTokens, double OutputTokensPerSecond,
    double TotalTokensPerSecond, double TtftP50, double TtftP99, double ItlP50, double ItlP99, double PrefixHitRate, long Preemptions);

/// <summary>
/// Closed-loop load: at most `concurrency` requests in flight, the next one submitted as one finishes, every
/// request greedy with ignore_eos so output lengths are exactly the workload's. Latencies are measured where a
/// client sees them: the arrival of each streamed output.
/// </summary>
public static class EngineBenchmark
{
    static int[] PromptTokens(int length, int seed)
    {
        var rnd = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => rnd.Next(1000, 100_000)).ToArray();
    }

    static int _runs;

    /// <summary>Distinct prompts across requests and runs: a sweep must not hit the prefix cache by accident.</summary>
    static int UniqueSeed(int seed, int i) => HashCode.Combine(seed, i, Interlocked.Increment(ref _runs));

    static SamplingParams Params(int output) => new() { Temperature = 0, MaxTokens = output, IgnoreEos = true };

    public static double Percentile(List<double> xs, double p)
    {
        if (xs.Count == 0) return double.NaN;
        xs.Sort();
        return xs[Math.Clamp((int)Math.Ceiling(p * xs.Count) - 1, 0, xs.Count - 1)];
    }

    /// <summary>The threaded engine in wall time.</summary>
    public static async Task<SweepPoint> RunAsync(LlmEngine engine, Workload w, int concurrency, int seed = 0)
    {
        var ttft = new List<double>();
        var itl = new List<double>();
        long outputs = 0, prompts = 0;
        int next = -1;
        var before = engine.Load;
        var clock = Stopwatch.StartNew();
        async Task Client()
        {
            while (true)
            {
                int i = Interlocked.Increment(ref next);
                if (i >= w.Requests.Count) return;
                var (p, o) = w.Requests[i];
                double start = clock.Elapsed.TotalSeconds, last = double.NaN;
                var localItl = new List<double>();
                long got = 0;
                await foreach (var output in engine.GenerateAsync(new GenerateRequest(PromptTokens(p, UniqueSeed(seed, i)), Params(o))))
                {
                    double now = clock.Elapsed.TotalSeconds;
                    if (output.TokenIds.Count == 0) continue;
                    if (double.IsNaN(last)) lock (ttft) ttft.Add(now - start);
                    else localItl.Add((now - last) / output.TokenIds.Count);
                    last = now;
                    got += output.TokenIds.Count;
                }
                lock (itl) itl.AddRange(localItl);
                Interlocked.Add(ref outputs, got);
                Interlocked.Add(ref prompts, p);
            }
        }
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(Client)));
        double seconds = clock.Elapsed.TotalSeconds;
        var after = engine.Load;
        return new SweepPoint(concurrency, w.Requests.Count, seconds, prompts, outputs, outputs / seconds, (outputs + prompts) / seconds,
            Percentile(ttft, 0.5), Percentile(ttft, 0.99), Percentile(itl, 0.5), Percentile(itl, 0.99), after.PrefixHitRate, after.Preemptions - before.Preemptions);
    }

    /// <summary>
    /// The engine core on a virtual clock (a simulated engine): same closed loop, time is the performance model's.
    /// concurrency = int.MaxValue submits everything at once (offline throughput).
    /// </summary>
    internal static SweepPoint RunVirtual(EngineCore core, VirtualClock clock, Workload w, int concurrency, int seed = 0)
    {
        var ttft = new List<double>();
        var itl = new List<double>();
        long outputs = 0, prompts = 0;
        int submitted = 0, inFlight = 0;
        double t0 = clock.Now;
        long pre0 = core.Scheduler.Preemptions;
        void Submit()
        {
            int i = submitted++;
            var (p, o) = w.Requests[i];
            double start = clock.Now, last = double.NaN;
            inFlight++;
            prompts += p;
            core.Add(new GenerateRequest(PromptTokens(p, UniqueSeed(seed, i)), Params(o), $"v{i}"), output =>
            {
                double now = clock.Now;
                if (output.TokenIds.Count > 0)
                {
                    if (double.IsNaN(last)) ttft.Add(now - start); else itl.Add(now - last);
                    last = now;
                    outputs += output.TokenIds.Count;
                }
                if (output.FinishReason is not null) inFlight--;
            });
        }
        while (submitted < w.Requests.Count || core.HasWork)
        {
            while (submitted < w.Requests.Count && inFlight < concurrency) Submit();
            if (core.Step() == 0 && !core.HasWork) break;
        }
        double seconds = clock.Now - t0;
        return new SweepPoint(concurrency == int.MaxValue ? w.Requests.Count : concurrency, w.Requests.Count, seconds, prompts, outputs,
            outputs / seconds, (outputs + prompts) / seconds, Percentile(ttft, 0.5), Percentile(ttft, 0.99), Percentile(itl, 0.5),
            Percentile(itl, 0.99), core.Kv.PrefixHitRate, core.Scheduler.Preemptions - pre0);
    }

    /// <summary>A fresh simulated engine core on its own virtual clock.</summary>
    public static SweepPoint Simulate(SeaLion.Tokenization.BpeTokenizer tokenizer, Workload w, int concurrency, SchedulerOptions options, H100PerformanceModel? perf = null, int seed = 0)
    {
        perf ??= new H100PerformanceModel();
        var clock = new VirtualClock();
        using var core = new EngineCore(new SimulatedRunner(perf, clock), tokenizer, perf.KvBlocks(options.BlockSize), options, clock);
        return RunVirtual(core, clock, w, concurrency, seed);
    }

    /// <summary>
    /// Time to first token of turn 2 of a conversation whose turn 1 had `history` prompt tokens: the request
    /// repeats turn 1's prompt and reply, then `newTokens` more. With the prefix cache the history is not
    /// recomputed. Returns (turn-1 TTFT, turn-2 TTFT, cached tokens of turn 2).
    /// </summary>
    public static async Task<(double Turn1, double Turn2, int Cached)> MultiTurnAsync(LlmEngine engine, int history, int reply, int newTokens, int seed)
    {
        int[] turn1 = PromptTokens(history, seed);
        var (t1, out1, _) = await OneRequest(engine, turn1, reply);
        int[] turn2 = [.. turn1, .. out1, .. PromptTokens(newTokens, seed + 1)];
        var (t2, _, cached) = await OneRequest(engine, turn2, reply);
        return (t1, t2, cached);
    }

    static async Task<(double Ttft, int[] Output, int Cached)> OneRequest(LlmEngine engine, int[] prompt, int maxTokens)
    {
        var sw = Stopwatch.StartNew();
        double ttft = double.NaN;
        var tokens = new List<int>();
        int cached = 0;
        await foreach (var o in engine.GenerateAsync(new GenerateRequest(prompt, Params(maxTokens))))
        {
            if (double.IsNaN(ttft) && o.TokenIds.Count > 0) ttft = sw.Elapsed.TotalSeconds;
            tokens.AddRange(o.TokenIds);
            if (o.Usage is { } u) cached = u.CachedTokens;
        }
        return (ttft, tokens.ToArray(), cached);
    }
}
