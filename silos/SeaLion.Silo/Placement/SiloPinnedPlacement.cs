using Orleans.Placement;
using Orleans.Runtime;
using Orleans.Runtime.Placement;

namespace SeaLion.Silo.Placement;

/// <summary>
/// Pins a grain to the silo its key names: the key is the silo's address (<see cref="SiloAddress.ToParsableString"/>),
/// optionally followed by "/" and a local name. Engine grains and silo load grains use it: an engine lives in its
/// silo's process, so its grain must too.
/// </summary>
[Serializable, GenerateSerializer, Immutable]
public sealed class SiloPinnedPlacement : PlacementStrategy
{
    public static readonly SiloPinnedPlacement Instance = new();

    /// <summary>The key of a grain pinned to <paramref name="silo"/>, with an optional local name.</summary>
    public static string Key(SiloAddress silo, string? local = null) =>
        local is null ? silo.ToParsableString() : $"{silo.ToParsableString()}/{local}";

    /// <summary>The silo a pinned key names.</summary>
    public static SiloAddress SiloOf(string key)
    {
        int slash = key.IndexOf('/');
        return SiloAddress.FromParsableString(slash < 0 ? key : key[..slash]);
    }
}

[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class SiloPinnedPlacementAttribute() : PlacementAttribute(SiloPinnedPlacement.Instance);

public sealed class SiloPinnedPlacementDirector : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        string key = target.GrainIdentity.Key.ToString();
        SiloAddress silo;
        try { silo = SiloPinnedPlacement.SiloOf(key); }
        catch (Exception e) { throw new OrleansException($"'{key}' does not name a silo: a pinned grain's key is a silo address", e); }
        if (!context.GetCompatibleSilos(target).Contains(silo))
            throw new OrleansException($"silo {silo} is not an active member of the cluster; the grain '{key}' lives only there");
        return Task.FromResult(silo);
    }
}
