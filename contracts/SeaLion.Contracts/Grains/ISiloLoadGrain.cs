namespace SeaLion.Contracts.Grains;

/// <summary>An engine's load as the placement director and the gateway's router see it.</summary>
[GenerateSerializer, Immutable]
public sealed record EngineLoadReport(
    [property: Id(0)] string EngineId, [property: Id(1)] int Running, [property: Id(2)] int Waiting,
    [property: Id(3)] int FreeBlocks, [property: Id(4)] int TotalBlocks, [property: Id(5)] double PrefixHitRate,
    [property: Id(6)] bool Faulted)
{
    public double FreeFraction => TotalBlocks == 0 ? 0 : (double)FreeBlocks / TotalBlocks;
}

/// <summary>A silo's load: its engines, its active sessions, and whether it is shutting down (then nothing new goes there).</summary>
[GenerateSerializer, Immutable]
public sealed record SiloLoadReport(
    [property: Id(0)] string Silo, [property: Id(1)] bool Draining, [property: Id(2)] int Sessions,
    [property: Id(3)] EngineLoadReport[] Engines);

/// <summary>One per silo, pinned to it (keyed by the silo's address): reports that silo's load.</summary>
public interface ISiloLoadGrain : IGrainWithStringKey
{
    Task<SiloLoadReport> Report();
}
