using static TorchSharp.torch;

namespace SeaLion.Model.Parallel;

/// <summary>
/// Runs one job on every tensor-parallel rank at once: rank 0 on the calling thread, ranks 1..N-1 on dedicated
/// threads that live in inference mode. The caller doing rank 0's work itself matters on a CPU with as many
/// cores as ranks: a third, waiting thread would steal time from the ranks and stall them at every barrier.
/// A rank's exception breaks the barrier (the other ranks stop) and is rethrown to the caller.
/// </summary>
internal sealed class RankThreads : IDisposable
{
    readonly Thread[] _workers;          // ranks 1..N-1
    readonly SemaphoreSlim[] _start;
    readonly SpinBarrier _barrier;
    readonly System.Collections.Concurrent.ConcurrentQueue<Exception> _errors = new();
    Action<int>? _job;
    int _pending;
    volatile bool _stopping;

    public RankThreads(int ranks, SpinBarrier barrier, string name)
    {
        _barrier = barrier;
        _start = Enumerable.Range(1, ranks - 1).Select(_ => new SemaphoreSlim(0)).ToArray();
        _workers = Enumerable.Range(1, ranks - 1).Select(r => new Thread(() => Loop(r))
        {
            IsBackground = true,
            Name = $"{name}-rank{r}",
        }).ToArray();
        foreach (var t in _workers) t.Start();
    }

    public void Run(Action<int> job)
    {
        _job = job;
        _errors.Clear();
        _barrier.Reset();
        Volatile.Write(ref _pending, _workers.Length);
        foreach (var s in _start) s.Release();
        using (inference_mode()) Execute(0);
        // The workers finish within a barrier's slack of rank 0: spin, yielding, rather than sleep.
        var spin = new SpinWait();
        while (Volatile.Read(ref _pending) > 0) spin.SpinOnce(sleep1Threshold: -1);
        _job = null;
        // The first real failure, not the cancellations it caused in the other ranks.
        var error = _errors.FirstOrDefault(e => e is not OperationCanceledException) ?? _errors.FirstOrDefault();
        if (error is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
    }

    void Execute(int rank)
    {
        try { _job!(rank); }
        catch (Exception e)
        {
            _errors.Enqueue(e);
            _barrier.Break();
        }
    }

    void Loop(int rank)
    {
        using var mode = inference_mode();
        while (true)
        {
            _start[rank - 1].Wait();
            if (_stopping) return;
            Execute(rank);
            Interlocked.Decrement(ref _pending);
        }
    }

    public void Dispose()
    {
        _stopping = true;
        foreach (var s in _start) s.Release();
        foreach (var t in _workers) t.Join();
        foreach (var s in _start) s.Dispose();
    }
}
