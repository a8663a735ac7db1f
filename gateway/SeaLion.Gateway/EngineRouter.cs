using System.Collections.Concurrent;
using SeaLion.Silo;

namespace SeaLion.Gateway;

/// <summary>Chooses the engine for a stateless Generate. The seam for KV-aware routing.</summary>
public interface IEngineRouter
{
    /// <summary>An engine grain key, or null when no engine is serving.</summary>
    ValueTask<string?> PickAsync(int[] promptTokenIds, CancellationToken ct);

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

    public async ValueTask<string?> PickAsync(int[] promptTokenIds, CancellationToken ct)
    {
        await monitor.EnsureViewAsync(ct);
        string? best = null;
        double bestCost = double.PositiveInfinity;
        int ties = 0;
        foreach (var s in monitor.Samples.Values)
        {
            if (s.Report.Draining) continue;
            foreach (var e in s.Report.Engines)
            {
                if (e.Faulted) continue;
                double cost = e.Running + 2.0 * e.Waiting + 8.0 * (1 - e.FreeFraction) + _open.GetValueOrDefault(e.EngineId);
                if (best is null || cost < bestCost - 1e-12) { best = e.EngineId; bestCost = cost; ties = 1; }
                else if (Math.Abs(cost - bestCost) <= 1e-12 && Random.Shared.Next(++ties) == 0) best = e.EngineId;
            }
        }
        GatewayMetrics.Routed("least_loaded", best is null ? "no_engine" : ties > 1 ? "tie_random" : "least_loaded");
        return best;
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
