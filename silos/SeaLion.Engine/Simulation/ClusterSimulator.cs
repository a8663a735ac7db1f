using SeaLion.Engine.Blocks;
using SeaLion.Routing;
using SeaLion.Model.Sampling;
using SeaLion.Tokenization;

namespace SeaLion.Engine.Simulation;

/// <summary>
/// The llm-d-shaped workload: customers, each with a long shared context (a system prompt plus documents), and
/// users per customer sending queries on top of it; Poisson arrivals, every request to a random user.
/// </summary>
public sealed record ClusterWorkload(int Customers = 150, int UsersPerCustomer = 5, int ContextTokens = 6000, int QueryTokens = 1200,
    int OutputTokens = 200, int Seed = 1);

/// <summary>One policy at one request rate.</summary>
public sealed record ClusterSimResult(
    string Policy, int Hosts, double Rate, int Requests, int Completed, double ArrivalSeconds, double Makespan,
    double OutputTokensPerSecond, double TtftP50, double TtftP90, double PrefixHitRate, double LoadImbalance, bool KeptUp,
    IReadOnlyDictionary<string, int> Reasons);

/// <summary>
/// A discrete-event simulation of a cluster in virtual time: N simulated H100 engines (the engine's own scheduler,
/// KV-cache manager and prefix cache, timed by <see cref="H100PerformanceModel"/>) behind a routing policy — the
/// same policy classes the gateway uses — with the engines' KV events feeding the precise index as they happen.
/// Time advances from event to event (an arrival, or the end of an engine's step), never by the wall clock.
/// </summary>
public static class ClusterSimulator
{
    /// <summary>
    /// The benchmark client's timeout: a run "completes" when every request finished within this many seconds of
    /// its arrival (as a load generator with a 10-minute timeout sees it); the simulation stops this long after
    /// the last arrival.
    /// </summary>
    public const double RequestTimeoutSeconds = 600;

    public static ClusterSimResult Run(BpeTokenizer tokenizer, int hosts, string policyName, double rate, double seconds, ClusterWorkload w,
        SchedulerOptions? options = null, H100PerformanceModel? perf = null, int vocabSize = 128256)
    {
        options ??= new SchedulerOptions { MaxSeqs = 256, MaxBatchedTokens = 8192 };
        perf ??= new H100PerformanceModel();
        int blocks = perf.KvBlocks(options.BlockSize);
        var clocks = new VirtualClock[hosts];
        var cores = new EngineCore[hosts];
        var precise = new KvIndex(hosts);
        for (int i = 0; i < hosts; i++)
        {
            clocks[i] = new VirtualClock();
            cores[i] = new EngineCore(new SimulatedRunner(perf, clocks[i], vocabSize, 8192), tokenizer, blocks, options, clocks[i]);
            int engine = i;
            cores[i].KvEvents = events => precise.Apply(engine, events);
        }
        IRoutingPolicy policy = Create(policyName, precise, new ApproximateIndex(hosts, blocks), w.Seed);
        try
        {
            return Simulate(hosts, policy, rate, seconds, w, options, clocks, cores);
        }
        finally
        {
            foreach (var c in cores) c.Dispose();
        }
    }

    public static readonly string[] Policies = ["random", "round_robin", "load_only", "session_affinity", "approximate_prefix", "precise_kv"];

    public static IRoutingPolicy Create(string name, KvIndex precise, ApproximateIndex approximate, int seed) => name switch
    {
        "random" => new RandomPolicy(seed),
        "round_robin" => new RoundRobinPolicy(),
        "load_only" => new LoadOnlyPolicy(seed),
        "session_affinity" => new SessionAffinityPolicy(seed),
        "approximate_prefix" => new PreciseKvPolicy(null, approximate, seed),
        "precise_kv" => new PreciseKvPolicy(precise, approximate, seed),
        _ => throw new ArgumentException($"unknown routing policy '{name}'; known: {string.Join(", ", Policies)}"),
    };

    /// <summary>The workload's requests: Poisson arrival times, prompts (customer context + a fresh query) and "customer/user" keys.</summary>
    public static List<(double At, int[] Prompt, string Key)> Arrivals(ClusterWorkload w, double rate, double seconds)
    {
        var rng = new Random(w.Seed);
        var contexts = new int[w.Customers][];
        for (int c = 0; c < w.Customers; c++)
        {
            var crng = new Random(HashCode.Combine(w.Seed, c));
            contexts[c] = Enumerable.Range(0, w.ContextTokens).Select(_ => crng.Next(1000, 100_000)).ToArray();
        }
        var list = new List<(double, int[], string)>();
        for (double t = -Math.Log(1 - rng.NextDouble()) / rate; t < seconds; t += -Math.Log(1 - rng.NextDouble()) / rate)
        {
            int customer = rng.Next(w.Customers), user = rng.Next(w.UsersPerCustomer);
            var prompt = new int[w.ContextTokens + w.QueryTokens];
            contexts[customer].CopyTo(prompt, 0);
            for (int k = w.ContextTokens; k < prompt.Length; k++) prompt[k] = rng.Next(1000, 100_000);
            list.Add((t, prompt, $"{customer}/{user}"));
        }
        return list;
    }

