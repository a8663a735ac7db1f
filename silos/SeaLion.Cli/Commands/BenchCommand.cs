namespace SeaLion.Cli.Commands;

/// <summary>`bench model`: single-sequence prefill and decode tokens/s, JSON on stdout (ModelBenchVerb). `bench check-cuda`: CudaCheckVerb. `bench engine`: see BenchEngineCommand; `bench gateway`, `bench cluster`, `bench load`: their commands.</summary>
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
        if (args.Length > 0 && args[0] == "check-cuda") return CudaCheckVerb.Run(new CliArgs("bench check-cuda", args[1..]), Console.Out);
        if (args.Length > 0 && args[0] == "cluster") return BenchClusterCommand.Run(new CliArgs("bench cluster", args[1..]));
        if (args.Length == 0 || args[0] != "model")
            throw new UsageException("'bench': name what to measure: 'model', 'engine', 'check-cuda', 'gateway', 'cluster', 'load', 'failover', 'autoscale', 'structured', 'soak' or 'gguf' (./sealion bench model --model DIR ...)");
        return ModelBenchVerb.Run(new CliArgs("bench model", args[1..]), Console.Out);
    }
}
