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
    /// <summary>The runner computes logits (false: a simulated engine, which has no logprobs to give).</summary>
    bool HasLogits { get; }
    /// <summary>
    /// Sampled tokens for the chunks whose <see cref="ScheduledChunk.Samples"/> is true, in order. A chunk of a
    /// request that wants prompt logprobs also fills them in for the prompt positions it predicts.
    /// </summary>
    IReadOnlyList<SampledToken> Execute(IReadOnlyList<ScheduledChunk> chunks, KvCacheManager kv);
}

/// <summary>The TorchSharp model: one forward pass over the mixed batch, then batched sampling.</summary>
internal sealed class TorchModelRunner(LlamaModel model, KvCache cache) : IModelRunner
{
    public int VocabSize => model.Config.VocabSize;
    public int MaxContext => model.Config.MaxPositions;
    public IReadOnlyList<int> EosTokenIds => model.Config.EosTokenIds;
    public bool HasLogits => true;

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
            bool all = r.WantsPromptLogits;
            seqs[i] = new SequenceChunk(n, r.NumComputedTokens + n, ids, chunks[i].Samples || all, all);
            if (chunks[i].Samples) states.Add(r.Sampling);
        }
        using var logits = model.Forward(new ForwardBatch { TokenIds = tokens, Sequences = seqs }, cache);
        if (!seqs.Any(s => s.AllTokenLogits)) return states.Count == 0 ? [] : Sampler.Sample(logits, states);

        // Rows per sequence: every query token for a prompt-logprobs chunk, else its last (when it samples).
        var sampleRows = new List<long>();
        int row = 0;
        for (int i = 0; i < chunks.Count; i++)
        {
            var (r, n, s) = (chunks[i].Request, chunks[i].NumTokens, seqs[i]);
            if (s.AllTokenLogits)
            {
                // Row j holds the logits at position first + j, which predict the token at first + j + 1.
                int first = r.NumComputedTokens, count = Math.Min(n, r.NumPromptTokens - 1 - first);
                if (count > 0)
                {
                    using var rows = logits.narrow(0, row, count);
                    var targets = Enumerable.Range(first + 1, count).Select(p => r.Tokens[p]).ToArray();
                    var found = Sampler.PromptLogprobs(rows, targets, r.Sampling.Params.PromptLogprobs ?? 0);
                    for (int k = 0; k < count; k++) r.PromptLogprobs![first + 1 + k] = found[k];
                }
                if (chunks[i].Samples) sampleRows.Add(row + n - 1);
                row += n;
            }
            else if (chunks[i].Samples) sampleRows.Add(row++);
        }
        if (states.Count == 0) return [];
        using var idx = TorchSharp.torch.tensor(sampleRows.ToArray(), device: logits.device);
        using var picked = logits.index_select(0, idx);
        return Sampler.Sample(picked, states);
    }

    public void Dispose() => cache.Dispose();
}
