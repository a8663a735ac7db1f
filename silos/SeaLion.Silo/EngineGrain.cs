using Orleans.Placement;
using SeaLion.Contracts.Grains;
using SeaLion.Engine;

namespace SeaLion.Silo;

/// <summary>
/// The engine grain of this silo: streams a request through the local engine. The engine runs on its own thread;
/// this grain only forwards its outputs, so the silo's scheduler threads never wait on the model. A caller that
/// stops reading disposes the stream, which aborts the request in the engine.
/// </summary>
[PreferLocalPlacement]
public sealed class EngineGrain(EngineHost host) : Grain, IEngineGrain
{
    public async IAsyncEnumerable<GenerateChunk> Generate(EngineGenerateRequest request)
    {
        await foreach (var o in host.Engine.GenerateAsync(new GenerateRequest(request.PromptTokenIds, request.Sampling.ToEngine(), request.RequestId)))
        {
            var lp = o.Logprobs?.Select(l => new TokenLogprobSpec(l.TokenId, l.Logprob ?? 0,
                l.TopLogprobs?.Select(t => new TopLogprobSpec(t.TokenId, t.Logprob)).ToArray() ?? [])).ToArray();
            yield return new GenerateChunk(o.TokenIds.ToArray(), o.Text, lp, o.FinishReason,
                o.Usage?.PromptTokens ?? 0, o.Usage?.CachedTokens ?? 0, o.Usage?.GeneratedTokens ?? 0);
        }
    }
}
