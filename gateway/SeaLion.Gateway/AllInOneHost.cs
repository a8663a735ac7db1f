using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Prometheus;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SeaLion.Engine;
using SeaLion.Model;
using SeaLion.Model.Llama;
using SeaLion.Silo;
using SeaLion.Tokenization;

namespace SeaLion.Gateway;

public sealed record AllInOneOptions
{
    public required string ModelDir { get; init; }
    public string ModelName { get; init; } = "sea-lion-v2";
    public string Host { get; init; } = "127.0.0.1";
    public int GrpcPort { get; init; } = 50051;
    public int HttpPort { get; init; } = 8080;
    /// <summary>Orleans silo-to-silo and client gateway ports (localhost clustering).</summary>
    public int SiloPort { get; init; } = 11111;
    public int OrleansGatewayPort { get; init; } = 30000;
    public ModelOptions Model { get; init; } = new();
    public EngineOptions Engine { get; init; } = new();
    /// <summary>Serve with the simulated H100 engine (no weights loaded; timing from the performance model).</summary>
    public bool Simulated { get; init; }
    /// <summary>Wall seconds per modelled second for the simulated engine (1 = real H100 speed).</summary>
    public double SimulatedTimeScale { get; init; } = 1.0;
}

/// <summary>
/// One process with an Orleans silo (localhost clustering), this host's engine behind its engine grain, and the
/// gateway: gRPC (HTTP/2 only: cleartext gRPC on a mixed HTTP/1.1+2 endpoint fails) with grpc.health.v1 and
/// server reflection on one port, /healthz and /metrics on another (HTTP/1.1).
/// </summary>
public static class AllInOneHost
{
    public static WebApplication Build(AllInOneOptions o)
    {
        var tokenizer = BpeTokenizer.FromDirectory(o.ModelDir);
        var config = LlamaConfig.FromDirectory(o.ModelDir);
        var engineOptions = o.Engine with { MetricsName = o.Engine.MetricsName ?? "engine-0" };
        var model = o.Simulated ? null : LlamaModel.Load(o.ModelDir, o.Model);
        var engine = model is null
            ? LlmEngine.CreateSimulated(tokenizer, engineOptions, clock: new WallClock(o.SimulatedTimeScale), vocabSize: config.VocabSize, maxContext: config.MaxPositions)
            : LlmEngine.Create(model, tokenizer, engineOptions);
        var host = new EngineHost(o.ModelName, config, tokenizer, engine, model);

        var builder = WebApplication.CreateBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddFilter("SeaLion", LogLevel.Information);
        var ip = IPAddress.Parse(o.Host);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(ip, o.GrpcPort, l => l.Protocols = HttpProtocols.Http2);
            k.Listen(ip, o.HttpPort, l => l.Protocols = HttpProtocols.Http1);
        });
        builder.UseOrleans(silo => silo.UseLocalhostClustering(o.SiloPort, o.OrleansGatewayPort));
        builder.Services.AddSingleton(host);
        builder.Services.AddSingleton(new ModelCatalog(o.ModelName, tokenizer, config.MaxPositions, config.VocabSize));
        builder.Services.AddGrpc();
        builder.Services.AddGrpcReflection();
        // Health reflects the engine: a failed step makes the host NOT_SERVING. No cache: readiness is immediate.
        builder.Services.AddGrpcHealthChecks(h => h.UseHealthChecksCache = false)
            .AddCheck("engine", () => engine.Fault is null ? HealthCheckResult.Healthy() : HealthCheckResult.Unhealthy("the engine failed", engine.Fault));
        var app = builder.Build();
        app.MapGrpcService<InferenceService>();
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();
        app.MapGet("/healthz", () => engine.Fault is null ? Results.Text("ok") : Results.Text("engine failed", statusCode: 503));
        app.MapMetrics();   // prometheus-net's default registry: the engine's sealion_* series and process metrics
        app.Lifetime.ApplicationStopped.Register(host.Dispose);
        return app;
    }
}
