using SeaLion.Model.Sampling;

namespace SeaLion.Engine;

/// <summary>
/// A request to the engine: prompt token ids and sampling parameters. <paramref name="ResumeOutput"/> continues a
/// stream another engine had started: those tokens were already delivered; generation goes on after them with the
/// same sampling state, and only later tokens are streamed.
/// </summary>
public sealed record GenerateRequest(int[] PromptTokenIds, SamplingParams Sampling, string? RequestId = null, IReadOnlyList<int>? ResumeOutput = null);

/// <summary>Token counts of a finished request: prompt, prompt tokens served from the prefix cache, generated.</summary>
public sealed record EngineUsage(int PromptTokens, int CachedTokens, int GeneratedTokens);

/// <summary>
/// One streamed piece of a request: the tokens generated since the last piece, the text they completed, their
/// logprobs when asked for, and on the last piece the finish reason ("stop", "length", "abort") and usage.
/// </summary>
public sealed record EngineOutput(
    string RequestId, IReadOnlyList<int> TokenIds, string Text, IReadOnlyList<SampledToken>? Logprobs,
    string? FinishReason, EngineUsage? Usage)
{
    /// <summary>
    /// On a request's first output when prompt logprobs were asked for: one entry per prompt token after the first
    /// (the first has no context to be predicted from), each computed by this engine's forward pass.
    /// </summary>
    public IReadOnlyList<PromptLogprob>? PromptLogprobs { get; init; }
    /// <summary>On the last output: seconds the request waited before its first step (engine clock).</summary>
    public double? QueueSeconds { get; init; }
}

/// <summary>What a router or placement director needs to know about an engine right now.</summary>
public sealed record EngineLoad(
    int Running, int Waiting, double KvUsage, int FreeBlocks, int TotalBlocks, double PrefixHitRate,
    long PromptTokens, long GeneratedTokens, long Preemptions);
