using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SeaLion.Routing;

/// <summary>
/// A set of engine indexes, as a bit set: the first 256 engines inline, any beyond in an array. A struct, so that an
/// index of millions of blocks holds no object per block: a block's entry lives and dies inside the dictionary's own
/// arrays. (Per-block objects are what a long-running router must avoid: they outlive a few collections, reach the
/// oldest generation and die there, and the soak measured that garbage as a silo's heap growing for its first 20
/// minutes; docs/benchmarks.md#soak.)
/// </summary>
public struct EngineSet
{
    [System.Runtime.CompilerServices.InlineArray(Inline)]
    struct Words { ulong _first; }

    const int Inline = 4;
    Words _words;
    ulong[]? _more;

    public void Add(int e)
    {
        int i = e >> 6;
        if (i < Inline) _words[i] |= 1UL << (e & 63);
        else
        {
            if (_more is null || _more.Length <= i - Inline) Array.Resize(ref _more, i - Inline + 1);
            _more[i - Inline] |= 1UL << (e & 63);
        }
    }

    public void Remove(int e)
    {
        int i = e >> 6;
        if (i < Inline) _words[i] &= ~(1UL << (e & 63));
        else if (_more is not null && i - Inline < _more.Length) _more[i - Inline] &= ~(1UL << (e & 63));
    }

    public readonly bool Contains(int e)
    {
        int i = e >> 6;
        if (i < Inline) return (_words[i] & (1UL << (e & 63))) != 0;
        return _more is not null && i - Inline < _more.Length && (_more[i - Inline] & (1UL << (e & 63))) != 0;
    }

    public readonly bool IsEmpty
    {
        get
        {
            for (int i = 0; i < Inline; i++) if (_words[i] != 0) return false;
            if (_more is not null) foreach (ulong w in _more) if (w != 0) return false;
            return true;
        }
    }
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

    public void Add(int engine, BlockHash h) => CollectionsMarshal.GetValueRefOrAddDefault(Holders, h, out _).Add(engine);

    public void Remove(int engine, BlockHash h)
    {
        ref var set = ref CollectionsMarshal.GetValueRefOrNullRef(Holders, h);
        if (Unsafe.IsNullRef(ref set)) return;
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
    // Each engine's recency list is a doubly linked list threaded through one slot array (no node objects, see
    // EngineSet); freed slots are reused, so the array only grows to the most blocks ever held at once.
    struct Slot { public BlockHash Hash; public int Engine, Prev, Next; }

    Slot[] _slots = new Slot[64];
    int _used, _free = -1;
    readonly int[] _head = Filled(engines), _tail = Filled(engines), _count = new int[engines];
    readonly Dictionary<(int, BlockHash), int> _nodes = [];

    static int[] Filled(int n) { var a = new int[n]; Array.Fill(a, -1); return a; }

    public void Routed(int engine, IReadOnlyList<BlockHash> chain)
    {
        foreach (var h in chain)
        {
            ref int slot = ref CollectionsMarshal.GetValueRefOrAddDefault(_nodes, (engine, h), out bool known);
            if (known) Unlink(slot);
            else { slot = NewSlot(engine, h); Add(engine, h); }
            Append(slot);
        }
        while (_count[engine] > blocksPerEngine)
        {
            int old = _head[engine];
            var hash = _slots[old].Hash;
            Unlink(old);
            _nodes.Remove((engine, hash));
            Remove(engine, hash);
            _slots[old].Next = _free;
            _free = old;
        }
    }

    int NewSlot(int engine, BlockHash h)
    {
        int i;
        if (_free >= 0) { i = _free; _free = _slots[i].Next; }
        else
        {
            if (_used == _slots.Length) Array.Resize(ref _slots, _slots.Length * 2);
            i = _used++;
        }
        _slots[i] = new Slot { Hash = h, Engine = engine, Prev = -1, Next = -1 };
        return i;
    }

    void Unlink(int i)
    {
        ref var s = ref _slots[i];
        if (s.Prev >= 0) _slots[s.Prev].Next = s.Next; else _head[s.Engine] = s.Next;
        if (s.Next >= 0) _slots[s.Next].Prev = s.Prev; else _tail[s.Engine] = s.Prev;
        s.Prev = s.Next = -1;
        _count[s.Engine]--;
    }

    void Append(int i)
    {
        ref var s = ref _slots[i];
        int e = s.Engine;
        s.Prev = _tail[e];
        s.Next = -1;
        if (_tail[e] >= 0) _slots[_tail[e]].Next = i; else _head[e] = i;
        _tail[e] = i;
        _count[e]++;
    }
}
