using SeaLion.Contracts.Grains;
using SeaLion.Engine;

namespace SeaLion.Silo;

/// <summary>The one mapping from an engine output to the chunk that crosses Orleans messages.</summary>
public static class Chunks
{
    public static GenerateChunk ToChunk(this EngineOutput o)
    {
        var lp = o.Logprobs?.Select(l => new TokenLogprobSpec(l.TokenId, l.Logprob ?? 0,
            l.TopLogprobs?.Select(t => new TopLogprobSpec(t.TokenId, t.Logprob)).ToArray() ?? [])).ToArray();
        return new GenerateChunk(o.TokenIds.ToArray(), o.Text, lp, o.FinishReason,
            o.Usage?.PromptTokens ?? 0, o.Usage?.CachedTokens ?? 0, o.Usage?.GeneratedTokens ?? 0)
        {
            PromptLogprobs = o.PromptLogprobs?.Select(p => new PromptLogprobSpec(p.TokenId, p.Logprob, p.Rank,
                p.Top.Select(t => new TopLogprobSpec(t.TokenId, t.Logprob)).ToArray())).ToArray(),
        };
    }
}
