using SeaLion.Contracts.Grains;
using SeaLion.Silo.Placement;

namespace SeaLion.Silo;

/// <summary>This silo's load report: its engine's counters as of the engine's last step, its sessions, draining.</summary>
[SiloPinnedPlacement]
public sealed class SiloLoadGrain(EngineHost host, SiloState state) : Grain, ISiloLoadGrain
{
    public Task<SiloLoadReport> Report()
    {
        var l = host.Engine.Load;
        string silo = this.GetPrimaryKeyString();
        var engine = new EngineLoadReport(EngineHost.EngineId(silo), l.Running, l.Waiting, l.FreeBlocks, l.TotalBlocks, l.PrefixHitRate, host.Engine.Fault is not null);
        return Task.FromResult(new SiloLoadReport(silo, state.Draining, state.Sessions, [engine]));
    }
}
