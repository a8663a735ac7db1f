using SeaLion.Hosting;
using SeaLion.Model;
using SeaLion.Model.Llama;
using TorchSharp;

namespace SeaLion.Bench;

/// <summary>The options every verb that runs the model shares: --model, --dtype, --tp, --threads, --device, --cpu-kernels.</summary>
public static class ModelArgs
{
    public static (string Dir, ModelOptions Options) Read(CliArgs a, string defaultDtype = "bf16")
    {
        string dir = ModelLocator.Resolve(a.String("model"));
        var options = ReadOptions(a, defaultDtype);
        return (dir, options);
    }

    /// <summary>
    /// A model for the benchmarks: the --model folder, or with --random-config NAME|FILE seeded random weights
    /// drawn on the device itself (no checkpoint on disk: how the 8B shape is measured on a GPU host).
    /// Returns a loader, a description, and the tokenizer folder.
    /// </summary>
    public static (Func<LlamaModel> Load, string Name, string TokenizerDir, ModelOptions Options) ReadForBench(CliArgs a, string defaultDtype)
    {
        string? random = a.String("random-config");
        if (random is null)
        {
            var (dir, o) = Read(a, defaultDtype);
            return (() => LlamaModel.Load(dir, o), dir, dir, o);
        }
        if (a.Has("model")) throw new UsageException("give --model DIR or --random-config NAME, not both");
        string path = ModelLocator.ConfigPath(random);
        var config = LlamaConfig.Parse(File.ReadAllText(path), path);
        ulong seed = unchecked((ulong)(a.Long("seed") ?? 0));
        var options = ReadOptions(a, defaultDtype);
        return (() => LlamaModel.CreateRandom(config, seed, options), $"random:{Path.GetFileNameWithoutExtension(path)}", ModelLocator.TokenizerDir, options);
    }

    /// <summary>
    /// --kv-cache-mb N (bytes of KV cache over all ranks; default 512 on CPU) and --gpu-memory-utilization F
    /// (GPU hosts without --kv-cache-mb: the fraction of each device the engine may fill, default 0.9).
    /// </summary>
    public static (long? Bytes, double Utilization) ReadKvSizing(CliArgs a)
    {
        long? bytes = a.Has("kv-cache-mb") ? (long)a.Int("kv-cache-mb", 512, 1, 1 << 24) << 20 : null;
        double utilization = a.Double("gpu-memory-utilization") ?? 0.9;
        if (utilization is <= 0 or > 1) throw new UsageException($"--gpu-memory-utilization must be in (0, 1], got {utilization}");
        return (bytes, utilization);
    }

    static ModelOptions ReadOptions(CliArgs a, string defaultDtype)
    {
        return new ModelOptions
        {
            DType = ParseDtype(a.String("dtype") ?? defaultDtype),
            TensorParallel = a.Int("tp", 0, 0, 64),
            Threads = a.Int("threads", 0, 0, 1024),
            Device = ParseDevice(a.String("device") ?? "cpu"),
            CpuKernels = (a.String("cpu-kernels") ?? "sealion") switch
            {
                "sealion" => true,
                "torch" => false,
                var g => throw new UsageException($"--cpu-kernels must be sealion or torch, got '{g}'"),
            },
        };
    }

    public static DeviceType ParseDevice(string s) => s switch
    {
        "cpu" => DeviceType.CPU,
        "cuda" => DeviceType.CUDA,
        _ => throw new UsageException($"--device must be cpu or cuda, got '{s}'"),
    };

    public static torch.ScalarType ParseDtype(string s) => s.ToLowerInvariant() switch
    {
        "bf16" or "bfloat16" => torch.ScalarType.BFloat16,
        "fp32" or "f32" or "float32" => torch.ScalarType.Float32,
        "fp16" or "f16" or "float16" => torch.ScalarType.Float16,
        _ => throw new UsageException($"--dtype must be bf16, fp32 or fp16, got '{s}'"),
    };
}
