using SeaLion.Engine.Blocks;
using SeaLion.Routing;

namespace SeaLion.Engine;

/// <summary>Limits of one engine step.</summary>
public sealed record SchedulerOptions
{
    /// <summary>Token budget of one forward pass: decode tokens plus prefill chunks.</summary>
    public int MaxBatchedTokens { get; init; } = 2048;
    /// <summary>Most requests running (holding KV blocks and decoding) at once.</summary>
    public int MaxSeqs { get; init; } = 64;
    public int BlockSize { get; init; } = 16;
    public bool PrefixCaching { get; init; } = true;

    public void Validate()
    {
        if (MaxBatchedTokens < 1) throw new ArgumentOutOfRangeException("max_num_batched_tokens", MaxBatchedTokens, "must be at least 1");
        if (MaxSeqs < 1) throw new ArgumentOutOfRangeException("max_num_seqs", MaxSeqs, "must be at least 1");
        if (BlockSize < 1) throw new ArgumentOutOfRangeException("block_size", BlockSize, "must be at least 1");
    }
}

/// <summary>One request's share of a step: compute its next NumTokens tokens (a decode token or a prefill chunk).</summary>
internal readonly record struct ScheduledChunk(EngineRequest Request, int NumTokens)
{
    /// <summary>The chunk reaches the end of the request's known tokens, so its last position is sampled.</summary>
    public bool Samples => Request.NumComputedTokens + NumTokens == Request.NumTokens;
}

/// <summary>
/// Continuous batching with chunked prefill and no phase split (vLLM v1's policy): running requests first, in
/// arrival order, each gets its remaining tokens (one for decode) within the step's token budget; then waiting
/// requests are admitted first come first served while budget, sequence slots and KV blocks allow. When blocks
/// run out, the latest-arrived running request is preempted: its blocks are freed and it waits again at its
/// arrival position to be recomputed (its generated tokens kept), so no request starves the earlier ones.
/// </summary>
internal sealed class Scheduler(SchedulerOptions options, KvCacheManager kv)
{
    readonly List<EngineRequest> _running = new();
    readonly LinkedList<EngineRequest> _waiting = new();

    public IReadOnlyList<EngineRequest> Running => _running;
    public int WaitingCount => _waiting.Count;
    public IEnumerable<EngineRequest> Waiting => _waiting;
    public long Preemptions { get; private set; }

    public void Add(EngineRequest r)
    {
        r.Status = RequestStatus.Waiting;
        // Arrival order: a preempted request goes back in front of everything that came after it.
        var node = _waiting.Last;
        while (node is not null && node.Value.Arrival > r.Arrival) node = node.Previous;
        if (node is null) _waiting.AddFirst(r); else _waiting.AddAfter(node, r);
    }

    public List<ScheduledChunk> Schedule()
    {
        int budget = options.MaxBatchedTokens;
        var scheduled = new List<ScheduledChunk>();
        bool preempted = false;

        for (int i = 0; i < _running.Count && budget > 0; i++)
        {
            var r = _running[i];
            int n = Math.Min(r.NumTokens - r.NumComputedTokens, budget);
            bool placed;
            while (!(placed = kv.Allocate(r, n)))
            {
                var victim = _running[^1];
                Preempt(victim);
                preempted = true;
                if (victim == r) break;
            }
            if (!placed) break;
            scheduled.Add(new ScheduledChunk(r, n));
            budget -= n;
        }

        // Admitting new work right after a preemption would only thrash the cache.
        while (!preempted && budget > 0 && _running.Count < options.MaxSeqs && _waiting.First is { } node)
        {
            var r = node.Value;
            var (hits, cachedTokens) = r.NumComputedTokens == 0 && !r.WantsPromptLogits ? kv.FindCachedPrefix(r) : ([], 0);
            int n = Math.Min(r.NumTokens - cachedTokens - r.NumComputedTokens, budget);
            if (!kv.Allocate(r, n, hits)) break;
            _waiting.RemoveFirst();
            kv.RecordPrefixLookup(r, cachedTokens);
            r.NumComputedTokens += cachedTokens;
            if (r.Preemptions == 0) r.NumCachedTokens = cachedTokens;
            r.Status = RequestStatus.Running;
            _running.Add(r);
            scheduled.Add(new ScheduledChunk(r, n));
            budget -= n;
        }
        return scheduled;
    }

    void Preempt(EngineRequest r)
    {
        _running.Remove(r);
        kv.Free(r);
        r.NumComputedTokens = 0;
        r.Preemptions++;
        Preemptions++;
        Add(r);
    }

    /// <summary>Removes a finished or cancelled request and frees its blocks.</summary>
    public void Finish(EngineRequest r, string reason)
    {
        if (r.Status == RequestStatus.Running) _running.Remove(r);
        else if (r.Status == RequestStatus.Waiting) _waiting.Remove(r);
        kv.Free(r);
        r.Status = RequestStatus.Finished;
        r.FinishReason = reason;
    }
}
