using Grpc.Core;
using SeaLion.Cli;
using SeaLion.Contracts.V1;

namespace SeaLion.Gateway.Tests;

/// <summary>`serve --engine sim`: the same host with the simulated H100 engine standing in for a GPU (time scaled down 100x).</summary>
public sealed class SimulatedServerFixture : HostFixture
{
    protected override AllInOneOptions Configure(AllInOneOptions o) => o with { Simulated = true, SimulatedTimeScale = 0.01 };
}

[CollectionDefinition("sim-server", DisableParallelization = true)]
public sealed class SimulatedServerCollection : ICollectionFixture<SimulatedServerFixture>;

[Collection("sim-server")]
public sealed class SimulatedServerTests(SimulatedServerFixture server)
{
    async Task<int[]> Tokens(long seed, int max)
    {
        var ids = new List<int>();
        GenerateResponse? last = null;
        await foreach (var r in server.Client.Generate(new GenerateRequest { Text = "Halo dunia", Sampling = new SamplingParams { Seed = seed, MaxTokens = max } }).ResponseStream.ReadAllAsync())
        {
            ids.AddRange(r.TokenIds);
            last = r;
        }
        Assert.Equal(FinishReason.Length, last!.FinishReason);
        return ids.ToArray();
    }

    [Fact]
    public async Task Simulated_engine_serves_deterministic_tokens_through_the_same_gateway()
    {
        var a = await Tokens(7, 12);
        Assert.Equal(12, a.Length);
        Assert.Equal(a, await Tokens(7, 12));
        Assert.NotEqual(a, await Tokens(8, 12));
    }
}
