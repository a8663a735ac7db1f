using System.Diagnostics;
using Orleans.Placement;
using Orleans.Runtime;
using Orleans.Runtime.Placement;
using SeaLion.Contracts.Grains;
using SeaLion.Hosting;

namespace SeaLion.Silo.Placement;

/// <summary>Places a new session where its engine has the most room (see <see cref="SessionPlacementDirector"/>).</summary>
[Serializable, GenerateSerializer, Immutable]
public sealed class SessionPlacement : PlacementStrategy
{
    public static readonly SessionPlacement Instance = new();
}

[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class SessionPlacementAttribute() : PlacementAttribute(SessionPlacement.Instance);

/// <summary>
/// Chooses the silo for a new session from the load reports the silos publish (<see cref="ClusterLoadMonitor"/>).
/// A silo that is shutting down, or whose engines have all failed, is never chosen. Among the rest, highest score
/// wins, ties broken at random:
/// <code>
///   score(silo) = mean over its engines of free KV blocks / total KV blocks
///               - 0.05 * waiting requests per engine      (a queued request costs 5% of a cache)
///               - 0.02 * running requests per engine
///               - 0.01 * (sessions + pending) per engine  (sessions idle between turns will come back)
/// </code>
/// "pending" counts this director's own placements on that silo since its last report was fetched: reports are up
/// to <see cref="ClusterLoadMonitor.Period"/> old, and without it a burst of new sessions would all land on the
/// silo that looked emptiest.
/// </summary>
public sealed class SessionPlacementDirector(ILoadView loads) : IPlacementDirector
{
    static readonly Prometheus.Counter Placements = Prometheus.Metrics.CreateCounter("sealion_session_placements_total", "New sessions placed, by silo.", ["silo"]);
    readonly Lock _lock = new();
    readonly Dictionary<SiloAddress, List<long>> _placedAt = [];

    public static double Score(SiloLoadReport r, int pending)
    {
        var healthy = r.Engines.Where(e => !e.Faulted).ToArray();
        if (healthy.Length == 0) return double.NegativeInfinity;
        double n = healthy.Length;
        return healthy.Average(e => e.FreeFraction)
            - 0.05 * healthy.Sum(e => e.Waiting) / n
            - 0.02 * healthy.Sum(e => e.Running) / n
            - 0.01 * (r.Sessions + pending) / n;
    }

    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var silos = context.GetCompatibleSilos(target);
        if (silos.Length == 0) throw new OrleansException("no active silo can host a session");
        var samples = loads.Samples;
        lock (_lock)
        {
            SiloAddress? best = null;
            double bestScore = double.NegativeInfinity;
            int ties = 0;
            foreach (var silo in silos)
            {
                if (silo.Equals(context.LocalSilo) && context.LocalSiloStatus != SiloStatus.Active) continue;
                double score;
                if (samples.TryGetValue(silo, out var s))
                {
                    if (s.Report.Draining || s.Unreachable) continue;   // leaving, or perhaps dead: not a new home
                    score = Score(s.Report, Pending(silo, s.FetchStarted));
                }
                else score = Score(new SiloLoadReport(silo.ToParsableString(), false, 0, [new EngineLoadReport("", 0, 0, 1, 1, 0, false)]), Pending(silo, long.MinValue));
                if (double.IsNegativeInfinity(score)) continue;
                if (best is null || score > bestScore + 1e-12) { best = silo; bestScore = score; ties = 1; }
                else if (Math.Abs(score - bestScore) <= 1e-12 && Random.Shared.Next(++ties) == 0) best = silo;
            }
            // Every silo draining or failed: a session still needs a home; any compatible silo will do.
            best ??= silos[Random.Shared.Next(silos.Length)];
            Placements.WithLabels(best.ToParsableString()).Inc();
            if (!_placedAt.TryGetValue(best, out var list)) _placedAt[best] = list = [];
            list.Add(Stopwatch.GetTimestamp());
            return Task.FromResult(best);
        }
    }

    /// <summary>
    /// This director's placements on <paramref name="silo"/> that its report may not count yet: those not at least one
    /// poll period older than the report's fetch (the activation reaches the silo a little after placement).
    /// </summary>
    int Pending(SiloAddress silo, long reportFetchStarted)
    {
        if (!_placedAt.TryGetValue(silo, out var list)) return 0;
        long margin = (long)(ClusterLoadMonitor.Period.TotalSeconds * Stopwatch.Frequency);
        list.RemoveAll(t => reportFetchStarted != long.MinValue && t + margin < reportFetchStarted);
        return list.Count;
    }
}
