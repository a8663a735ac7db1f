using System.Collections.Concurrent;
using System.Diagnostics;
using SeaLion.Hosting;

namespace SeaLion.Gateway;

/// <summary>
/// Ends the wait of a grain stream whose silo may be gone, instead of letting it run into Orleans' response timeout
/// (30 s): an Orleans client is not told of calls pending on a silo that died, nor of calls its client gateway
/// (another silo) was forwarding when that one died. A watched stream is cut when it has had nothing for
/// <see cref="IdleLimit"/> and a silo has been suspected lost since its last chunk (<see cref="ILoadView.LossEpoch"/>:
/// a silo that stopped answering its load poll, or left the membership). A live stream sends tokens every few
/// milliseconds, so only streams that wait across a loss are cut; the failover loop resumes them, token-exact.
/// </summary>
public sealed class StreamWatchdog : IDisposable
{
    public static readonly TimeSpan IdleLimit = TimeSpan.FromSeconds(1);
    static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(200);
    readonly ILoadView _view;
    readonly ConcurrentDictionary<Watch, byte> _watches = new();
    readonly Timer _timer;

    public StreamWatchdog(ILoadView view)
    {
        _view = view;
        _timer = new Timer(_ => Check(), null, Tick, Tick);
    }

    /// <summary>Watches one attempt of a stream: its token is cancelled when the stream stalls across a loss.</summary>
    public Watch Start(CancellationToken ct)
    {
        var w = new Watch(this, ct);
        _watches[w] = 0;
        return w;
    }

    void Check()
    {
        long epoch = _view.LossEpoch, now = Stopwatch.GetTimestamp();
        foreach (var w in _watches.Keys) w.FireIfStalled(epoch, now);
    }

    public void Dispose() => _timer.Dispose();

    public sealed class Watch : IDisposable
    {
        readonly StreamWatchdog _owner;
        readonly CancellationTokenSource _cts;
        long _lastProgress, _epoch;
        volatile bool _fired;

        internal Watch(StreamWatchdog owner, CancellationToken ct)
        {
            _owner = owner;
            _cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            Progress();
        }

        /// <summary>Cancelled when the caller's token is, or when the watchdog cuts the stream.</summary>
        public CancellationToken Token => _cts.Token;

        /// <summary>The watchdog cut this stream (not the caller).</summary>
        public bool Fired => _fired;

        /// <summary>A chunk arrived: the stream is alive as of now and of the current loss count.</summary>
        public void Progress()
        {
            Volatile.Write(ref _epoch, _owner._view.LossEpoch);
            Volatile.Write(ref _lastProgress, Stopwatch.GetTimestamp());
        }

        internal void FireIfStalled(long epoch, long now)
        {
            if (_fired || epoch == Volatile.Read(ref _epoch) || Stopwatch.GetElapsedTime(Volatile.Read(ref _lastProgress), now) < IdleLimit) return;
            _fired = true;
            try { _cts.Cancel(); } catch (ObjectDisposedException) { }
        }

        public void Dispose()
        {
            _owner._watches.TryRemove(this, out _);
            _cts.Dispose();
        }
    }
}

/// <summary>A stream stopped while a silo was being lost: it is resumed elsewhere.</summary>
public sealed class StreamStalledException(TimeSpan idle) : Exception($"the stream stalled for {idle.TotalSeconds:F1} s while a silo was lost");

/// <summary>A grain stream ended without its last chunk (no finish reason): resumed as a lost stream.</summary>
public sealed class StreamEndedEarlyException() : Exception("the stream ended without a finish reason");
