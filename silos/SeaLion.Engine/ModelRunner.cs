using SeaLion.Engine.Blocks;
using SeaLion.Routing;
using SeaLion.Model.Llama;
using SeaLion.Model.Sampling;
using static TorchSharp.torch;

namespace SeaLion.Engine;

/// <summary>Executes a scheduled step: computes the chunks' K/V and samples a token for each chunk that ends its request's known tokens.</summary>
internal interface IModelRunner : IDisposable
{
    int VocabSize { get; }
    int MaxContext { get; }
    IReadOnlyList<int> EosTokenIds { get; }
    /// <summary>Sampled tokens for the chunks whose <see cref="ScheduledChunk.Samples"/> is true, in order.</summary>
    IReadOnlyList<SampledToken> Execute(IReadOnlyList<ScheduledChunk> chunks, KvCacheManager kv);
}

/// <summary>The TorchSharp model: one forward pass over the mixed batch, then batched sampling.</summary>
internal sealed class TorchModelRunner(LlamaModel model, KvCache cache) : IModelRunner
{
    public int VocabSize => model.Config.VocabSize;
    public int MaxContext => model.Config.MaxPositions;
    public IReadOnlyList<int> EosTokenIds => model.Config.EosTokenIds;

    public IReadOnlyList<SampledToken> Execute(IReadOnlyList<ScheduledChunk> chunks, KvCacheManager kv)
    {
        int total = chunks.Sum(c => c.NumTokens);
        var tokens = new int[total];
        var seqs = new SequenceChunk[chunks.Count];
        var states = new List<SamplingState>();
        int at = 0;
        for (int i = 0; i < chunks.Count; i++)
        {
            var (r, n) = (chunks[i].Request, chunks[i].NumTokens);
            for (int j = 0; j < n; j++) tokens[at + j] = r.Tokens[r.NumComputedTokens + j];
            at += n;
            var table = kv.BlocksOf(r);
            var ids = new int[table.Count];
            for (int b = 0; b < ids.Length; b++) ids[b] = table[b].Id;
            seqs[i] = new SequenceChunk(n, r.NumComputedTokens + n, ids, chunks[i].Samples);
            if (chunks[i].Samples) states.Add(r.Sampling);
        }
        using var logits = model.Forward(new ForwardBatch { TokenIds = tokens, Sequences = seqs }, cache);
        return states.Count == 0 ? [] : Sampler.Sample(logits, states);
    }

    public void Dispose() => cache.Dispose();
}
