using System.Diagnostics;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.AspNetCore.Http;
using Prometheus;

namespace SeaLion.Gateway;

/// <summary>
/// The gateway's own series (prometheus-net default registry, beside the engines' sealion_* series): requests by
/// API, method and outcome, their duration, open streams, and routing decisions by reason.
/// </summary>
public static class GatewayMetrics
{
    static readonly Counter Requests = Metrics.CreateCounter("sealion_gateway_requests_total",
        "Requests the gateway answered, by API (grpc, rest), method and status (gRPC status name or HTTP code).", ["api", "method", "status"]);
    static readonly Histogram Duration = Metrics.CreateHistogram("sealion_gateway_request_duration_seconds",
        "Request duration at the gateway, to the last byte of a stream.", new HistogramConfiguration
        {
            LabelNames = ["api", "method"], Buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
        });
    static readonly Gauge Streams = Metrics.CreateGauge("sealion_gateway_active_streams", "Streams open at the gateway.", ["api"]);
    static readonly Counter Routing = Metrics.CreateCounter("sealion_routing_decisions_total",
        "Engine choices for stateless requests, by policy and reason.", ["policy", "reason"]);

    public static void Routed(string policy, string reason) => Routing.WithLabels(policy, reason).Inc();

    public static IDisposable Stream(string api)
    {
        var g = Streams.WithLabels(api);
        g.Inc();
        return new Decrement(g);
    }

    sealed class Decrement(Gauge.Child g) : IDisposable
    {
        int _done;
        public void Dispose() { if (Interlocked.Exchange(ref _done, 1) == 0) g.Dec(); }
    }

    public static void Done(string api, string method, string status, long startedTimestamp)
    {
        Requests.WithLabels(api, method, status).Inc();
        Duration.WithLabels(api, method).Observe(Stopwatch.GetElapsedTime(startedTimestamp).TotalSeconds);
    }

    /// <summary>REST: every /v1 request, as middleware (so refusals by auth and limits count, with their final status).</summary>
    public static async Task RestMiddleware(HttpContext ctx, RequestDelegate next)
    {
        if (!ctx.Request.Path.StartsWithSegments("/v1")) { await next(ctx); return; }
        long start = Stopwatch.GetTimestamp();
        try
        {
            await next(ctx);
            Done("rest", Route(ctx), ctx.Response.StatusCode.ToString(), start);
        }
        catch
        {
            Done("rest", Route(ctx), "500", start);
            throw;
        }
    }

    /// <summary>The matched route's pattern (/v1/models/{id}), never the raw path: a label per path would let any client grow the series without bound.</summary>
    static string Route(HttpContext ctx) =>
        ctx.GetEndpoint() is Microsoft.AspNetCore.Routing.RouteEndpoint e ? e.RoutePattern.RawText ?? "unmatched" : "unmatched";
}

/// <summary>gRPC: every sealion.v1 call, outermost, by status.</summary>
public sealed class MetricsInterceptor : Interceptor
{
    static string Method(ServerCallContext c) => c.Method[(c.Method.LastIndexOf('/') + 1)..];

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        long start = Stopwatch.GetTimestamp();
        try
        {
            var r = await continuation(request, context);
            GatewayMetrics.Done("grpc", Method(context), nameof(StatusCode.OK), start);
            return r;
        }
        catch (RpcException e) { GatewayMetrics.Done("grpc", Method(context), e.StatusCode.ToString(), start); throw; }
        catch { GatewayMetrics.Done("grpc", Method(context), context.CancellationToken.IsCancellationRequested ? "Cancelled" : "Unknown", start); throw; }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        long start = Stopwatch.GetTimestamp();
        using var open = GatewayMetrics.Stream("grpc");
        try
        {
            await continuation(request, responseStream, context);
            GatewayMetrics.Done("grpc", Method(context), nameof(StatusCode.OK), start);
        }
        catch (RpcException e) { GatewayMetrics.Done("grpc", Method(context), e.StatusCode.ToString(), start); throw; }
        catch { GatewayMetrics.Done("grpc", Method(context), context.CancellationToken.IsCancellationRequested ? "Cancelled" : "Unknown", start); throw; }
    }
}
