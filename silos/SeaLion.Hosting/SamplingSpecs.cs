using SeaLion.Contracts.Grains;
using SeaLion.Model.Sampling;

namespace SeaLion.Hosting;

/// <summary>The one mapping from the wire form of sampling parameters to the engine's, and its validation.</summary>
public static class SamplingSpecs
{
    /// <summary>The engine's own checks of the parameters: null when valid, else the problem and the field it names.</summary>
    public static (string Message, string? Field)? Problem(this SamplingSpec s, int vocabSize = int.MaxValue)
    {
        try { s.ToEngine().Validate(vocabSize); return null; }
        catch (ArgumentException e) { return (e.Reason(), e.ParamName); }
    }

    /// <summary>An argument error as a client reads it: the message without .NET's " (Parameter 'x')" suffix.</summary>
    public static string Reason(this ArgumentException e) => e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", "");

    public static SamplingParams ToEngine(this SamplingSpec s) => new()
    {
        Temperature = s.Temperature, TopP = s.TopP, TopK = s.TopK, MinP = s.MinP, MaxTokens = s.MaxTokens, Seed = s.Seed,
        Stop = s.Stop, StopTokenIds = s.StopTokenIds, PresencePenalty = s.PresencePenalty, FrequencyPenalty = s.FrequencyPenalty,
        RepetitionPenalty = s.RepetitionPenalty, Logprobs = s.Logprobs, IgnoreEos = s.IgnoreEos, PromptLogprobs = s.PromptLogprobs,
        MinTokens = s.MinTokens, LogitBias = s.LogitBias, SkipSpecialTokens = s.SkipSpecialTokens, IncludeStopStrInOutput = s.IncludeStopStrInOutput,
    };
}
