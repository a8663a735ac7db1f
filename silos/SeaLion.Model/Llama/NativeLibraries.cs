using System.Runtime.InteropServices;

namespace SeaLion.Model.Llama;

/// <summary>
/// Lets a CPU build of TorchSharp use a CUDA libtorch that is already installed (e.g. a PyTorch wheel's
/// torch/lib): with SEALION_LIBTORCH_DIR set, its libraries are loaded before TorchSharp first looks for CUDA.
/// Whether TorchSharp 0.107's LibTorchSharp (built for libtorch 2.10) runs against another libtorch version is
/// for the GPU host to find out (ops/gpu/run.sh checks the missing symbols first).
/// </summary>
internal static class NativeLibraries
{
    static bool _done;

    public static void PreloadCudaLibtorch()
    {
        if (_done) return;
        _done = true;
        string? dir = Environment.GetEnvironmentVariable("SEALION_LIBTORCH_DIR");
        if (string.IsNullOrEmpty(dir)) return;
        foreach (var lib in new[] { "libc10.so", "libc10_cuda.so", "libtorch_cpu.so", "libtorch_cuda.so", "libtorch.so" })
        {
            string path = Path.Combine(dir, lib);
            if (File.Exists(path)) NativeLibrary.Load(path);
        }
    }
}

/// <summary>
/// glibc malloc settings for serving on the CPU. libtorch allocates every step's activations, logits and scratch
/// afresh; by default glibc serves blocks of a few MB with mmap and gives freed memory back to the kernel (trimming
/// the heap top, and the heaps of the rank threads' arenas), so each step touches fresh pages and pays a page fault
/// per 4 KB. In this VM that doubled a 16-sequence decode step (forward 40-50 ms against 20 ms, the rank thread's
/// LM head output alone taking page faults every step). Keeping blocks up to 32 MB in the heaps and trimming only
/// above 1 GiB lets each step reuse the previous step's pages. The cost is resident memory that is not returned to
/// the kernel between steps, which a serving process holds anyway. Linux with glibc only; elsewhere a no-op.
/// </summary>
internal static class MallocTuning
{
    static int _applied;

    /// <summary>Applies the settings once per process (an explicit MALLOC_*_ environment setting wins). Returns whether glibc took them.</summary>
    public static bool ForCpuServing()
    {
        if (Interlocked.Exchange(ref _applied, 1) == 1 || !OperatingSystem.IsLinux()) return false;
        bool ok = true;
        if (Environment.GetEnvironmentVariable("MALLOC_MMAP_THRESHOLD_") is null) ok &= Glibc.Mallopt(Glibc.M_MMAP_THRESHOLD, 32 << 20);
        if (Environment.GetEnvironmentVariable("MALLOC_TRIM_THRESHOLD_") is null) ok &= Glibc.Mallopt(Glibc.M_TRIM_THRESHOLD, 1 << 30);
        if (Environment.GetEnvironmentVariable("MALLOC_TOP_PAD_") is null) ok &= Glibc.Mallopt(Glibc.M_TOP_PAD, 64 << 20);
        return ok;
    }
}
