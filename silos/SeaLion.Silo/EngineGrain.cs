using Orleans.Placement;
using SeaLion.Contracts.Grains;
using SeaLion.Engine;
using SeaLion.Model.Sampling;

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
        var s = request.Sampling;
        var sampling = new SamplingParams
        {
            Temperature = s.Temperature, TopP = s.TopP, TopK = s.TopK, MinP = s.MinP, MaxTokens = s.MaxTokens, Seed = s.Seed,
            Stop = s.Stop, StopTokenIds = s.StopTokenIds, PresencePenalty = s.PresencePenalty, FrequencyPenalty = s.FrequencyPenalty,
            RepetitionPenalty = s.RepetitionPenalty, Logprobs = s.Logprobs, IgnoreEos = s.IgnoreEos,
        };
        await foreach (var o in host.Engine.GenerateAsync(new GenerateRequest(request.PromptTokenIds, sampling, request.RequestId)))
        {
            var lp = o.Logprobs?.Select(l => new TokenLogprobSpec(l.TokenId, l.Logprob ?? 0,
                l.TopLogprobs?.Select(t => new TopLogprobSpec(t.TokenId, t.Logprob)).ToArray() ?? [])).ToArray();
            yield return new GenerateChunk(o.TokenIds.ToArray(), o.Text, lp, o.FinishReason,
                o.Usage?.PromptTokens ?? 0, o.Usage?.CachedTokens ?? 0, o.Usage?.GeneratedTokens ?? 0);
        }
    }
}
