using SeaLion.Engine.Blocks;
using SeaLion.Engine.Simulation;
using SeaLion.Routing;

namespace SeaLion.Engine.Tests;

public sealed class RoutingTests
{
    static List<BlockHash> Chain(int seed, int blocks, int blockSize = 16)
    {
        var rng = new Random(seed);
        return BlockHash.Chain(Enumerable.Range(0, blocks * blockSize).Select(_ => rng.Next(1000, 100_000)).ToArray(), blockSize);
    }

    static EngineView[] Idle(int n) => Enumerable.Range(0, n).Select(i => new EngineView(i, 0, 0, 1000, 1000)).ToArray();

    [Fact]
    public void The_index_matches_leading_blocks_only_and_follows_stored_and_removed_events()
    {
        var chain = Chain(1, 6);
        var index = new KvIndex(3);
        index.Apply(0, chain.Take(4).Select((h, i) => (KvEvent)new BlockStored(h, i == 0 ? BlockHash.None : chain[i - 1])));
        index.Apply(1, chain.Select((h, i) => (KvEvent)new BlockStored(h, i == 0 ? BlockHash.None : chain[i - 1])));
        index.Apply(2, chain.Skip(1).Select(h => (KvEvent)new BlockStored(h, BlockHash.None)));   // no first block: nothing reusable
        Assert.Equal([4, 6, 0], index.Match(chain));
        index.Apply(1, [new BlockRemoved(chain[2])]);
        Assert.Equal([4, 2, 0], index.Match(chain));
        index.Clear(0);
        Assert.Equal([0, 2, 0], index.Match(chain));
    }

    [Fact]
    public void Precise_routing_prefers_the_engine_holding_the_prefix_and_spreads_when_it_is_hot()
    {
        var chain = Chain(2, 40);
        var index = new KvIndex(4);
        index.Apply(2, chain.Select((h, i) => (KvEvent)new BlockStored(h, i == 0 ? BlockHash.None : chain[i - 1])));
        var policy = new PreciseKvPolicy(index, new ApproximateIndex(4, 1000));
        var d = policy.Choose(new RouteRequest(chain, 640), Idle(4));
        Assert.Equal((2, "precise", 40), (d.Engine, d.Reason, d.ExpectedCachedBlocks));

        // Engine 2 busy but not saturated: the hit still wins. Saturated (a queue): the load goes elsewhere.
        var busy = Idle(4); busy[2] = busy[2] with { Running = 60 }; busy[0] = busy[0] with { Running = 30 };
        Assert.Equal(2, policy.Choose(new RouteRequest(chain, 640), busy).Engine);
        var hot = Idle(4); hot[2] = hot[2] with { Running = 64, Waiting = 12 };
        Assert.NotEqual(2, policy.Choose(new RouteRequest(chain, 640), hot).Engine);
    }

    [Fact]
    public void Stale_events_fall_back_to_the_approximate_index_and_say_so()
    {
        var chain = Chain(3, 10);
        var approx = new ApproximateIndex(3, 1000);
        var policy = new PreciseKvPolicy(new KvIndex(3), approx);
        approx.Routed(1, chain);   // routed there before; its events were lost
        var views = Idle(3); views[1] = views[1] with { EventsFresh = false };
        var d = policy.Choose(new RouteRequest(chain, 160), views);
        Assert.Equal((1, "approximate_fallback"), (d.Engine, d.Reason));
    }

    [Fact]
    public void The_approximate_index_forgets_what_no_longer_fits_an_engine()
    {
        var approx = new ApproximateIndex(1, blocksPerEngine: 10);
        var a = Chain(4, 8);
        var b = Chain(5, 8);
        approx.Routed(0, a);
        Assert.Equal(8, approx.Match(a)[0]);
        approx.Routed(0, b);   // 16 blocks into room for 10: a's oldest blocks go first
        Assert.Equal(0, approx.Match(a)[0]);
        Assert.Equal(8, approx.Match(b)[0]);
    }

    [Fact]
    public void The_approximate_index_agrees_with_a_naive_lru_under_random_routing()
    {
        // The index threads its recency lists through one slot array; a list per engine of what was routed there,
        // cut from the front, is the meaning it must keep. 300 engines: past the 256 kept inline in an EngineSet.
        const int Engines = 300, Room = 12;
        var rng = new Random(11);
        var pool = Enumerable.Range(0, 6).Select(i => Chain(100 + i, 5)).ToArray();   // shared prefixes: the same hashes on many engines
        var approx = new ApproximateIndex(Engines, Room);
        var naive = Enumerable.Range(0, Engines).Select(_ => new List<BlockHash>()).ToArray();
        int[] engines = [0, 1, 63, 64, 255, 256, 299];
        for (int step = 0; step < 3000; step++)
        {
            int e = engines[rng.Next(engines.Length)];
            var chain = pool[rng.Next(pool.Length)].Take(rng.Next(1, 6)).ToList();
            approx.Routed(e, chain);
            foreach (var h in chain) { naive[e].Remove(h); naive[e].Add(h); }
            if (naive[e].Count > Room) naive[e].RemoveRange(0, naive[e].Count - Room);
            if (step % 50 != 0) continue;
            foreach (var c in pool)
            {
                int[] expected = new int[Engines];
                foreach (int x in engines) expected[x] = c.TakeWhile(naive[x].Contains).Count();
                Assert.Equal(expected, approx.Match(c));
            }
            Assert.Equal(naive.SelectMany(l => l).Distinct().Count(), approx.Blocks);
        }
    }

    [Fact]
    public void Round_robin_affinity_and_load_only_do_what_they_say()
    {
        var rr = new RoundRobinPolicy();
        Assert.Equal([0, 1, 2, 0], Enumerable.Range(0, 4).Select(_ => rr.Choose(new RouteRequest([], 1), Idle(3)).Engine));
        var aff = new SessionAffinityPolicy();
        int first = aff.Choose(new RouteRequest([], 1, "acme/u1"), Idle(5)).Engine;
        Assert.All(Enumerable.Range(0, 10), _ => Assert.Equal(first, aff.Choose(new RouteRequest([], 1, "acme/u1"), Idle(5)).Engine));
        var views = Idle(3); views[0] = views[0] with { Running = 5 }; views[1] = views[1] with { Waiting = 1 };
        Assert.Equal(2, new LoadOnlyPolicy().Choose(new RouteRequest([], 1), views).Engine);
    }

    [Fact]
    public void Simulated_cluster_precise_routing_reuses_prefixes_that_random_routing_recomputes()
    {
        var tokenizer = SeaLion.Tokenization.BpeTokenizer.FromDirectory(SeaLion.Model.Tests.TestModels.TokenizerDir);
        var w = new ClusterWorkload(Customers: 12, UsersPerCustomer: 2, ContextTokens: 2000, QueryTokens: 200, OutputTokens: 20);
        var random = ClusterSimulator.Run(tokenizer, 4, "random", rate: 6, seconds: 20, w);
        var precise = ClusterSimulator.Run(tokenizer, 4, "precise_kv", rate: 6, seconds: 20, w);
        Assert.Equal(random.Requests, precise.Requests);
        Assert.True(precise.KeptUp && random.KeptUp);
        Assert.True(precise.PrefixHitRate > random.PrefixHitRate + 0.2, $"precise {precise.PrefixHitRate:F3} vs random {random.PrefixHitRate:F3}");
        Assert.True(precise.TtftP90 < random.TtftP90, $"precise {precise.TtftP90:F3} s vs random {random.TtftP90:F3} s");
        Assert.Equal(12, precise.Reasons["no_prefix"]);   // one cold start per customer, then hits
    }
}
