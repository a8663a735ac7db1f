using SeaLion.Routing;

namespace SeaLion.Engine.Blocks;

/// <summary>
/// The blocks of each running request and the prefix cache lookups over them. The scheduler talks to the
/// cache only through this class: find a request's cached prefix, allocate slots for new tokens (null when
/// blocks run out), free a request. Not thread-safe: owned by the engine's step thread.
/// </summary>
internal sealed class KvCacheManager(int numBlocks, int blockSize, bool prefixCaching)
{
    readonly Dictionary<EngineRequest, List<KvBlock>> _tables = new(ReferenceEqualityComparer.Instance);

    public BlockPool Pool { get; } = new(numBlocks, prefixCaching);
    public int BlockSize { get; } = blockSize;
    public long PrefixQueryTokens { get; private set; }
    public long PrefixHitTokens { get; private set; }

    public IReadOnlyList<KvBlock> BlocksOf(EngineRequest r) => _tables.TryGetValue(r, out var t) ? t : [];

    /// <summary>
    /// The longest run of r's full blocks already in the cache, and the tokens they hold. At least one token is
    /// always left to compute, because the last prompt position must run to produce logits.
    /// </summary>
    public (List<KvBlock> Blocks, int Tokens) FindCachedPrefix(EngineRequest r)
    {
        var hits = new List<KvBlock>();
        var hashes = r.BlockHashes(BlockSize);
        foreach (var h in hashes)
        {
            var b = Pool.Lookup(h);
            if (b is null) break;
            hits.Add(b);
        }
        if (hits.Count * BlockSize >= r.NumTokens) hits.RemoveAt(hits.Count - 1);
        return (hits, hits.Count * BlockSize);
    }

    /// <summary>Counts a lookup once, when its request is admitted (a request may wait through many steps).</summary>
    public void RecordPrefixLookup(EngineRequest r, int cachedTokens)
    {
        PrefixQueryTokens += r.NumTokens;
        PrefixHitTokens += cachedTokens;
    }

    /// <summary>
    /// Makes room for newTokens more tokens of r after its computed ones (and after cachedHits, the prefix
    /// blocks found for a request being admitted). False, changing nothing, when too few blocks are free.
    /// </summary>
    public bool Allocate(EngineRequest r, int newTokens, List<KvBlock>? cachedHits = null)
    {
        if (!_tables.TryGetValue(r, out var table)) table = new List<KvBlock>();
        int hits = cachedHits?.Count ?? 0;
        int computed = r.NumComputedTokens + hits * BlockSize;
        int needed = (computed + newTokens + BlockSize - 1) / BlockSize - table.Count - hits;
        int revived = cachedHits?.Count(b => b.RefCount == 0) ?? 0;   // hits taken off the free queue
        if (needed > Pool.FreeCount - revived) return false;
        if (cachedHits is not null) { Pool.Touch(cachedHits); table.AddRange(cachedHits); }
        if (needed > 0) table.AddRange(Pool.Allocate(needed));
        _tables[r] = table;
        CacheFullBlocks(r, table, computed + newTokens);
        return true;
    }

    /// <summary>Registers the blocks that will be full once this step has written its tokens.</summary>
    void CacheFullBlocks(EngineRequest r, List<KvBlock> table, int tokensAfterStep)
    {
        int full = Math.Min(tokensAfterStep, r.NumTokens) / BlockSize;
        if (full == 0) return;
        var hashes = r.BlockHashes(BlockSize);
        for (int b = 0; b < full; b++)
            if (table[b].Hash is null) Pool.Cache(table[b], hashes[b], b == 0 ? BlockHash.None : hashes[b - 1]);
    }

    /// <summary>Releases all of r's blocks, tail first (so the tail is evicted before the shared head).</summary>
    public void Free(EngineRequest r)
    {
        if (!_tables.Remove(r, out var table)) return;
        table.Reverse();
        Pool.Free(table);
    }

    public double PrefixHitRate => PrefixQueryTokens == 0 ? 0 : (double)PrefixHitTokens / PrefixQueryTokens;
}
