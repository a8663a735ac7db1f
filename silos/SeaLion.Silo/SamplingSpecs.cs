using SeaLion.Contracts.Grains;
using SeaLion.Model.Sampling;

namespace SeaLion.Silo;

/// <summary>The one mapping from the wire form of sampling parameters to the engine's.</summary>
public static class SamplingSpecs
{
    public static SamplingParams ToEngine(this SamplingSpec s) => new()
    {
        Temperature = s.Temperature, TopP = s.TopP, TopK = s.TopK, MinP = s.MinP, MaxTokens = s.MaxTokens, Seed = s.Seed,
        Stop = s.Stop, StopTokenIds = s.StopTokenIds, PresencePenalty = s.PresencePenalty, FrequencyPenalty = s.FrequencyPenalty,
        RepetitionPenalty = s.RepetitionPenalty, Logprobs = s.Logprobs, IgnoreEos = s.IgnoreEos,
    };
}
