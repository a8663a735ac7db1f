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
