using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Prometheus;
using SeaLion.Gateway.Auth;
using SeaLion.Gateway.OpenAi;
using SeaLion.Gateway.Transport;
using SeaLion.Hosting;
using StackExchange.Redis;

namespace SeaLion.Gateway;

/// <summary>
/// Where the gateway listens: gRPC (HTTP/2) and OpenAI REST + /healthz + /metrics (HTTP/1.1), in cleartext, or with
/// <see cref="Tls"/> both over TLS (ALPN offers h2 and http/1.1 on each); and the limits every connection is held to.
/// </summary>
public sealed record GatewayEndpoints(string Host = "127.0.0.1", int GrpcPort = 50051, int HttpPort = 8080)
{
    public TlsFiles? Tls { get; init; }
    public ConnectionLimits Limits { get; init; } = ConnectionLimits.Default;

    /// <summary>For start-up lines: "gRPC (sealion.v1, HTTP/2) on HOST:PORT; OpenAI REST on http://HOST:PORT/v1".</summary>
    public string Describe => Tls is null
        ? $"gRPC (sealion.v1, HTTP/2) on {Host}:{GrpcPort}; OpenAI REST on http://{Host}:{HttpPort}/v1"
        : $"gRPC (sealion.v1, HTTP/2 over TLS) on https://{Host}:{GrpcPort}; OpenAI REST on https://{Host}:{HttpPort}/v1 (certificate {Tls.CertPath}, reloaded when it changes)";
}

/// <summary>
/// The gateway's part of a host, over an Orleans client or a co-hosted silo: sealion.v1 over gRPC (cleartext gRPC
/// needs an HTTP/2-only endpoint), grpc.health.v1 and server reflection beside it, /healthz and Prometheus /metrics
/// on the HTTP/1.1 port. Healthy while at least one engine in the cluster is serving.
/// </summary>
public static class GatewayHosting
{
    public static WebApplicationBuilder AddSeaLionGateway(this WebApplicationBuilder builder, GatewayEndpoints endpoints, ModelCatalog model, AuthOptions auth,
        FailoverOptions? failover = null)
    {
        ProcessSetup.UseSeaLionMetricsOnly();
        builder.ConfigureSeaLionLogging();
        builder.Services.AddSeaLionTelemetry("gateway");
        var ip = IPAddress.Parse(endpoints.Host);
        var certificate = endpoints.Tls is null ? null : ServerCertificate.Load(endpoints.Tls);
        builder.WebHost.ConfigureKestrel(k =>
        {
            endpoints.Limits.ApplyTo(k.Limits);
            if (certificate is null)
            {
                k.Listen(ip, endpoints.GrpcPort, l => l.Protocols = HttpProtocols.Http2);   // h2c: HTTP/2 only, no ALPN to choose
                k.Listen(ip, endpoints.HttpPort, l => l.Protocols = HttpProtocols.Http1);
                return;
            }
            // Each handshake takes the certificate current at that moment; Kestrel adds ALPN (h2, http/1.1) to the options.
            var tls = new TlsHandshakeCallbackOptions
            {
                OnConnection = _ => ValueTask.FromResult(new System.Net.Security.SslServerAuthenticationOptions { ServerCertificateContext = certificate.Context }),
                HandshakeTimeout = endpoints.Limits.RequestHeadersTimeout,
            };
            k.Listen(ip, endpoints.GrpcPort, l => { l.Protocols = HttpProtocols.Http1AndHttp2; l.UseHttps(tls); });
            k.Listen(ip, endpoints.HttpPort, l => { l.Protocols = HttpProtocols.Http1AndHttp2; l.UseHttps(tls); });
        });
        if (certificate is not null)
        {
            builder.Services.AddSingleton(certificate);
            builder.Services.AddHostedService<CertificateReloader>();
        }
        builder.Services.AddSingleton(model);
        builder.Services.AddClusterLoadMonitor();
        builder.Services.AddSingleton<IEngineRouter, KvAwareRouter>();
        builder.Services.AddSingleton(failover ?? FailoverOptions.Default);
        builder.Services.AddSingleton<StreamWatchdog>();
        builder.Services.AddSingleton<ClusterCalls>();
        builder.Services.AddSingleton<ClusterHealthCheck>();
        builder.Services.AddSingleton(auth);
        builder.Services.AddSingleton<Authenticator>();
        builder.Services.AddSingleton<TenantGate>();
        builder.Services.AddSingleton<AuthInterceptor>();
        builder.Services.AddGrpc().AddServiceOptions<InferenceService>(o => { o.Interceptors.Add<MetricsInterceptor>(); o.Interceptors.Add<AuthInterceptor>(); });
        builder.Services.AddGrpcReflection();
        // No cache: readiness is immediate, and a failed engine shows at the next probe.
        builder.Services.AddGrpcHealthChecks(h => h.UseHealthChecksCache = false).AddCheck<ClusterHealthCheck>("engines");
        return builder;
    }

    public static WebApplication MapSeaLionGateway(this WebApplication app)
    {
        app.Use(GatewayMetrics.RestMiddleware);
        app.MapGrpcService<InferenceService>();
        app.MapOpenAi();
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();
        app.MapGet("/livez", () => Results.Text("alive"));   // liveness: this process serves (readiness is /healthz)
        app.MapGet("/healthz", async (ClusterHealthCheck check, CancellationToken ct) =>
        {
            var r = await check.CheckHealthAsync(new HealthCheckContext(), ct);
            return r.Status == HealthStatus.Healthy ? Results.Text("ok") : Results.Text(r.Description ?? "unhealthy", statusCode: 503);
        });
        app.MapMetrics();   // prometheus-net's default registry: sealion_* engine series (co-hosted silo) and process metrics
        return app;
    }
}

/// <summary>Healthy while some silo that is not draining has an engine that has not failed (a fresh poll each probe).</summary>
public sealed class ClusterHealthCheck(ClusterLoadMonitor monitor) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        try { await monitor.RefreshAsync(ct); }
        catch (Exception e) { return HealthCheckResult.Unhealthy("the cluster does not answer", e); }
        var engines = monitor.Serving().SelectMany(s => s.Report.Engines).ToArray();
        if (engines.Length == 0) return HealthCheckResult.Unhealthy("no engine is serving");
        return engines.Any(e => !e.Faulted) ? HealthCheckResult.Healthy($"{engines.Count(e => !e.Faulted)} engine(s) serving")
            : HealthCheckResult.Unhealthy("every engine has failed");
    }
}

/// <summary>A gateway process of a multi-process cluster: an Orleans client (Redis membership) and the gateway.</summary>
public static class GatewayHost
{
    /// <param name="clusterTls">Mutual TLS on the client's connections to the silos (they must have it too); null: cleartext.</param>
    public static WebApplication Build(ModelCatalog model, RedisClusterOptions redis, GatewayEndpoints endpoints, AuthOptions auth, FailoverOptions? failover = null,
        ClusterTls? clusterTls = null)
    {
        var builder = WebApplication.CreateBuilder();
        builder.AddSeaLionGateway(endpoints, model, auth, failover);
        builder.UseOrleansClient(c =>
        {
            c.Configure<ClusterOptions>(o => { o.ClusterId = redis.ClusterId; o.ServiceId = redis.ServiceId; });
            c.UseRedisClustering(o => o.ConfigurationOptions = ConfigurationOptions.Parse(redis.Connection));
            c.AddActivityPropagation();   // the trace context of each API request flows into its grain calls
            ClusterTls.Apply(c, clusterTls);
        });
        return builder.Build().MapSeaLionGateway();
    }
}
