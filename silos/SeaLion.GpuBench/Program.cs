using SeaLion.Bench;
using SeaLion.Hosting;

// The GPU bundle's entry point: the benchmark verbs of `./sealion bench` that run the model and the engine, and the
// device check, with the same options and JSON (SeaLion.Bench holds them for both).
const string Usage = """
    sealion-bench: the SeaLion model and engine benchmarks for a GPU host (ops/gpu/run.sh)

    usage: sealion-bench <verb> [options]     (the same options as ./sealion bench <verb>, see docs/cli.md)

      model       (--model DIR | --random-config NAME [--seed S]) [--device cpu|cuda] [--dtype fp32|bf16] [--tp N]
                  [--threads N] [--prompt-len N] [--gen-len N] [--repeats N]: single-sequence prefill and decode tokens/s
      engine      [--engine torch|sim] (--model DIR | --random-config NAME) [--device cpu|cuda] [--dtype fp32|bf16]
                  [--concurrency 1,4,16,64] [--prompt-len N] [--gen-len N] [--requests-per-level N] [--max-seqs N]
                  [--kv-cache-mb N | --gpu-memory-utilization F]: closed-loop concurrency sweep through the engine
      check-cuda  [--config small] [--bf16-config tiny] [--seed S] [--device cuda|cpu] [--prompt-len 24] [--gen-len 32] [--tolerance 1e-3]
                  [--reference-seed S] [--threads N]: fp32 on the device against fp32 on the CPU, bf16 against fp32
                  on the device, teacher-forced greedy; exit code 1 when they disagree

    SEALION_LIBTORCH_DIR=DIR: a CUDA libtorch (e.g. a PyTorch wheel's torch/lib) loaded before TorchSharp looks for CUDA.
    """;

if (args.Length == 0 || args[0] is "help" or "--help" or "-h")
{
    Console.Out.WriteLine(Usage);
    return args.Length == 0 ? 2 : 0;
}
try
{
    var rest = args[1..];
    return args[0] switch
    {
        "model" => ModelBenchVerb.Run(new CliArgs("model", rest), Console.Out),
        "engine" => EngineBenchVerb.RunAsync(new CliArgs("engine", rest), Console.Out).GetAwaiter().GetResult(),
        "check-cuda" => CudaCheckVerb.Run(new CliArgs("check-cuda", rest), Console.Out),
        var v => throw new UsageException($"unknown verb '{v}'; see 'sealion-bench help'"),
    };
}
catch (UsageException e)
{
    Console.Error.WriteLine($"sealion-bench: {e.Message}");
    return 2;
}
catch (Exception e) when (e is ArgumentException or InvalidDataException or FileNotFoundException or NotSupportedException
                              or System.Text.Json.JsonException or IOException)
{
    Console.Error.WriteLine($"sealion-bench: error: {e.Message}");
    return 1;
}
