using SeaLion.Model.Weights;

namespace SeaLion.Cli.Commands;

/// <summary>`init-random`: a complete HF model folder with seeded random weights for any Llama config.</summary>
internal static class InitRandomCommand
{
    public static int Run(CliArgs a)
    {
        string config = ModelLocator.ConfigPath(a.Required("config"));
        string outDir = a.Required("out");
        long seed = a.Long("seed") ?? 0;
        string? dtype = a.String("dtype");
        long maxShard = a.Long("max-shard-size") ?? (2L << 30);
        a.EnsureAllUsed();
        if (maxShard <= 0) throw new UsageException($"--max-shard-size must be positive, got {maxShard}");
        StoredDType? stored = dtype?.ToLowerInvariant() switch
        {
            null => null,
            "f32" or "fp32" or "float32" => StoredDType.F32,
            "bf16" or "bfloat16" => StoredDType.BF16,
            "f16" or "fp16" or "float16" => StoredDType.F16,
            _ => throw new UsageException($"--dtype must be f32, bf16 or f16, got '{dtype}'"),
        };
        RandomCheckpoint.Write(config, outDir, unchecked((ulong)seed), ModelLocator.TokenizerDir, stored, maxShard);
        Console.Error.WriteLine($"wrote {outDir}");
        return 0;
    }
}
