namespace SeaLion.Contracts.Grains;

/// <summary>Sampling parameters as they cross an Orleans message (the engine's own type stays out of the contracts).</summary>
[GenerateSerializer, Immutable]
public sealed record SamplingSpec
{
    [Id(0)] public double Temperature { get; init; } = 1.0;
    [Id(1)] public double TopP { get; init; } = 1.0;
    [Id(2)] public int TopK { get; init; }
    [Id(3)] public double MinP { get; init; }
    [Id(4)] public int MaxTokens { get; init; } = 16;
    [Id(5)] public long? Seed { get; init; }
    [Id(6)] public string[] Stop { get; init; } = [];
    [Id(7)] public int[] StopTokenIds { get; init; } = [];
    [Id(8)] public double PresencePenalty { get; init; }
    [Id(9)] public double FrequencyPenalty { get; init; }
    [Id(10)] public double RepetitionPenalty { get; init; } = 1.0;
    [Id(11)] public int? Logprobs { get; init; }
    [Id(12)] public bool IgnoreEos { get; init; }
    [Id(13)] public int? PromptLogprobs { get; init; }
    [Id(14)] public int MinTokens { get; init; }
    /// <summary>Token id -> bias added to its logit (null: none).</summary>
    [Id(15)] public Dictionary<int, float>? LogitBias { get; init; }
    [Id(16)] public bool SkipSpecialTokens { get; init; } = true;
    [Id(17)] public bool IncludeStopStrInOutput { get; init; }
    /// <summary>Structured output kind (json_schema, json_object, regex, choice, grammar) and its text; null: free text.</summary>
    [Id(18)] public string? StructuredKind { get; init; }
    [Id(19)] public string? StructuredValue { get; init; }
}

/// <summary>A generation; ResumeOutput continues a stream a lost engine had started (those tokens were delivered).</summary>
[GenerateSerializer, Immutable]
public sealed record EngineGenerateRequest([property: Id(0)] string RequestId, [property: Id(1)] int[] PromptTokenIds, [property: Id(2)] SamplingSpec Sampling,
    [property: Id(3)] int[]? ResumeOutput = null);

[GenerateSerializer, Immutable]
public sealed record TopLogprobSpec([property: Id(0)] int TokenId, [property: Id(1)] float Logprob);

[GenerateSerializer, Immutable]
public sealed record TokenLogprobSpec([property: Id(0)] int TokenId, [property: Id(1)] float Logprob, [property: Id(2)] TopLogprobSpec[] Top);

/// <summary>A prompt token's logprob given the tokens before it, its rank (1 = the most likely) and the top alternatives.</summary>
[GenerateSerializer, Immutable]
public sealed record PromptLogprobSpec([property: Id(0)] int TokenId, [property: Id(1)] float Logprob, [property: Id(2)] int Rank, [property: Id(3)] TopLogprobSpec[] Top);

/// <summary>One streamed piece of a generation; the last has FinishReason and the token counts.</summary>
[GenerateSerializer, Immutable]
public sealed record GenerateChunk(
    [property: Id(0)] int[] TokenIds, [property: Id(1)] string Text, [property: Id(2)] TokenLogprobSpec[]? Logprobs,
    [property: Id(3)] string? FinishReason, [property: Id(4)] int PromptTokens, [property: Id(5)] int CachedTokens, [property: Id(6)] int GeneratedTokens)
{
    /// <summary>On the first chunk when prompt logprobs were asked for: one entry per prompt token after the first.</summary>
    [Id(7)] public PromptLogprobSpec[]? PromptLogprobs { get; init; }
}

/// <summary>
/// The engine of one tensor-parallel group, living on the silo whose GPUs hold its shards. Tokens stream from the
/// engine's own thread; no tensor crosses an Orleans message.
/// </summary>
public interface IEngineGrain : IGrainWithStringKey
{
    IAsyncEnumerable<GenerateChunk> Generate(EngineGenerateRequest request);
}
