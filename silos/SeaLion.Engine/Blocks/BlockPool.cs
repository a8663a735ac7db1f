using SeaLion.Routing;

namespace SeaLion.Engine.Blocks;

/// <summary>A KV-cache block: a fixed number of token slots in the engine's paged cache.</summary>
internal sealed class KvBlock(int id)
{
    public int Id { get; } = id;
    public int RefCount { get; set; }
    /// <summary>Set once the block is full and registered in the prefix cache.</summary>
    public BlockHash? Hash { get; set; }
    public LinkedListNode<KvBlock>? FreeNode { get; set; }
}

/// <summary>
/// Every block of the cache, with reference counts and the prefix cache. Free blocks sit in one queue in
/// eviction order: blocks whose last user finished go to the tail, allocation takes from the head, and a
/// cached block taken from the head loses its hash (LRU eviction, BlockRemoved). A cached block that is
/// free can still be hit and revived until then. Not thread-safe: owned by the engine's step thread.
/// </summary>
internal sealed class BlockPool
{
    readonly KvBlock[] _blocks;
    readonly LinkedList<KvBlock> _free = new();
    readonly Dictionary<BlockHash, KvBlock> _cached = new();
    readonly List<KvEvent> _events = new();
    readonly bool _prefixCaching;

    public BlockPool(int numBlocks, bool prefixCaching)
    {
        if (numBlocks <= 0) throw new ArgumentOutOfRangeException(nameof(numBlocks), numBlocks, "the KV cache needs at least one block");
        _prefixCaching = prefixCaching;
        _blocks = Enumerable.Range(0, numBlocks).Select(i => new KvBlock(i)).ToArray();
        foreach (var b in _blocks) b.FreeNode = _free.AddLast(b);
    }

    public int NumBlocks => _blocks.Length;
    public int FreeCount => _free.Count;
    public int CachedCount => _cached.Count;
    public double Usage => 1.0 - (double)_free.Count / _blocks.Length;
    internal IReadOnlyList<KvBlock> Blocks => _blocks;

    public KvBlock? Lookup(BlockHash hash) => _prefixCaching && _cached.TryGetValue(hash, out var b) ? b : null;

    /// <summary>Takes a reference on blocks found in the prefix cache, reviving any that were free.</summary>
    public void Touch(IEnumerable<KvBlock> blocks)
    {
        foreach (var b in blocks)
        {
            if (b.RefCount == 0) { _free.Remove(b.FreeNode!); b.FreeNode = null; }
            b.RefCount++;
        }
    }

    /// <summary>n fresh blocks with one reference each, evicting cached ones from the head of the free queue.</summary>
    public List<KvBlock> Allocate(int n)
    {
        if (n > _free.Count) throw new InvalidOperationException($"asked for {n} blocks with {_free.Count} free");
        var result = new List<KvBlock>(n);
        for (int i = 0; i < n; i++)
        {
            var b = _free.First!.Value;
            _free.RemoveFirst();
            b.FreeNode = null;
            if (b.Hash is { } h)
            {
                _cached.Remove(h);
                _events.Add(new BlockRemoved(h));
                b.Hash = null;
            }
            b.RefCount = 1;
            result.Add(b);
        }
        return result;
    }

    /// <summary>
    /// Drops one reference from each block. Callers pass a request's blocks tail first, so that when they are
    /// all freed the tail of a sequence is evicted before its (more shareable) head.
    /// </summary>
    public void Free(IEnumerable<KvBlock> blocks)
    {
        foreach (var b in blocks)
        {
            if (b.RefCount <= 0) throw new InvalidOperationException($"block {b.Id} freed with ref count {b.RefCount}");
            if (--b.RefCount == 0)
            {
                if (b.Hash is null) b.FreeNode = _free.AddFirst(b);   // nothing worth keeping: reuse first
                else b.FreeNode = _free.AddLast(b);
            }
        }
    }

    /// <summary>Registers a full block under its hash; a block with the same content already cached wins.</summary>
    public void Cache(KvBlock block, BlockHash hash, BlockHash parent)
    {
        if (!_prefixCaching || block.Hash is not null) return;
        if (_cached.ContainsKey(hash)) return;
        block.Hash = hash;
        _cached[hash] = block;
        _events.Add(new BlockStored(hash, parent));
    }

    /// <summary>Events since the last call, in order.</summary>
    public List<KvEvent> TakeEvents()
    {
        var e = new List<KvEvent>(_events);
        _events.Clear();
        return e;
    }
}
