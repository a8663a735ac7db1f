using System.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using SeaLion.Contracts.Grains;
using SeaLion.Engine;
using SeaLion.Routing;
using SeaLion.Silo.Placement;

namespace SeaLion.Silo;

/// <summary>
/// The cluster KV index and the precise KV-aware routing decision (<see cref="PreciseKvPolicy"/>, its score stated
/// there). An engine whose event batches show a gap (lost or reordered), or that has not published for
/// <see cref="StaleAfter"/>, has its entries dropped and is routed by the approximate index until
/// <see cref="RecoverAfter"/> of clean batches has passed; decisions say which index they used. Held in memory:
/// if this grain's silo goes, the next activation starts empty and every engine counts as recovering.
/// </summary>
public sealed class KvIndexGrain : Grain, IKvIndexGrain
{
    public const int MaxEngines = 256;
    public static readonly TimeSpan StaleAfter = TimeSpan.FromSeconds(10), RecoverAfter = TimeSpan.FromSeconds(5);
    const int BlocksPerEngineGuess = 1 << 15;

    readonly KvIndex _precise = new(MaxEngines);
    readonly ApproximateIndex _approximate = new(MaxEngines, BlocksPerEngineGuess);
    readonly PreciseKvPolicy _policy;
    readonly Dictionary<string, int> _index = [];
    readonly List<string> _ids = [];
    readonly Dictionary<int, (long Sequence, long LastAt, long CleanSince)> _streams = [];

    public KvIndexGrain() => _policy = new PreciseKvPolicy(_precise, _approximate, seed: 17);

    int IndexOf(string engineId)
    {
        if (_index.TryGetValue(engineId, out int i)) return i;
        if (_ids.Count >= MaxEngines) throw new InvalidOperationException($"the KV index tracks at most {MaxEngines} engines");
        _index[engineId] = i = _ids.Count;
        _ids.Add(engineId);
        return i;
    }

    public Task Publish(string engineId, long sequence, KvBlockEvent[] events)
    {
        int e = IndexOf(engineId);
        long now = Stopwatch.GetTimestamp();
        if (!_streams.TryGetValue(e, out var s) || sequence != s.Sequence + 1)
        {
            _precise.Clear(e);   // a gap: what this engine holds is unknown until its cache turns over
            s = (sequence, now, now);
        }
        else s = (sequence, now, s.CleanSince);
        _streams[e] = s;
        foreach (var ev in events)
            if (ev.Stored) _precise.Add(e, new BlockHash(ev.Hi, ev.Lo));
            else _precise.Remove(e, new BlockHash(ev.Hi, ev.Lo));
        return Task.CompletedTask;
    }

    bool Fresh(int e)
    {
        if (!_streams.TryGetValue(e, out var s)) return false;
        return Stopwatch.GetElapsedTime(s.LastAt) < StaleAfter && Stopwatch.GetElapsedTime(s.CleanSince) >= RecoverAfter;
    }

    public Task<RouteAnswer> Route(RouteQuery q)
    {
        if (q.Engines.Length == 0) throw new ArgumentException("no engines to route to");
        var chain = new BlockHash[q.Chain.Length / 2];
        for (int i = 0; i < chain.Length; i++) chain[i] = new BlockHash(q.Chain[2 * i], q.Chain[2 * i + 1]);
        var views = q.Engines.Select(v => { int e = IndexOf(v.EngineId); return new EngineView(e, v.Running, v.Waiting, v.FreeBlocks, v.TotalBlocks, Fresh(e)); }).ToArray();
        var d = _policy.Choose(new RouteRequest(chain, q.PromptTokens, q.AffinityKey), views);
        return Task.FromResult(new RouteAnswer(_ids[d.Engine], d.Reason, d.ExpectedCachedBlocks));
    }
}

/// <summary>Sends this silo's engine's KV events to the cluster KV index every 50 ms (a heartbeat each second when idle), numbered so that a lost batch shows.</summary>
public sealed class KvEventPublisher(EngineHost host, IGrainFactory grains, ILocalSiloDetails local, IHostApplicationLifetime lifetime, ILogger<KvEventPublisher> log)
    : BackgroundService
{
    static readonly TimeSpan Period = TimeSpan.FromMilliseconds(50), Heartbeat = TimeSpan.FromSeconds(1);
    readonly System.Collections.Concurrent.ConcurrentQueue<IReadOnlyList<KvEvent>> _queue = new();   // one list per engine step

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        host.Engine.KvEvents += _queue.Enqueue;   // on the engine thread: the step's list, converted here below
        var started = new TaskCompletionSource();
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        using (stoppingToken.Register(() => started.TrySetCanceled()))
        {
            try { await started.Task; } catch (OperationCanceledException) { return; }
        }
        string engineId = EngineHost.EngineId(SiloPinnedPlacement.Key(local.SiloAddress));
        var index = grains.GetGrain<IKvIndexGrain>(0);
        long sequence = 0, lastSent = 0;
        var batch = new List<KvBlockEvent>();
        while (!stoppingToken.IsCancellationRequested)
        {
            try { await Task.Delay(Period, stoppingToken); } catch (OperationCanceledException) { break; }
            batch.Clear();
            while (batch.Count < 65536 && _queue.TryDequeue(out var step))
                foreach (var e in step) batch.Add(new KvBlockEvent(e.Hash.Hi, e.Hash.Lo, e is BlockStored));
            // An idle engine sends an empty batch once a second: enough for the index to know it is alive
            // (KvIndexGrain.StaleAfter), without a grain call per engine every 50 ms.
            if (batch.Count == 0 && Stopwatch.GetElapsedTime(lastSent) < Heartbeat) continue;
            lastSent = Stopwatch.GetTimestamp();
            sequence++;   // counted even when the send fails: the index then sees the gap
            try { await index.Publish(engineId, sequence, batch.ToArray()).WaitAsync(TimeSpan.FromSeconds(2), stoppingToken); }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested) { log.LogDebug(e, "KV events not delivered (batch {Sequence})", sequence); }
        }
    }
}
