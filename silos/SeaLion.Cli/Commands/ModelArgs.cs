using SeaLion.Model.Llama;
using TorchSharp;

namespace SeaLion.Cli.Commands;

/// <summary>The options every verb that runs the model shares: --model, --dtype, --tp, --threads.</summary>
internal static class ModelArgs
{
    public static (string Dir, ModelOptions Options) Read(CliArgs a, string defaultDtype = "bf16")
    {
        string dir = ModelLocator.Resolve(a.String("model"));
        var options = new ModelOptions
        {
            DType = ParseDtype(a.String("dtype") ?? defaultDtype),
            TensorParallel = a.Int("tp", 0, 0, 64),
            Threads = a.Int("threads", 0, 0, 1024),
            Device = (a.String("device") ?? "cpu") switch
            {
                "cpu" => DeviceType.CPU,
                "cuda" => DeviceType.CUDA,
                var d => throw new UsageException($"--device must be cpu or cuda, got '{d}'"),
            },
        };
        return (dir, options);
    }

    public static torch.ScalarType ParseDtype(string s) => s.ToLowerInvariant() switch
    {
        "bf16" or "bfloat16" => torch.ScalarType.BFloat16,
        "fp32" or "f32" or "float32" => torch.ScalarType.Float32,
        "fp16" or "f16" or "float16" => torch.ScalarType.Float16,
        _ => throw new UsageException($"--dtype must be bf16, fp32 or fp16, got '{s}'"),
    };
}
