using SeaLion.Engine;
using SeaLion.Gateway;
using SeaLion.Gateway.Auth;
using SeaLion.Gateway.Transport;
using SeaLion.Hosting;
using SeaLion.Silo;

namespace SeaLion.Cli.Commands;

/// <summary>
/// The serving verbs. `serve`: the all-in-one cluster in one process (an Orleans silo with this host's engine and
/// the gRPC gateway, localhost clustering, sessions in memory), on the embedded default model unless --model is
/// given. `silo` and `gateway`: the processes of a multi-process cluster that find each other through Redis, where
/// sessions are stored too. --engine sim serves the simulated H100 engine (the model folder gives only its config,
/// tokenizer and chat template) in wall time scaled by --sim-time-scale. Each stops cleanly on Ctrl-C / SIGTERM.
/// </summary>
internal static class ServeCommand
{
    sealed record EngineChoice(bool Simulated, double TimeScale, EngineOptions Options)
    {
        public string Describe => Simulated ? $"simulated H100 engine, time scale {TimeScale}" : "TorchSharp engine";
    }

    static EngineChoice ReadEngine(CliArgs a)
    {
        string engine = a.String("engine") ?? "torch";
        var (kvBytes, utilization) = ModelArgs.ReadKvSizing(a);
        double scale = a.Double("sim-time-scale") ?? 1.0;
        if (engine is not ("torch" or "sim")) throw new UsageException($"--engine must be torch or sim, got '{engine}'");
        if (scale <= 0) throw new UsageException($"--sim-time-scale must be positive, got {scale}");
        return new EngineChoice(engine == "sim", scale, new EngineOptions { KvCacheBytes = kvBytes, GpuMemoryUtilization = utilization });
    }

    public static int Run(CliArgs a)
    {
        var (dir, options) = ModelArgs.Read(a);
        string host = ServerArgs.Host(a);
        int grpcPort = a.Int("grpc-port", 50051, 1, 65535), httpPort = a.Int("http-port", 8080, 1, 65535);
        var engine = ReadEngine(a);
        var (auth, authText) = AuthArgs.Read(a, redis: null, devKeyByDefault: true);
        var limits = TransportArgs.ReadLimits(a);
        var tls = TransportArgs.ReadTls(a);   // before the model loads: a bad certificate stops the start at once
        var clusterTls = ClusterTls.Read(a, ClusterRole.Silo);
        a.EnsureAllUsed();
        ServerArgs.Distinct(("grpc-port", grpcPort), ("http-port", httpPort));
        var app = AllInOneHost.Build(new AllInOneOptions
        {
            ModelDir = dir, Host = host, GrpcPort = grpcPort, HttpPort = httpPort, Model = options,
            Engine = engine.Options with { MetricsName = "engine-0" }, Simulated = engine.Simulated, SimulatedTimeScale = engine.TimeScale, Auth = auth,
            Tls = tls, Limits = limits, ClusterTls = clusterTls,
        });
        var endpoints = new GatewayEndpoints(host, grpcPort, httpPort) { Tls = tls };
        app.Lifetime.ApplicationStarted.Register(() => Console.Error.WriteLine(
            $"sealion: serving {dir} ({engine.Describe}) — {endpoints.Describe}, health and metrics on /healthz, /metrics; Ctrl-C stops\nsealion: {authText}" + (clusterTls is null ? "" : $"\nsealion: {clusterTls.Describe}")));
        app.Run();
        return 0;
    }

    public static int Silo(CliArgs a)
    {
        var (dir, options) = ModelArgs.Read(a);
        var (host, advertise) = ServerArgs.HostAndAdvertise(a);
        var redis = ServerArgs.Redis(a);
        int siloPort = a.Int("silo-port", 11111, 1, 65535), gatewayPort = a.Int("gateway-port", 30000, 1, 65535), httpPort = a.Int("http-port", 9090, 1, 65535);
        int drain = a.Int("drain-timeout-s", 30, 0, 3600);
        var engine = ReadEngine(a);
        var clusterTls = ClusterTls.Read(a, ClusterRole.Silo);   // before the model loads
        a.EnsureAllUsed();
        ServerArgs.Distinct(("silo-port", siloPort), ("gateway-port", gatewayPort), ("http-port", httpPort));
        var app = SiloHost.Build(new SiloHostOptions
        {
            ModelDir = dir, Redis = redis, Host = host, Advertise = advertise, SiloPort = siloPort, OrleansGatewayPort = gatewayPort, HttpPort = httpPort,
            Model = options, Engine = engine.Options, Simulated = engine.Simulated, SimulatedTimeScale = engine.TimeScale,
            DrainTimeout = TimeSpan.FromSeconds(drain), ClusterTls = clusterTls,
        });
        app.Lifetime.ApplicationStarted.Register(() => Console.Error.WriteLine(
            $"sealion: silo on {advertise ?? host}:{siloPort} (listening on {host}; client gateway {gatewayPort}) serving {dir} ({engine.Describe}), cluster '{redis.ClusterId}' in Redis {redis.Connection}; health and metrics on http://{host}:{httpPort}; Ctrl-C stops" +
            (clusterTls is null ? "" : $"\nsealion: {clusterTls.Describe}")));
        app.Run();
        return 0;
    }
}
