using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using SeaLion.Engine;
using SeaLion.Gateway;
using SeaLion.Hosting;
using SeaLion.Model.Llama;
using SeaLion.Silo;

namespace SeaLion.Cli;

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
    /// <summary>Both gateway ports over TLS from these PEM files (reloaded when they change); null: cleartext.</summary>
    public SeaLion.Gateway.Transport.TlsFiles? Tls { get; init; }
    public SeaLion.Gateway.Transport.ConnectionLimits Limits { get; init; } = SeaLion.Gateway.Transport.ConnectionLimits.Default;
    /// <summary>Mutual TLS on the silo's Orleans ports (silo and client gateway); null: cleartext.</summary>
    public ClusterTls? ClusterTls { get; init; }
    /// <summary>API keys, or keyless. Programmatic hosts (tests, benchmarks) default to keyless; the CLI never does.</summary>
    public SeaLion.Gateway.Auth.AuthOptions Auth { get; init; } = SeaLion.Gateway.Auth.AuthOptions.Anonymous;
}

/// <summary>
/// One process with an Orleans silo (localhost clustering, sessions in memory), this host's engine, and the gateway
/// (see <see cref="GatewayHosting"/>). The engine is loaded before the host is built, so a bad model folder fails here.
/// </summary>
public static class AllInOneHost
{
    public static WebApplication Build(AllInOneOptions o)
    {
        ProcessSetup.UseSeaLionMetricsOnly();
        var engineOptions = o.Engine with { MetricsName = o.Engine.MetricsName ?? "engine-0" };
        var host = EngineHost.Create(o.ModelDir, o.ModelName, o.Model, engineOptions, o.Simulated, o.SimulatedTimeScale);
        try
        {
            var builder = WebApplication.CreateBuilder();
            var endpoints = new GatewayEndpoints(o.Host, o.GrpcPort, o.HttpPort) { Tls = o.Tls, Limits = o.Limits };
            builder.AddSeaLionGateway(endpoints,
                new ModelCatalog(o.ModelName, host.Tokenizer, host.Template, host.Config.MaxPositions, host.Config.VocabSize), o.Auth);
            builder.UseOrleans(silo =>
            {
                silo.UseLocalhostClustering(o.SiloPort, o.OrleansGatewayPort)
                    .AddMemoryGrainStorage(SessionGrain.Storage)
                    .AddSeaLionSilo(_ => host);
                ClusterTls.Apply(silo, o.ClusterTls);
            });
            builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = TimeSpan.FromSeconds(60));   // 30 s drain, then Orleans
            return builder.Build().MapSeaLionGateway();
        }
        catch
        {
            host.Dispose();
            throw;
        }
    }
}
