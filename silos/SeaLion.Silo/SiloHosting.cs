using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Prometheus;
using SeaLion.Engine;
using SeaLion.Hosting;
using SeaLion.Model.Llama;
using SeaLion.Silo.Placement;
using StackExchange.Redis;

namespace SeaLion.Silo;

/// <summary>What makes an Orleans silo a SeaLion silo, whatever its clustering: its engine and the grains over it.</summary>
public static class SiloHosting
{
    /// <summary>
    /// Registers this silo's engine host (created once, disposed with the silo's container), its load state, the
    /// cluster load monitor, and the placement directors for pinned grains and sessions. Session storage (provider
    /// "sessions") is the caller's choice: memory all-in-one, Redis for a multi-process cluster.
    /// </summary>
    public static ISiloBuilder AddSeaLionSilo(this ISiloBuilder silo, Func<IServiceProvider, EngineHost> engine, TimeSpan? drainTimeout = null)
    {
        silo.Services.AddSingleton(new DrainOptions(drainTimeout ?? TimeSpan.FromSeconds(30)));
        // Both hosted services take the engine host, so the model loads and the engine starts with the host (the
        // host builds every hosted service before starting any), not inside the first grain activation that needs it.
        silo.Services.AddHostedService<DrainOnStop>();
        silo.Services.AddHostedService<KvEventPublisher>();
        silo.Services.AddSingleton(engine);
        silo.Services.AddSingleton<SiloState>();
        silo.Services.TryAddSingleton(_ => SessionStoreHealth.InMemory);
        silo.Services.AddHostedService<SessionStoreWatch>();
        silo.Services.AddClusterLoadMonitor();
        silo.AddPlacementDirector<SiloPinnedPlacement, SiloPinnedPlacementDirector>();
        silo.AddPlacementDirector<SessionPlacement, SessionPlacementDirector>();
        silo.AddActivityPropagation();   // grain calls carry the caller's trace context; the engine's spans join it
        return silo;
    }

    /// <summary>Redis membership (the cluster's silos find each other there) and Redis session storage.</summary>
    public static ISiloBuilder UseRedis(this ISiloBuilder silo, RedisClusterOptions redis)
    {
        silo.Configure<ClusterOptions>(o => { o.ClusterId = redis.ClusterId; o.ServiceId = redis.ServiceId; });
        // A killed host is declared dead within ~2 probe timeouts (4-6 s) instead of Orleans' default ~30 s, so
        // streams and sessions fail over quickly (the gateway's FailoverOptions bound the retry after a cut).
        silo.Configure<ClusterMembershipOptions>(o => { o.ProbeTimeout = TimeSpan.FromSeconds(2); o.NumMissedProbesLimit = 2; });
        silo.UseRedisClustering(o => o.ConfigurationOptions = ConfigurationOptions.Parse(redis.Connection));
        silo.AddRedisGrainStorage(SessionGrain.Storage, o => o.ConfigurationOptions = ConfigurationOptions.Parse(redis.Connection));
        silo.Services.AddSingleton(_ => new SessionStoreHealth(redis.Connection));
        return silo;
    }
}

/// <summary>How long a stopping silo waits for its engine's requests to finish.</summary>
public sealed record DrainOptions(TimeSpan Timeout);

/// <summary>
/// Drain on SIGTERM / Ctrl-C / a graceful stop: the moment the host starts stopping, the silo reports itself
/// draining (no new sessions are placed on it, the gateway routes no new requests to it), then the stop waits —
/// before Orleans deactivates anything — until the engine has no running or waiting request, or the drain timeout
/// passes (then what is left is cut). Sessions were persisted at the end of each turn; Orleans then leaves the
/// cluster gracefully, and the sessions' next calls activate them elsewhere.
/// </summary>
sealed class DrainOnStop : IHostedService
{
    public DrainOnStop(IHostApplicationLifetime lifetime, EngineHost host, SiloState state, DrainOptions options, ILogger<DrainOnStop> log)
    {
        lifetime.ApplicationStopping.Register(() =>
        {
            state.Drain();
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var l = host.Engine.Load;
            if (l.Running + l.Waiting > 0 || state.Streams > 0) log.LogInformation("draining: waiting up to {Timeout} s for {Running} running and {Waiting} waiting requests", options.Timeout.TotalSeconds, l.Running, l.Waiting);
            // The load report is refreshed after every step; give the gateways one poll period to see "draining".
            Thread.Sleep(ClusterLoadMonitor.Period * 2);
            // Idle means the engine has nothing left and every grain stream has been read to its end by its caller.
            while (sw.Elapsed < options.Timeout && host.Engine.Fault is null && ((l = host.Engine.Load).Running + l.Waiting > 0 || state.Streams > 0)) Thread.Sleep(20);
            if (l.Running + l.Waiting > 0 || state.Streams > 0) log.LogWarning("drain timeout: {Count} requests are cut", Math.Max(l.Running + l.Waiting, state.Streams));
            else log.LogInformation("drained in {Seconds:F1} s", sw.Elapsed.TotalSeconds);
        });
    }

