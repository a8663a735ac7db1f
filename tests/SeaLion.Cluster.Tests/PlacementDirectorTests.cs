using System.Diagnostics;
using System.Net;
using Orleans.Runtime;
using Orleans.Runtime.Placement;
using SeaLion.Hosting;
using SeaLion.Contracts.Grains;
using SeaLion.Silo;
using SeaLion.Silo.Placement;

namespace SeaLion.Cluster.Tests;

/// <summary>The session placement director on its own, over load reports it is handed.</summary>
public sealed class PlacementDirectorTests
{
    sealed class View : ILoadView
    {
        public Dictionary<SiloAddress, SiloLoadSample> Map { get; } = [];
        public IReadOnlyDictionary<SiloAddress, SiloLoadSample> Samples => Map;
        public long LossEpoch => 0;
    }

    sealed class Context(SiloAddress[] silos) : IPlacementContext
    {
        public SiloAddress[] GetCompatibleSilos(PlacementTarget target) => silos;
        public IReadOnlyDictionary<ushort, SiloAddress[]> GetCompatibleSilosWithVersions(PlacementTarget target) => new Dictionary<ushort, SiloAddress[]> { [0] = silos };
        public SiloAddress LocalSilo => silos[0];
        public SiloStatus LocalSiloStatus => SiloStatus.Active;
    }

    static readonly SiloAddress[] Silos = Enumerable.Range(0, 3).Select(i => SiloAddress.New(new IPEndPoint(IPAddress.Loopback, 11111 + i), 1)).ToArray();

    static SiloLoadSample Sample(SiloAddress s, int running = 0, int waiting = 0, int free = 1000, int sessions = 0, bool draining = false, bool faulted = false) =>
        new(s, new SiloLoadReport(s.ToParsableString(), draining, sessions, [new EngineLoadReport(s.ToParsableString() + "/0", running, waiting, free, 1000, 0, faulted)]),
            Stopwatch.GetTimestamp());

    static PlacementTarget Target(int i) => new(GrainId.Create("session", $"t/{i}"), new Dictionary<string, object>(), default, 0);

    static async Task<Dictionary<SiloAddress, int>> Place(SessionPlacementDirector d, int n)
    {
        var counts = Silos.ToDictionary(s => s, _ => 0);
        for (int i = 0; i < n; i++) counts[await d.OnAddActivation(SessionPlacement.Instance, Target(i), new Context(Silos))]++;
        return counts;
    }

    [Fact]
    public async Task A_burst_between_two_reports_spreads_evenly_instead_of_piling_onto_the_emptiest_silo()
    {
        var view = new View();
        foreach (var s in Silos) view.Map[s] = Sample(s);
        var counts = await Place(new SessionPlacementDirector(view), 300);
        Assert.All(counts.Values, c => Assert.Equal(100, c));
    }

    [Fact]
    public async Task A_draining_silo_and_a_silo_whose_engine_failed_get_nothing()
    {
        var view = new View();
        view.Map[Silos[0]] = Sample(Silos[0], draining: true);
        view.Map[Silos[1]] = Sample(Silos[1], faulted: true);
        view.Map[Silos[2]] = Sample(Silos[2], running: 50, waiting: 20, free: 100, sessions: 400);
        var counts = await Place(new SessionPlacementDirector(view), 20);
        Assert.Equal(20, counts[Silos[2]]);
    }

    [Fact]
    public async Task New_sessions_go_where_the_engine_has_free_blocks_and_short_queues()
    {
        var view = new View();
        view.Map[Silos[0]] = Sample(Silos[0], running: 30, waiting: 10, free: 200, sessions: 40);
        view.Map[Silos[1]] = Sample(Silos[1], running: 30, waiting: 0, free: 200, sessions: 40);
        view.Map[Silos[2]] = Sample(Silos[2], running: 30, waiting: 0, free: 900, sessions: 40);
        var counts = await Place(new SessionPlacementDirector(view), 10);
        Assert.Equal(10, counts[Silos[2]]);
        Assert.True(SessionPlacementDirector.Score(view.Map[Silos[1]].Report, 0) > SessionPlacementDirector.Score(view.Map[Silos[0]].Report, 0));
    }

    [Fact]
    public async Task A_silo_without_a_report_yet_counts_as_empty()
    {
        var view = new View();
        view.Map[Silos[0]] = Sample(Silos[0], running: 10, free: 500, sessions: 30);
        view.Map[Silos[1]] = Sample(Silos[1], running: 10, free: 500, sessions: 30);
        var counts = await Place(new SessionPlacementDirector(view), 5);
        Assert.Equal(5, counts[Silos[2]]);
    }
}
