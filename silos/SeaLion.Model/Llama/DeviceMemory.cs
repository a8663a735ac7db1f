using System.Runtime.InteropServices;

namespace SeaLion.Model.Llama;

/// <summary>
/// Free and total memory of a CUDA device, from the CUDA runtime libtorch already loaded (cudaMemGetInfo, looked up
/// through libtorch_cuda's dependencies, so no CUDA toolkit path is needed). TorchSharp exposes no memory statistics.
/// Unverified here: the machines this was written on have no GPU (ops/gpu/run.sh exercises it on a GPU host).
/// </summary>
public static unsafe class DeviceMemory
{
    static delegate* unmanaged<int*, int> _getDevice;
    static delegate* unmanaged<int, int> _setDevice;
    static delegate* unmanaged<nuint*, nuint*, int> _memGetInfo;
    static readonly object Gate = new();

    /// <summary>(free, total) bytes of CUDA device <paramref name="device"/>, as the CUDA runtime reports them now.</summary>
    public static (long Free, long Total) Query(int device)
    {
        lock (Gate)
        {
            Resolve();
            int previous;
            Check(_getDevice(&previous), "cudaGetDevice");
            try
            {
                Check(_setDevice(device), $"cudaSetDevice({device})");
                nuint free, total;
                Check(_memGetInfo(&free, &total), "cudaMemGetInfo");
                return ((long)free, (long)total);
            }
            finally { _setDevice(previous); }
        }
    }

    static void Resolve()
    {
        if (_memGetInfo != null) return;
        // Any library of the CUDA libtorch whose dependency tree holds libcudart; dlsym searches that tree.
        foreach (var name in new[] { "libtorch_cuda.so", "libc10_cuda.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so" })
        {
            if (!NativeLibrary.TryLoad(name, typeof(DeviceMemory).Assembly, null, out var lib)) continue;
            if (NativeLibrary.TryGetExport(lib, "cudaMemGetInfo", out var mem)
                && NativeLibrary.TryGetExport(lib, "cudaGetDevice", out var get)
                && NativeLibrary.TryGetExport(lib, "cudaSetDevice", out var set))
            {
                _getDevice = (delegate* unmanaged<int*, int>)get;
                _setDevice = (delegate* unmanaged<int, int>)set;
                _memGetInfo = (delegate* unmanaged<nuint*, nuint*, int>)mem;
                return;
            }
        }
        throw new NotSupportedException("no CUDA runtime found (cudaMemGetInfo) beside libtorch: size the KV cache with --kv-cache-mb instead");
    }

    static void Check(int status, string call)
    {
        if (status != 0) throw new InvalidOperationException($"{call} failed with CUDA error {status}");
    }
}

/// <summary>
/// vLLM's gpu_memory_utilization rule for the KV cache: of each device's total memory, the fraction
/// <c>utilization</c> may be used by this engine; what is in use after loading the weights and running the
/// largest forward pass (weights, peak activations kept by the caching allocator, the CUDA context) is subtracted,
/// and the rest holds KV blocks. Every rank holds the same number of blocks, so the tightest device decides.
/// </summary>
public static class KvBudget
{
    /// <summary>Blocks that fit on every device. Throws, naming the numbers, when none fits.</summary>
    public static int Blocks(IReadOnlyList<(long Free, long Total)> devices, double utilization, long bytesPerBlockPerRank)
    {
        if (utilization is <= 0 or > 1) throw new ArgumentOutOfRangeException(nameof(utilization), utilization, "gpu_memory_utilization must be in (0, 1]");
        if (bytesPerBlockPerRank <= 0) throw new ArgumentOutOfRangeException(nameof(bytesPerBlockPerRank), bytesPerBlockPerRank, "must be positive");
        long blocks = long.MaxValue;
        for (int d = 0; d < devices.Count; d++)
        {
            var (free, total) = devices[d];
            long inUse = total - free;
            long budget = (long)(total * utilization) - inUse;
            if (budget < bytesPerBlockPerRank)
                throw new InvalidOperationException(
                    $"gpu_memory_utilization {utilization} of device {d} ({total >> 20} MiB) leaves no room for a KV block of {bytesPerBlockPerRank >> 10} KiB: " +
                    $"{inUse >> 20} MiB are in use after loading and profiling (weights, activations, CUDA context); raise gpu_memory_utilization or use more ranks");
            blocks = Math.Min(blocks, budget / bytesPerBlockPerRank);
        }
        return (int)Math.Min(int.MaxValue, blocks);
    }
}
