namespace SeaLion.Routing;

/// <summary>A set of engine indexes (up to any count), as a bit set.</summary>
public sealed class EngineSet(int engines)
{
    readonly ulong[] _bits = new ulong[(engines + 63) / 64];
    public void Add(int e) => _bits[e >> 6] |= 1UL << (e & 63);
    public void Remove(int e) => _bits[e >> 6] &= ~(1UL << (e & 63));
    public bool Contains(int e) => (_bits[e >> 6] & (1UL << (e & 63))) != 0;
    public bool IsEmpty => _bits.All(b => b == 0);
}

/// <summary>
/// Which engines hold which blocks: block hash → set of engines. The precise index is fed by the engines'
/// BlockStored / BlockRemoved events; <see cref="ApproximateIndex"/> fills the same structure from routing
/// decisions instead. <see cref="Match"/> gives, per engine, how many leading blocks of a request's hash chain
/// it holds (a block only counts when all blocks before it are there too: that is what the prefix cache reuses).
/// </summary>
public class KvIndex(int engines)
{
    protected readonly Dictionary<BlockHash, EngineSet> Holders = [];
    public int Engines { get; } = engines;
    public int Blocks => Holders.Count;

    public void Add(int engine, BlockHash h)
    {
        if (!Holders.TryGetValue(h, out var set)) Holders[h] = set = new EngineSet(Engines);
        set.Add(engine);
    }

    public void Remove(int engine, BlockHash h)
    {
        if (!Holders.TryGetValue(h, out var set)) return;
        set.Remove(engine);
        if (set.IsEmpty) Holders.Remove(h);
    }

    /// <summary>Applies one engine's events in order.</summary>
    public void Apply(int engine, IEnumerable<KvEvent> events)
    {
        foreach (var e in events)
            if (e is BlockStored s) Add(engine, s.Hash);
            else Remove(engine, e.Hash);
    }

    /// <summary>Forgets everything an engine held (it left, or its event stream broke and will be replayed).</summary>
    public void Clear(int engine)
    {
        foreach (var h in Holders.Where(kv => kv.Value.Contains(engine)).Select(kv => kv.Key).ToList()) Remove(engine, h);
    }

    /// <summary>Per engine, the number of leading blocks of <paramref name="chain"/> it holds.</summary>
    public int[] Match(IReadOnlyList<BlockHash> chain)
    {
        var matched = new int[Engines];
        var alive = Enumerable.Range(0, Engines).ToList();
        for (int depth = 0; depth < chain.Count && alive.Count > 0; depth++)
        {
            if (!Holders.TryGetValue(chain[depth], out var set)) break;
            alive.RemoveAll(e => !set.Contains(e));
            foreach (int e in alive) matched[e] = depth + 1;
        }
        return matched;
    }
}

/// <summary>
/// What a router can know without events: the blocks of the requests it sent to each engine, most recent last,
/// each engine's list cut to its KV capacity (older entries are assumed evicted). Used by the approximate-prefix
/// policy, and by the precise policy for an engine whose event stream is stale.
/// </summary>
public sealed class ApproximateIndex(int engines, int blocksPerEngine) : KvIndex(engines)
{
    readonly LinkedList<BlockHash>[] _lru = Enumerable.Range(0, engines).Select(_ => new LinkedList<BlockHash>()).ToArray();
    readonly Dictionary<(int, BlockHash), LinkedListNode<BlockHash>> _nodes = [];

    public void Routed(int engine, IReadOnlyList<BlockHash> chain)
    {
        var lru = _lru[engine];
        foreach (var h in chain)
        {
            if (_nodes.TryGetValue((engine, h), out var node)) lru.Remove(node);
            else { node = new LinkedListNode<BlockHash>(h); _nodes[(engine, h)] = node; Add(engine, h); }
            lru.AddLast(node);
        }
        while (lru.Count > blocksPerEngine)
        {
            var old = lru.First!;
            lru.RemoveFirst();
            _nodes.Remove((engine, old.Value));
            Remove(engine, old.Value);
        }
    }
}
