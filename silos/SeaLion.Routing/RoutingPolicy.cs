namespace SeaLion.Routing;

/// <summary>An engine as a router sees it at the moment of a decision.</summary>
public sealed record EngineView(int Index, int Running, int Waiting, int FreeBlocks, int TotalBlocks, bool EventsFresh = true);

/// <summary>What is routed: the prompt's block-hash chain and a stickiness key (session or user), if any.</summary>
public sealed record RouteRequest(IReadOnlyList<BlockHash> Chain, int PromptTokens, string? AffinityKey = null);

/// <summary>The engine chosen, why (for metrics), and how many leading blocks the router expects it to hold.</summary>
public readonly record struct RouteDecision(int Engine, string Reason, int ExpectedCachedBlocks);

/// <summary>
/// A routing policy: plain code, used alike by the gateway (over load reports and the cluster KV index) and by
/// the discrete-event cluster simulator (over simulated engines in virtual time).
/// </summary>
public interface IRoutingPolicy
{
    string Name { get; }
    RouteDecision Choose(RouteRequest request, IReadOnlyList<EngineView> engines);
}

/// <summary>The load terms every load-aware policy shares.</summary>
public static class Load
{
    /// <summary>
    /// Lower is better: running requests relative to the busiest engine's (0..1), plus 0.2 per waiting request (a
    /// queue means the engine is saturated). In <see cref="PreciseKvPolicy"/>'s score a whole-prompt cache hit is
    /// worth 2, so a holder with ten requests queued (or five and a full batch) loses to an idle engine.
    /// </summary>
    public static double Cost(EngineView e, int maxRunning) => (double)e.Running / Math.Max(1, maxRunning) + 0.2 * e.Waiting;

    /// <summary>The index with the highest score, ties broken by <paramref name="rng"/>.</summary>
    public static int Best(IReadOnlyList<EngineView> engines, Func<EngineView, double> score, Random rng)
    {
        int best = -1, ties = 0;
        double bestScore = double.NegativeInfinity;
        foreach (var e in engines)
        {
            double s = score(e);
            if (s > bestScore + 1e-12) { best = e.Index; bestScore = s; ties = 1; }
            else if (Math.Abs(s - bestScore) <= 1e-12 && rng.Next(++ties) == 0) best = e.Index;
        }
        return best;
    }
}

public sealed class RandomPolicy(int seed = 0) : IRoutingPolicy
{
    readonly Random _rng = new(seed);
    public string Name => "random";
    public RouteDecision Choose(RouteRequest r, IReadOnlyList<EngineView> engines) => new(engines[_rng.Next(engines.Count)].Index, "random", 0);
}

public sealed class RoundRobinPolicy : IRoutingPolicy
{
    int _next;
    public string Name => "round_robin";
    public RouteDecision Choose(RouteRequest r, IReadOnlyList<EngineView> engines) => new(engines[_next++ % engines.Count].Index, "round_robin", 0);
}

public sealed class LoadOnlyPolicy(int seed = 0) : IRoutingPolicy
{
    readonly Random _rng = new(seed);
    public string Name => "load_only";
    public RouteDecision Choose(RouteRequest r, IReadOnlyList<EngineView> engines)
    {
        int maxRunning = engines.Max(e => e.Running);
        return new(Load.Best(engines, e => -Load.Cost(e, maxRunning), _rng), "least_loaded", 0);
    }
}

/// <summary>The same engine for the same affinity key (a stable hash over the engines); least loaded without a key.</summary>
public sealed class SessionAffinityPolicy(int seed = 0) : IRoutingPolicy
{
    readonly LoadOnlyPolicy _fallback = new(seed);
    public string Name => "session_affinity";
    public RouteDecision Choose(RouteRequest r, IReadOnlyList<EngineView> engines)
    {
        if (r.AffinityKey is null) return _fallback.Choose(r, engines);
        ulong h = 14695981039346656037UL;
        foreach (char c in r.AffinityKey) h = (h ^ c) * 1099511628211UL;
        return new(engines[(int)(h % (ulong)engines.Count)].Index, "affinity", 0);
    }
}

/// <summary>
/// Prefix-aware routing: the score below, highest wins (ties at random).
/// <code>
///   score(e) = 2 * matched_blocks(e) / chain_blocks - running(e) / max_running - 0.2 * waiting(e)
/// </code>
/// matched_blocks from the precise index (engine events) where the engine's events are fresh (or from the
/// approximate index where it knows more: a request routed moments ago whose events have not arrived), else from
/// the approximate index (what this router sent where); the decision's reason says which ("precise",
/// "approximate_lag", "approximate_fallback", or "no_prefix" when nothing matched anywhere). Every decision is also recorded in the
/// approximate index. With <paramref name="precise"/> null it is the approximate-prefix policy.
/// </summary>
public sealed class PreciseKvPolicy(KvIndex? precise, ApproximateIndex approximate, int seed = 0) : IRoutingPolicy
{
    readonly Random _rng = new(seed);
    public string Name => precise is null ? "approximate_prefix" : "precise_kv";
    public KvIndex? Precise => precise;
    public ApproximateIndex Approximate => approximate;

    public RouteDecision Choose(RouteRequest r, IReadOnlyList<EngineView> engines)
    {
        int[] exact = precise?.Match(r.Chain) ?? new int[approximate.Engines];
        int[] approx = approximate.Match(r.Chain);
        bool anyStale = false;
        // Fresh events are the truth, except that a request routed moments ago has not produced its events yet:
        // where the approximate index knows more (recent routing), it is used ("lag").
        int Matched(EngineView e)
        {
            if (precise is not null && e.EventsFresh) return Math.Max(exact[e.Index], approx[e.Index]);
            anyStale |= precise is not null;
            return approx[e.Index];
        }
        int maxRunning = engines.Max(e => e.Running);
        double chain = Math.Max(1, r.Chain.Count);
        int best = Load.Best(engines, e => 2 * Matched(e) / chain - Load.Cost(e, maxRunning), _rng);
        var chosen = engines.First(e => e.Index == best);
        int expected = Matched(chosen);
        approximate.Routed(best, r.Chain);
        string reason = expected == 0 ? "no_prefix" : precise is null ? "approximate"
            : !chosen.EventsFresh ? "approximate_fallback" : exact[best] >= expected ? "precise" : "approximate_lag";
        if (anyStale && reason == "precise") reason = "precise_partial";
        return new(best, reason, expected);
    }
}