    public Task StartAsync(CancellationToken ct) => Task.CompletedTask;
    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
}

public sealed record SiloHostOptions
{
    public required string ModelDir { get; init; }
    public string ModelName { get; init; } = "sea-lion-v2";
    public required RedisClusterOptions Redis { get; init; }
    /// <summary>The address to listen on: an address of this host, or 0.0.0.0 (every interface; then <see cref="Advertise"/> is required).</summary>
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>The address other silos and gateways reach this silo at (in Kubernetes the pod IP); default <see cref="Host"/>.</summary>
    public string? Advertise { get; init; }
    public int SiloPort { get; init; } = 11111;
    public int OrleansGatewayPort { get; init; } = 30000;
    /// <summary>/healthz and /metrics (HTTP/1.1).</summary>
    public int HttpPort { get; init; } = 9090;
    public ModelOptions Model { get; init; } = new();
    public EngineOptions Engine { get; init; } = new();
    public bool Simulated { get; init; }
    public double SimulatedTimeScale { get; init; } = 1.0;
    /// <summary>On SIGTERM, how long to let running requests finish before the silo leaves the cluster.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Mutual TLS on the silo port and the client gateway port (and on the connections this silo opens); null: cleartext.</summary>
    public ClusterTls? ClusterTls { get; init; }
}

/// <summary>
/// A silo process of a multi-process cluster: an Orleans silo (Redis membership and session storage, this host's
/// engine) plus /healthz and /metrics on an HTTP/1.1 port. Clients reach it through a gateway.
/// </summary>
public static class SiloHost
{
    public static WebApplication Build(SiloHostOptions o)
    {
        ProcessSetup.UseSeaLionMetricsOnly();
        var builder = WebApplication.CreateBuilder();
        builder.ConfigureSeaLionLogging();
        builder.Services.AddSeaLionTelemetry("silo");
        var ip = IPAddress.Parse(o.Host);
        var advertised = IPAddress.Parse(o.Advertise ?? o.Host);
        builder.WebHost.ConfigureKestrel(k => k.Listen(ip, o.HttpPort, l => l.Protocols = HttpProtocols.Http1));
        var engineOptions = o.Engine with { MetricsName = o.Engine.MetricsName ?? $"engine-{o.SiloPort}" };
        builder.UseOrleans(silo =>
        {
            silo.ConfigureEndpoints(advertised, o.SiloPort, o.OrleansGatewayPort, listenOnAnyHostAddress: ip.Equals(IPAddress.Any))
                .UseRedis(o.Redis)
                .AddSeaLionSilo(_ => EngineHost.Create(o.ModelDir, o.ModelName, o.Model, engineOptions, o.Simulated, o.SimulatedTimeScale), o.DrainTimeout);
            ClusterTls.Apply(silo, o.ClusterTls);
        });
        // The drain runs inside the stop; Orleans' own graceful stop gets its usual time after it.
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = o.DrainTimeout + TimeSpan.FromSeconds(30));
        var app = builder.Build();
        // Liveness: the process serves HTTP (a draining or failed-engine silo is alive, only not ready).
        app.MapGet("/livez", () => Results.Text("alive"));
        // Readiness: the engine serves and the silo is not draining (while the model loads nothing listens yet).
        app.MapGet("/healthz", (EngineHost h, SiloState s) =>
            h.Engine.Fault is not null ? Results.Text("engine failed", statusCode: 503)
            : s.Draining ? Results.Text("draining", statusCode: 503) : Results.Text("ok"));
        app.MapGet("/metrics", (HttpContext ctx, EngineHost h) => InferenceExtensionMetrics.WriteAsync(ctx, h, o.ModelName));
        return app;
    }
}
