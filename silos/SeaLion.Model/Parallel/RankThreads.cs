using static TorchSharp.torch;

namespace SeaLion.Model.Parallel;

/// <summary>
/// One dedicated thread per tensor-parallel rank, each in inference mode for its whole life. Run() hands every
/// rank the same job and returns when all have finished; a rank's exception breaks the barrier (so the other
/// ranks stop) and is rethrown to the caller.
/// </summary>
internal sealed class RankThreads : IDisposable
{
    readonly Thread[] _threads;
    readonly SemaphoreSlim[] _start;
    readonly CountdownEvent _done;
    readonly SpinBarrier _barrier;
    Action<int>? _job;
    readonly System.Collections.Concurrent.ConcurrentQueue<Exception> _errors = new();
    volatile bool _stopping;

    public RankThreads(int ranks, SpinBarrier barrier, string name)
    {
        _barrier = barrier;
        _start = Enumerable.Range(0, ranks).Select(_ => new SemaphoreSlim(0)).ToArray();
        _done = new CountdownEvent(ranks);
        _threads = Enumerable.Range(0, ranks).Select(r => new Thread(() => Loop(r))
        {
            IsBackground = true,
            Name = $"{name}-rank{r}",
        }).ToArray();
        foreach (var t in _threads) t.Start();
    }

    public int Ranks => _threads.Length;

    public void Run(Action<int> job)
    {
        _job = job;
        _errors.Clear();
        _barrier.Reset();
        _done.Reset();
        foreach (var s in _start) s.Release();
        _done.Wait();
        _job = null;
        // The first real failure, not the cancellations it caused in the other ranks.
        var error = _errors.FirstOrDefault(e => e is not OperationCanceledException) ?? _errors.FirstOrDefault();
        if (error is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
    }

    void Loop(int rank)
    {
        using var mode = inference_mode();
        while (true)
        {
            _start[rank].Wait();
            if (_stopping) return;
            try { _job!(rank); }
            catch (Exception e)
            {
                _errors.Enqueue(e);
                _barrier.Break();
            }
            finally { _done.Signal(); }
        }
    }

    public void Dispose()
    {
        _stopping = true;
        foreach (var s in _start) s.Release();
        foreach (var t in _threads) t.Join();
        foreach (var s in _start) s.Dispose();
        _done.Dispose();
    }
}
