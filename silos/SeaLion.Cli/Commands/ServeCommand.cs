using SeaLion.Engine;
using SeaLion.Gateway;

namespace SeaLion.Cli.Commands;

/// <summary>
/// `serve`: the all-in-one cluster in one process: an Orleans silo with this host's engine and the gRPC gateway,
/// on the embedded default model unless --model is given. --engine sim serves the simulated H100 engine (the
/// model folder gives only its config and tokenizer) in wall time scaled by --sim-time-scale. Stops cleanly on
/// Ctrl-C / SIGTERM.
/// </summary>
internal static class ServeCommand
{
    public static int Run(CliArgs a)
    {
        var (dir, options) = ModelArgs.Read(a);
        string host = a.String("host") ?? "127.0.0.1";
        int grpcPort = a.Int("grpc-port", 50051, 1, 65535), httpPort = a.Int("http-port", 8080, 1, 65535);
        string engine = a.String("engine") ?? "torch";
        long kvBytes = (long)a.Int("kv-cache-mb", 512, 1, 1 << 24) << 20;
        double scale = a.Double("sim-time-scale") ?? 1.0;
        a.EnsureAllUsed();
        if (engine is not ("torch" or "sim")) throw new UsageException($"--engine must be torch or sim, got '{engine}'");
        if (scale <= 0) throw new UsageException($"--sim-time-scale must be positive, got {scale}");
        if (!System.Net.IPAddress.TryParse(host, out _)) throw new UsageException($"--host must be an IP address, got '{host}'");
        if (grpcPort == httpPort) throw new UsageException($"--grpc-port and --http-port must differ, both are {grpcPort}");
        var app = AllInOneHost.Build(new AllInOneOptions
        {
            ModelDir = dir, Host = host, GrpcPort = grpcPort, HttpPort = httpPort, Model = options,
            Engine = new EngineOptions { KvCacheBytes = kvBytes, MetricsName = "engine-0" },
            Simulated = engine == "sim", SimulatedTimeScale = scale,
        });
        app.Lifetime.ApplicationStarted.Register(() => Console.Error.WriteLine(
            $"sealion: serving {dir} ({(engine == "sim" ? $"simulated H100 engine, time scale {scale}" : "TorchSharp engine")}) — gRPC (sealion.v1, HTTP/2) on {host}:{grpcPort}, health on http://{host}:{httpPort}/healthz; Ctrl-C stops"));
        app.Run();
        return 0;
    }
}
