using SeaLion.Gateway.Auth;
using SeaLion.Gateway.Transport;
using SeaLion.Hosting;

namespace SeaLion.Gateway;

/// <summary>
/// The gateway process of a multi-process cluster, from its command line: this project's own entry point (the
/// gateway image runs it) and the `sealion gateway` verb. No model is loaded: --model names a folder whose
/// config.json, tokenizer.json and tokenizer_config.json describe what the silos serve (the weights, if any, are
/// not read); without it, the embedded default's shipped config and the Llama 3 tokenizer.
/// </summary>
public static class GatewayCommand
{
    public const string Usage = """
        --redis HOST:PORT [--model DIR] [--cluster-id sealion] [--service-id sealion] [--host 127.0.0.1]
        [--grpc-port 50051] [--http-port 8080] [--api-keys FILE | --no-auth] [--failover-budget-s 45]
        [--tls-cert PEM --tls-key PEM] [--cluster-tls-cert PEM --cluster-tls-key PEM --cluster-tls-ca PEM] [--max-connections 10000] [--request-headers-timeout-s 10]
        [--keep-alive-timeout-s 130] [--max-request-headers-kb 32] [--min-request-body-bytes-per-s 240]: the gateway
        of a multi-process cluster (keys from FILE and from the cluster's Redis; TLS, mutual TLS to the silos and connection limits: docs/security.md)
        """;

    public static int Run(CliArgs a)
    {
        string? dir = a.String("model");
        if (dir is not null && dir.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase) && File.Exists(dir)) dir = SeaLion.Model.Gguf.GgufModel.Describe(dir, CliArgs.Home);
        else if (dir is not null && !Directory.Exists(dir)) throw new UsageException($"--model: folder or .gguf file '{dir}' does not exist");
        string host = ServerArgs.Host(a);
        var redis = ServerArgs.Redis(a);
        int grpcPort = a.Int("grpc-port", 50051, 1, 65535), httpPort = a.Int("http-port", 8080, 1, 65535);
        var (auth, authText) = AuthArgs.Read(a, redis, devKeyByDefault: false);
        int budget = a.Int("failover-budget-s", 45, 1, 3600);
        var limits = TransportArgs.ReadLimits(a);
        var tls = TransportArgs.ReadTls(a);
        var clusterTls = ClusterTls.Read(a, ClusterRole.Gateway);
        a.EnsureAllUsed();
        ServerArgs.Distinct(("grpc-port", grpcPort), ("http-port", httpPort));
        const string name = "sea-lion-v2";
        var model = dir is null ? ModelCatalog.Embedded(name) : ModelCatalog.FromDirectory(dir, name);
        var endpoints = new GatewayEndpoints(host, grpcPort, httpPort) { Tls = tls, Limits = limits };
        var app = GatewayHost.Build(model, redis, endpoints, auth, new FailoverOptions(TimeSpan.FromSeconds(budget)), clusterTls);
        app.Lifetime.ApplicationStarted.Register(() => Console.Error.WriteLine(
            $"sealion: gateway for cluster '{redis.ClusterId}' (Redis {redis.Connection}) — {endpoints.Describe}, health and metrics on /healthz, /metrics; Ctrl-C stops\nsealion: {authText}" +
            (clusterTls is null ? "" : $"\nsealion: {clusterTls.Describe}")));
        app.Run();
        return 0;
    }
}
