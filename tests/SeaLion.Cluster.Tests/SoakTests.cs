using SeaLion.Cli.Commands;

namespace SeaLion.Cluster.Tests;

/// <summary>
/// The soak's short form (ops/soak.sh runs the long one): 3 silos and 2 gateways as processes, mixed REST and gRPC,
/// sessions and stateless requests, some cancelled by the client and some planted bad. Nothing but the planted
/// requests may fail, and those must be refused as client errors.
/// </summary>
public sealed class SoakTests(TwoGatewayFixture f, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<TwoGatewayFixture>
{
    [Fact]
    public async Task Mixed_traffic_with_cancels_and_bad_requests_has_no_unplanned_errors_on_any_process()
    {
        var options = new SoakOptions
        {
            Gateways = [.. f.Gateways.Select((g, i) => (new Uri($"http://127.0.0.1:{f.GrpcPorts[i]}"), new Uri($"http://127.0.0.1:{g.HttpPort}")))],
            MetricsUrls = [.. f.Gateways.Concat(f.Silos).Select(p => new Uri($"http://127.0.0.1:{p.HttpPort}/metrics"))],
            Streams = 24, Duration = TimeSpan.FromSeconds(16), Window = TimeSpan.FromSeconds(8), Warmup = TimeSpan.FromSeconds(3), Settle = TimeSpan.FromSeconds(1),
            GenLength = 24, CancelFraction = 0.05, BadFraction = 0.05, Seed = 7,
        };
        var r = await BenchSoakCommand.RunAsync(options);
        output.WriteLine(System.Text.Json.JsonSerializer.Serialize(r));
        Assert.True(r.Errors == 0, "unplanned errors: " + string.Join(", ", r.ErrorsByKind.Select(kv => $"{kv.Key} x{kv.Value}")));
        Assert.True(r.PlantedBad > 0 && r.PlantedBadRefusedRightly == r.PlantedBad, $"{r.PlantedBadRefusedRightly} of {r.PlantedBad} planted bad requests refused as client errors");
        Assert.True(r.Cancelled > 0, "no request was cancelled");
        foreach (var kind in new[] { "grpc_generate", "grpc_chat", "rest_completions", "rest_chat_session" })
            Assert.True(r.RequestsByKind.GetValueOrDefault(kind) > 0, $"no {kind} request completed");
        Assert.Equal(2, r.Windows.Count);
        Assert.All(r.Windows, w => Assert.True(w.Requests > 0 && w.ItlP99Ms > 0 && w.WorkingSetMb.Count == 5 && w.WorkingSetMb.All(m => m > 0), $"window at {w.StartS} s: {w.Requests} requests"));
        // Every process answered /metrics at the start and the end, thread-pool figures included.
        Assert.All(r.Start.Concat(r.End), s => Assert.True(s.WorkingSetBytes > 0 && s.ManagedHeapBytes > 0 && s.ThreadPoolThreads > 0, $"{s.Url}: {s}"));
    }
}
