using System.Collections.Concurrent;
using SeaLion.Contracts.Grains;
using SeaLion.Routing;
using Microsoft.Extensions.Logging;
using SeaLion.Hosting;

namespace SeaLion.Gateway;

/// <summary>Chooses the engine for a stateless Generate. The seam for KV-aware routing.</summary>
public interface IEngineRouter
{
    /// <summary>An engine grain key, or null when no engine is serving; not <paramref name="avoid"/> (an engine that failed twice) while another serves.</summary>
    ValueTask<string?> PickAsync(int[] promptTokenIds, CancellationToken ct, string? avoid = null);

    /// <summary>Counts a stream this gateway opened on an engine until the returned lease is disposed.</summary>
    IDisposable Open(string engineId);
}

/// <summary>
/// Least loaded engine from the silos' load reports, skipping draining silos and failed engines:
/// <code>cost = running + 2 * waiting + 8 * (1 - free KV fraction) + streams this gateway opened on it</code>
/// (the last term spreads a burst that arrives between two reports). Ties go to a random engine.
/// </summary>
public sealed class LeastLoadedRouter(ClusterLoadMonitor monitor) : IEngineRouter
{
    readonly ConcurrentDictionary<string, int> _open = new();

    public async ValueTask<string?> PickAsync(int[] promptTokenIds, CancellationToken ct, string? avoid = null)
    {
        await monitor.EnsureViewAsync(ct);
        var (best, ties) = Pick(avoid);
        GatewayMetrics.Routed("least_loaded", best is null ? "no_engine" : ties > 1 ? "tie_random" : "least_loaded");
        return best;
    }

    /// <summary>The least-loaded engine of the current view (ties at random), and how many tied; records nothing.</summary>
    internal (string? Best, int Ties) Pick(string? avoid)
    {
        string? best = null;
        double bestCost = double.PositiveInfinity;
        int ties = 0;
        foreach (var s in monitor.Serving())
        {
            foreach (var e in s.Report.Engines)
            {
                if (e.Faulted || e.EngineId == avoid) continue;
                double cost = e.Running + 2.0 * e.Waiting + 8.0 * (1 - e.FreeFraction) + _open.GetValueOrDefault(e.EngineId);
                if (best is null || cost < bestCost - 1e-12) { best = e.EngineId; bestCost = cost; ties = 1; }
                else if (Math.Abs(cost - bestCost) <= 1e-12 && Random.Shared.Next(++ties) == 0) best = e.EngineId;
            }
        }
        return best is null && avoid is not null ? Pick(null) : (best, ties);   // the avoided engine, if it is the only one
    }

    public IDisposable Open(string engineId)
    {
        _open.AddOrUpdate(engineId, 1, (_, n) => n + 1);
        return new Lease(this, engineId);
    }

    sealed class Lease(LeastLoadedRouter router, string engineId) : IDisposable
    {
        int _disposed;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0) router._open.AddOrUpdate(engineId, 0, (_, n) => n - 1);
        }
    }
}

/// <summary>
/// KV-aware routing (the default): the prompt's block-hash chain goes to the cluster KV index grain, which picks
/// the engine by cached prefix against load (<see cref="SeaLion.Routing.PreciseKvPolicy"/>) over the
/// engines this gateway sees serving; every gateway asks the same grain, so replicas route alike. If the index
/// cannot answer within 250 ms the gateway falls back to least-loaded (reason "index_unavailable").
/// </summary>
public sealed class KvAwareRouter(ClusterLoadMonitor monitor, IGrainFactory grains, ILogger<KvAwareRouter> log) : IEngineRouter
{
    public const int BlockSize = 16;
    readonly LeastLoadedRouter _fallback = new(monitor);
    /// <summary>How long a routing decision waits for the index before routing by load (routing must not hold a request up).</summary>
    public TimeSpan IndexTimeout { get; init; } = TimeSpan.FromMilliseconds(250);

    public async ValueTask<string?> PickAsync(int[] promptTokenIds, CancellationToken ct, string? avoid = null)
    {
        await monitor.EnsureViewAsync(ct);
        var healthy = monitor.Serving().SelectMany(s => s.Report.Engines).Where(e => !e.Faulted).ToArray();
        if (healthy.Any(e => e.EngineId != avoid)) healthy = healthy.Where(e => e.EngineId != avoid).ToArray();
        var engines = healthy.Select(e => new EngineLoadView(e.EngineId, e.Running, e.Waiting, e.FreeBlocks, e.TotalBlocks)).ToArray();
        if (engines.Length == 0)
        {
            GatewayMetrics.Routed("precise_kv", "no_engine");
            log.LogWarning("no engine to route to (avoiding {Avoid}); the view: {View}", avoid,
                string.Join("; ", monitor.Samples.Values.Select(s => $"{s.Silo} draining={s.Report.Draining} unreachable={s.Unreachable} engines={string.Join(",", s.Report.Engines.Select(e => $"{e.EngineId} faulted={e.Faulted}"))}")));
            return null;
        }
        var chain = BlockHash.Chain(promptTokenIds, BlockSize);
        var flat = new ulong[chain.Count * 2];
        for (int i = 0; i < chain.Count; i++) (flat[2 * i], flat[2 * i + 1]) = (chain[i].Hi, chain[i].Lo);
        try
        {
            var answer = await grains.GetGrain<IKvIndexGrain>(0).Route(new RouteQuery(flat, promptTokenIds.Length, null, engines)).WaitAsync(IndexTimeout, ct);
            GatewayMetrics.Routed("precise_kv", answer.Reason);
            return answer.EngineId;
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            log.LogDebug(e, "the KV index did not answer; routing by load");
            GatewayMetrics.Routed("precise_kv", "index_unavailable");   // one decision, counted once
            return _fallback.Pick(avoid).Best;
        }
    }

    public IDisposable Open(string engineId) => _fallback.Open(engineId);
}
