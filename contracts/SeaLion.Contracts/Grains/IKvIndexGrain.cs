namespace SeaLion.Contracts.Grains;

/// <summary>A block stored in or removed from an engine's prefix cache (the 128-bit chained block hash).</summary>
[GenerateSerializer, Immutable]
public readonly record struct KvBlockEvent([property: Id(0)] ulong Hi, [property: Id(1)] ulong Lo, [property: Id(2)] bool Stored);

/// <summary>An engine as the router sees it: its load report, by engine grain key.</summary>
[GenerateSerializer, Immutable]
public sealed record EngineLoadView([property: Id(0)] string EngineId, [property: Id(1)] int Running, [property: Id(2)] int Waiting,
    [property: Id(3)] int FreeBlocks, [property: Id(4)] int TotalBlocks);

/// <summary>A routing question: the prompt's block-hash chain (Hi, Lo pairs flattened), its length, and the engines to choose from.</summary>
[GenerateSerializer, Immutable]
public sealed record RouteQuery([property: Id(0)] ulong[] Chain, [property: Id(1)] int PromptTokens, [property: Id(2)] string? AffinityKey,
    [property: Id(3)] EngineLoadView[] Engines);

[GenerateSerializer, Immutable]
public sealed record RouteAnswer([property: Id(0)] string EngineId, [property: Id(1)] string Reason, [property: Id(2)] int ExpectedCachedBlocks);

/// <summary>
/// The cluster KV index (key 0): which engine holds which prefix blocks, from the engines' BlockStored /
/// BlockRemoved events, plus an approximate index of what was routed where; and the routing decision over it.
/// Cluster state, so every gateway replica routes a request alike.
/// </summary>
public interface IKvIndexGrain : IGrainWithIntegerKey
{
    /// <summary>An engine's events since its previous batch; <paramref name="sequence"/> counts batches, so a gap shows a loss.</summary>
    Task Publish(string engineId, long sequence, KvBlockEvent[] events);

    Task<RouteAnswer> Route(RouteQuery query);
}
