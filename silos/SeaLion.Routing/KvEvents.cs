namespace SeaLion.Routing;

/// <summary>What the cluster's KV-aware router learns from an engine: a block's content appeared or vanished.</summary>
public abstract record KvEvent(BlockHash Hash);
public sealed record BlockStored(BlockHash Hash, BlockHash Parent) : KvEvent(Hash);
public sealed record BlockRemoved(BlockHash Hash) : KvEvent(Hash);
