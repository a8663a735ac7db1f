using System.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using SeaLion.Contracts.Grains;

namespace SeaLion.Hosting;

/// <summary>
/// A silo's last load report and when the fetch that produced it started (Stopwatch ticks). Unreachable: the latest
/// fetch failed (this report is older); routers and placement skip such a silo while another can serve.
/// </summary>
public sealed record SiloLoadSample(SiloAddress Silo, SiloLoadReport Report, long FetchStarted, bool Unreachable = false);

/// <summary>The latest load reports of the cluster's silos, as a placement director or router reads them.</summary>
public interface ILoadView
{
    IReadOnlyDictionary<SiloAddress, SiloLoadSample> Samples { get; }

    /// <summary>
    /// Counts suspected losses: a silo that stopped answering its load poll, or left the active membership. A caller
    /// waiting on a silo that may be gone compares it before and after its wait (see the gateway's stream watchdog).
    /// </summary>
    long LossEpoch { get; }
}

/// <summary>
/// The cluster's load as this process last saw it: every active silo's <see cref="ISiloLoadGrain"/> polled every
/// <see cref="Period"/> (membership from the management grain every second). Silos run it for the session placement
/// director, the gateway for its engine router. Reads never block on the network.
/// </summary>
/// <remarks>
/// In a host, polling starts once the host has started (before that the silo, or the client's connection, is not
/// up) and stops when it starts stopping. Without a lifetime (a benchmark, a test) it polls from StartAsync.
/// </remarks>
public sealed class ClusterLoadMonitor(IGrainFactory grains, ILogger<ClusterLoadMonitor> log, IHostApplicationLifetime? lifetime = null) : BackgroundService, ILoadView
{
    public static readonly TimeSpan Period = TimeSpan.FromMilliseconds(100);
    static readonly TimeSpan MembershipPeriod = TimeSpan.FromSeconds(1);
    static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(2);
    static readonly TimeSpan KeepSilentFor = TimeSpan.FromSeconds(5);

    volatile IReadOnlyDictionary<SiloAddress, SiloLoadSample> _samples = new Dictionary<SiloAddress, SiloLoadSample>();
    SiloAddress[] _silos = [];
    long _membershipAt;   // Stopwatch ticks of the last membership read; 0 = never
    readonly SemaphoreSlim _refreshing = new(1, 1);

    public IReadOnlyDictionary<SiloAddress, SiloLoadSample> Samples => _samples;
    long _lossEpoch;
    public long LossEpoch => Interlocked.Read(ref _lossEpoch);

    /// <summary>Polls membership (when due) and every silo once; a silo that does not answer drops out of the view.</summary>
    public async Task RefreshAsync(CancellationToken ct = default)
    {
        await _refreshing.WaitAsync(ct);
        try
        {
            if (_membershipAt == 0 || Stopwatch.GetElapsedTime(_membershipAt) >= MembershipPeriod)
            {
                var hosts = await grains.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true).WaitAsync(CallTimeout, ct);
                var active = hosts.Where(h => h.Value == SiloStatus.Active).Select(h => h.Key).ToArray();
                if (_silos.Except(active).Any()) Interlocked.Increment(ref _lossEpoch);   // a silo left (declared dead, or stopped)
                _silos = active;
                _membershipAt = Stopwatch.GetTimestamp();
            }
            var fetches = _silos.Select(async silo =>
            {
                long started = Stopwatch.GetTimestamp();
                try
                {
                    var report = await grains.GetGrain<ISiloLoadGrain>(silo.ToParsableString()).Report().WaitAsync(CallTimeout, ct);
                    return new SiloLoadSample(silo, report, started);
                }
                catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    log.LogDebug(e, "no load report from {Silo}", silo);
                    return null;
                }
            }).ToArray();
            var samples = await Task.WhenAll(fetches);
            // A silo that is slow to answer once keeps its last report for a while; one that stays silent (or
            // leaves the membership) drops out of the view.
            var previous = _samples;
            var next = new Dictionary<SiloAddress, SiloLoadSample>();
            for (int i = 0; i < _silos.Length; i++)
            {
                if (samples[i] is { } fresh) next[_silos[i]] = fresh;
                else if (previous.TryGetValue(_silos[i], out var old))
                {
                    if (!old.Unreachable) Interlocked.Increment(ref _lossEpoch);   // it answered last time: a suspected loss
                    if (Stopwatch.GetElapsedTime(old.FetchStarted) < KeepSilentFor) next[_silos[i]] = old with { Unreachable = true };
                }
            }
            _samples = next;
        }
        finally { _refreshing.Release(); }
    }

    /// <summary>
    /// The silos new work may go to: not draining, and answering their load poll (if any silo answers; else the
    /// silent ones too, whose last report may still be right).
    /// </summary>
    public IEnumerable<SiloLoadSample> Serving()
    {
        var open = _samples.Values.Where(s => !s.Report.Draining).ToArray();
        return open.Any(s => !s.Unreachable) ? open.Where(s => !s.Unreachable) : open;
    }

    /// <summary>Refreshes now unless a view exists (for callers that need one before the first poll).</summary>
    public async Task EnsureViewAsync(CancellationToken ct = default)
    {
        if (_samples.Count == 0) await RefreshAsync(ct);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (lifetime is not null)
        {
            var started = new TaskCompletionSource();
            using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
            using (stoppingToken.Register(() => started.TrySetCanceled()))
            {
                try { await started.Task; }
                catch (OperationCanceledException) { return; }
            }
        }
        // Stop polling as soon as the host starts stopping: the silo may stop before this service does.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, lifetime?.ApplicationStopping ?? CancellationToken.None);
        while (!stop.IsCancellationRequested)
        {
            try { await RefreshAsync(stop.Token); }
            catch (OperationCanceledException) when (stop.IsCancellationRequested) { break; }
            catch (Exception e) { log.LogDebug(e, "cluster load poll failed; retrying"); _membershipAt = 0; }
            try { await Task.Delay(Period, stop.Token); }
            catch (OperationCanceledException) { break; }
        }
    }
}
