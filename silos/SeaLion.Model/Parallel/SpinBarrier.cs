namespace SeaLion.Model.Parallel;

/// <summary>
/// A reusable barrier for the ranks of one tensor-parallel group. Ranks meet here twice per layer, so it
/// spins (yielding, never sleeping a millisecond) instead of blocking on a kernel event. A rank that fails
/// breaks the barrier so the others throw instead of waiting forever.
/// </summary>
internal sealed class SpinBarrier(int participants)
{
    int _arrived;
    int _phase;
    volatile bool _broken;

    public void SignalAndWait()
    {
        int phase = Volatile.Read(ref _phase);
        if (Interlocked.Increment(ref _arrived) == participants)
        {
            Volatile.Write(ref _arrived, 0);
            Interlocked.Increment(ref _phase);
            return;
        }
        var spin = new SpinWait();
        while (Volatile.Read(ref _phase) == phase)
        {
            if (_broken) throw new OperationCanceledException("another tensor-parallel rank failed");
            spin.SpinOnce(sleep1Threshold: -1);
        }
    }

    public void Break() => _broken = true;

    public void Reset() { _broken = false; _arrived = 0; }
}
