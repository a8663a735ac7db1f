using static TorchSharp.torch;

namespace SeaLion.Model.Parallel;

/// <summary>
/// In-process all-reduce (sum) for the ranks of one tensor-parallel group. Each rank posts its partial sum and
/// every rank adds all partials in rank order, so every rank holds bitwise the same result without a second
/// barrier. Partials live in a two-deep ring: the partial of reduction i is freed by its owner at reduction
/// i+2, when the barrier of i+1 proves that every rank has finished reading it.
/// </summary>
internal sealed class AllReduce(int ranks, SpinBarrier barrier)
{
    readonly Tensor?[,] _ring = new Tensor?[2, ranks];
    readonly int[] _generation = new int[ranks];

    /// <summary>Returns the sum of every rank's partial on this rank's device; partial is taken over.</summary>
    public Tensor Sum(int rank, Tensor partial)
    {
        if (ranks == 1) return partial;
        int slot = _generation[rank]++ & 1;
        _ring[slot, rank]?.Dispose();
        _ring[slot, rank] = partial.DetachFromDisposeScope();
        barrier.SignalAndWait();
        var device = partial.device;
        Tensor sum = Local(_ring[slot, 0]!, device).add(Local(_ring[slot, 1]!, device), Llama.Scalars.One);
        for (int r = 2; r < ranks; r++) sum.add_(Local(_ring[slot, r]!, device), Llama.Scalars.One);
        return sum;
    }

    static Tensor Local(Tensor t, Device device) => t.device == device ? t : t.to(device);

    /// <summary>Frees this rank's partials; call after a barrier that every rank passes once done reading.</summary>
    public void Release(int rank)
    {
        for (int s = 0; s < 2; s++) { _ring[s, rank]?.Dispose(); _ring[s, rank] = null; }
        _generation[rank] = 0;
    }
}
