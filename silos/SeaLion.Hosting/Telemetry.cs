using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace SeaLion.Hosting;

/// <summary>
/// OpenTelemetry for every process of the cluster, off by default and configured by the standard OTEL_* variables:
/// on when OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, or OTEL_TRACES_EXPORTER=otlp;
/// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES name the process (default: the role given here). Traces: ASP.NET
/// Core's request spans (gRPC and REST; a client's traceparent becomes their parent), Orleans' grain-call activities,
/// and SeaLion's engine spans; metrics: ASP.NET Core's and Orleans' meters. Exported over OTLP.
/// </summary>
public static class Telemetry
{
    /// <summary>The activity sources SeaLion and Orleans write to (what a listener subscribes to).</summary>
    public static readonly string[] Sources = ["SeaLion.Engine", "SeaLion.Gateway", "Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application"];

    public static bool Enabled(Func<string, string?>? env = null)
    {
        env ??= Environment.GetEnvironmentVariable;
        return !string.IsNullOrEmpty(env("OTEL_EXPORTER_OTLP_ENDPOINT")) || !string.IsNullOrEmpty(env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
            || string.Equals(env("OTEL_TRACES_EXPORTER"), "otlp", StringComparison.OrdinalIgnoreCase);
    }

    public static IServiceCollection AddSeaLionTelemetry(this IServiceCollection services, string role)
    {
        if (!Enabled()) return services;
        services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(serviceName: Environment.GetEnvironmentVariable("OTEL_SERVICE_NAME") ?? $"sealion-{role}"))
            .WithTracing(t => t.AddSource(Sources).AddAspNetCoreInstrumentation().AddOtlpExporter())
            .WithMetrics(m => m.AddAspNetCoreInstrumentation().AddMeter("Microsoft.Orleans").AddOtlpExporter());
        return services;
    }
}
