using Microsoft.Extensions.Logging.Abstractions;
using Orleans;
using SeaLion.Hosting;
using SeaLion.Contracts.Grains;
using SeaLion.Gateway;
using SeaLion.Silo;

namespace SeaLion.Cluster.Tests;

/// <summary>KV-aware routing over the cluster KV index grain, on three in-process silos with simulated engines.</summary>
[Collection("three-silos")]
public sealed class KvRoutingTests(ThreeSiloFixture f)
{
    /// <summary>A gateway's router with its own view of the cluster, as a separate gateway process would have.</summary>
    // These tests check the index's decisions: on a loaded machine its answer can take longer than the gateway's
    // 250 ms, and the gateway then routes by load instead (by design), which is not what is under test here.
    KvAwareRouter Gateway() => new(new ClusterLoadMonitor(f.Cluster.Client, NullLogger<ClusterLoadMonitor>.Instance), f.Cluster.Client,
        NullLogger<KvAwareRouter>.Instance) { IndexTimeout = TimeSpan.FromSeconds(10) };

    static int[] Prompt(int seed, int tokens) { var r = new Random(seed); return Enumerable.Range(0, tokens).Select(_ => r.Next(1000, 100_000)).ToArray(); }

    async Task<GenerateChunk> Run(string engineId, int[] prompt)
    {
        GenerateChunk? last = null;
        await foreach (var c in f.Cluster.Client.GetGrain<IEngineGrain>(engineId).Generate(new EngineGenerateRequest(Guid.NewGuid().ToString("N"), prompt,
                           new SamplingSpec { Temperature = 0, MaxTokens = 2, IgnoreEos = true }))) last = c;
        return last!;
    }

    [Fact]
    public async Task Two_gateways_route_alike_and_a_shared_prefix_follows_the_engine_that_holds_it()
    {
        var a = Gateway();
        var b = Gateway();
        int[] p = Prompt(42, 640);
        string first = (await a.PickAsync(p, default))!;
        // Gateway b has never seen p, but the routing state is the cluster's: same engine.
        Assert.Equal(first, await b.PickAsync(p, default));
        Assert.Equal(0, (await Run(first, p)).CachedTokens);

        // The same 640-token prefix with a new question: routed to the holder (by its events once they are fresh,
        // by what was routed before until then), and served from its cache there.
        int[] q = [.. p, .. Prompt(43, 50)];
        var deadline = DateTime.UtcNow.AddSeconds(20);
        string? chosen;
        do
        {
            chosen = await b.PickAsync(q, default);
            Assert.Equal(first, chosen);
        } while (DateTime.UtcNow < deadline && !await Precise(p));
        Assert.True(await Precise(p), "the engine's KV events never made the index fresh");
        Assert.Equal(640, (await Run(chosen!, q)).CachedTokens);
    }

    async Task<bool> Precise(int[] prompt)
    {
        var chain = SeaLion.Routing.BlockHash.Chain(prompt, 16);
        var flat = chain.SelectMany(h => new[] { h.Hi, h.Lo }).ToArray();
        var monitor = new ClusterLoadMonitor(f.Cluster.Client, NullLogger<ClusterLoadMonitor>.Instance);
        await monitor.RefreshAsync();
        var engines = monitor.Samples.Values.SelectMany(s => s.Report.Engines).Select(e => new EngineLoadView(e.EngineId, e.Running, e.Waiting, e.FreeBlocks, e.TotalBlocks)).ToArray();
        var answer = await f.Cluster.Client.GetGrain<IKvIndexGrain>(0).Route(new RouteQuery(flat, prompt.Length, null, engines));
        if (answer.Reason != "precise") await Task.Delay(250);
        return answer.Reason == "precise";
    }

    [Fact]
    public async Task Without_a_shared_prefix_routing_spreads_by_load()
    {
        var a = Gateway();
        var picks = new List<string>();
        for (int i = 0; i < 30; i++) picks.Add((await a.PickAsync(Prompt(1000 + i, 64), default))!);
        Assert.Equal(3, picks.Distinct().Count());
    }
}