    /// <summary>The same summary the simulator reports, from per-request observations of a real run.</summary>
    public static ClusterSimResult Summarize(string policy, int hosts, double rate, double seconds,
        IReadOnlyList<(double Arrival, double FirstToken, double Done, int Prompt, int Cached, int Output)> requests, long[] servedTokens, IReadOnlyDictionary<string, int> reasons)
    {
        var done = requests.Where(t => !double.IsNaN(t.Done)).ToList();
        double makespan = done.Count == 0 ? seconds : done.Max(t => t.Done);
        var ttft = requests.Select(t => double.IsNaN(t.FirstToken) ? double.PositiveInfinity : t.FirstToken - t.Arrival).ToList();
        double mean = servedTokens.Average();
        return new ClusterSimResult(policy, hosts, rate, requests.Count, done.Count, seconds, makespan,
            done.Sum(t => (double)t.Output) / Math.Max(makespan, 1e-9), EngineBenchmark.Percentile(ttft, 0.5), EngineBenchmark.Percentile(ttft, 0.9),
            done.Sum(t => (double)t.Cached) / Math.Max(1, done.Sum(t => (double)t.Prompt)), mean == 0 ? 1 : servedTokens.Max() / mean,
            done.Count == requests.Count && done.All(t => t.Done - t.Arrival <= RequestTimeoutSeconds), reasons);
    }

    sealed class Tracked(double arrival)
    {
        public double Arrival = arrival, FirstToken = double.NaN, Done = double.NaN;
        public int Prompt, Cached, Output;
    }

    static ClusterSimResult Simulate(int hosts, IRoutingPolicy policy, double rate, double seconds, ClusterWorkload w, SchedulerOptions options,
        VirtualClock[] clocks, EngineCore[] cores)
    {
        var arrivals = Arrivals(w, rate, seconds);

        var tracked = new List<Tracked>(arrivals.Count);
        var reasons = new Dictionary<string, int>();
        var servedTokens = new long[hosts];
        int next = 0;
        double limit = seconds + RequestTimeoutSeconds;
        while (true)
        {
            int stepper = -1;
            double tEngine = double.PositiveInfinity;
            for (int i = 0; i < hosts; i++)
                if (cores[i].HasWork && clocks[i].Now < tEngine) { tEngine = clocks[i].Now; stepper = i; }
            double tArrival = next < arrivals.Count ? arrivals[next].At : double.PositiveInfinity;
            if (double.IsPositiveInfinity(tEngine) && double.IsPositiveInfinity(tArrival)) break;
            if (Math.Min(tEngine, tArrival) > limit) break;
            if (tArrival <= tEngine)
            {
                var (_, prompt, key) = arrivals[next];
                var views = new EngineView[hosts];
                for (int i = 0; i < hosts; i++)
                {
                    var l = cores[i].Load;
                    views[i] = new EngineView(i, l.Running, l.Waiting, l.FreeBlocks, l.TotalBlocks);
                }
                var decision = policy.Choose(new RouteRequest(BlockHash.Chain(prompt, options.BlockSize), prompt.Length, key), views);
                reasons[decision.Reason] = reasons.GetValueOrDefault(decision.Reason) + 1;
                int e = decision.Engine;
                if (!cores[e].HasWork) clocks[e].AdvanceTo(tArrival);
                var t = new Tracked(tArrival);
                tracked.Add(t);
                var clock = clocks[e];
                cores[e].Add(new GenerateRequest(prompt, new SamplingParams { Temperature = 0, MaxTokens = w.OutputTokens, IgnoreEos = true }, $"r{next}"), o =>
                {
                    if (o.TokenIds.Count > 0 && double.IsNaN(t.FirstToken)) t.FirstToken = clock.Now;
                    t.Output += o.TokenIds.Count;
                    if (o.Usage is { } u) { t.Done = clock.Now; t.Prompt = u.PromptTokens; t.Cached = u.CachedTokens; }
                });
                servedTokens[e] += prompt.Length + w.OutputTokens;
                next++;
            }
            else cores[stepper].Step();
        }

        return Summarize(policy.Name, hosts, rate, seconds, tracked.Select(t => (t.Arrival, t.FirstToken, t.Done, t.Prompt, t.Cached, t.Output)).ToList(), servedTokens, reasons);
    }
}
