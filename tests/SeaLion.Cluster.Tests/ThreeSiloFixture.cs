using Orleans.TestingHost;
using SeaLion.Engine;
using SeaLion.Model.Llama;
using SeaLion.Model.Tests;
using SeaLion.Silo;
using StackExchange.Redis;

namespace SeaLion.Cluster.Tests;

/// <summary>
/// Three Orleans silos in this process, each with its own simulated H100 engine (100x faster than real time) and
/// session storage in a real redis-server, so a session outlives the silo it was on.
/// </summary>
public sealed class ThreeSiloFixture : IAsyncLifetime
{
    public RedisServer Redis { get; } = new();
    public InProcessTestCluster Cluster { get; private set; } = null!;
    public string ModelDir { get; } = TestModels.Get();

    public async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(3);
        builder.Options.ServiceId = "sealion-test-" + Guid.NewGuid().ToString("N")[..8];
        string redis = Redis.Connection, dir = ModelDir;
        builder.ConfigureSilo((options, silo) => silo
            .AddRedisGrainStorage(SessionGrain.Storage, o => o.ConfigurationOptions = ConfigurationOptions.Parse(redis))
            .AddSeaLionSilo(_ => EngineHost.Create(dir, "sea-lion-v2", new ModelOptions(),
                new EngineOptions { MetricsName = options.SiloName, NumBlocks = 4096 }, simulated: true, simulatedTimeScale: 0.01)));
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        Redis.Dispose();
    }
}
