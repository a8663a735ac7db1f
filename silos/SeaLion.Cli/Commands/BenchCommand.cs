using System.Text.Json;
using SeaLion.Model.Llama;

namespace SeaLion.Cli.Commands;

/// <summary>`bench model`: single-sequence prefill and decode tokens/s, JSON on stdout. `bench engine`: see BenchEngineCommand; `bench gateway`, `bench cluster`, `bench load`: their commands.</summary>
internal static class BenchCommand
{
    public static int Run(string[] args)
    {
        if (args.Length > 0 && args[0] == "engine") return BenchEngineCommand.Run(new CliArgs("bench engine", args[1..])).GetAwaiter().GetResult();
        if (args.Length > 0 && args[0] == "load") return BenchLoadCommand.Run(new CliArgs("bench load", args[1..])).GetAwaiter().GetResult();
        if (args.Length > 0 && args[0] == "gateway") return BenchGatewayCommand.Run(new CliArgs("bench gateway", args[1..])).GetAwaiter().GetResult();
        if (args.Length > 0 && args[0] == "autoscale") return BenchAutoscaleCommand.Run(new CliArgs("bench autoscale", args[1..])).GetAwaiter().GetResult();
        if (args.Length > 0 && args[0] == "failover") return BenchFailoverCommand.Run(new CliArgs("bench failover", args[1..])).GetAwaiter().GetResult();
        if (args.Length > 0 && args[0] == "soak") return BenchSoakCommand.Run(new CliArgs("bench soak", args[1..])).GetAwaiter().GetResult();
        if (args.Length > 0 && args[0] == "gguf") return BenchGgufCommand.Run(new CliArgs("bench gguf", args[1..]));
        if (args.Length > 0 && args[0] == "structured") return BenchStructuredCommand.Run(new CliArgs("bench structured", args[1..])).GetAwaiter().GetResult();
        if (args.Length > 0 && args[0] == "cluster") return BenchClusterCommand.Run(new CliArgs("bench cluster", args[1..]));
        if (args.Length == 0 || args[0] != "model")
            throw new UsageException("'bench': name what to measure: 'model', 'engine', 'gateway', 'cluster', 'load', 'failover', 'autoscale', 'structured', 'soak' or 'gguf' (./sealion bench model --model DIR ...)");
        var a = new CliArgs("bench model", args[1..]);
        var (load, name, _, options) = ModelArgs.ReadForBench(a, defaultDtype: "fp32");
        int promptLen = a.Int("prompt-len", 128, 1, 1 << 20), genLen = a.Int("gen-len", 128, 1, 1 << 20);
        int repeats = a.Int("repeats", 3, 1, 100);
        a.EnsureAllUsed();
        var r = ModelBenchmark.Run(load, options, promptLen, genLen, repeats);
        Console.Out.WriteLine(JsonSerializer.Serialize(new
        {
            bench = "model", model = name, device = options.Device.ToString().ToLowerInvariant(), dtype = r.Dtype, tp = r.TensorParallel, threads = r.Threads,
            prompt_len = r.PromptLength, gen_len = r.GenLength, load_s = Math.Round(r.LoadSeconds, 3),
            prefill_tok_s = Math.Round(r.PrefillTokensPerSecond, 1), decode_tok_s = Math.Round(r.DecodeTokensPerSecond, 1),
            decode_ms_per_token = Math.Round(r.DecodeMsPerToken, 3),
        }));
        return 0;
    }
}
