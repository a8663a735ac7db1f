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
}

/// <summary>A generation; ResumeOutput continues a stream a lost engine had started (those tokens were delivered).</summary>
[GenerateSerializer, Immutable]
public sealed record EngineGenerateRequest([property: Id(0)] string RequestId, [property: Id(1)] int[] PromptTokenIds, [property: Id(2)] SamplingSpec Sampling,
    [property: Id(3)] int[]? ResumeOutput = null);

[GenerateSerializer, Immutable]
public sealed record TopLogprobSpec([property: Id(0)] int TokenId, [property: Id(1)] float Logprob);

[GenerateSerializer, Immutable]
public sealed record TokenLogprobSpec([property: Id(0)] int TokenId, [property: Id(1)] float Logprob, [property: Id(2)] TopLogprobSpec[] Top);

/// <summary>One streamed piece of a generation; the last has FinishReason and the token counts.</summary>
[GenerateSerializer, Immutable]
public sealed record GenerateChunk(
    [property: Id(0)] int[] TokenIds, [property: Id(1)] string Text, [property: Id(2)] TokenLogprobSpec[]? Logprobs,
    [property: Id(3)] string? FinishReason, [property: Id(4)] int PromptTokens, [property: Id(5)] int CachedTokens, [property: Id(6)] int GeneratedTokens);

/// <summary>
/// The engine of one tensor-parallel group, living on the silo whose GPUs hold its shards. Tokens stream from the
/// engine's own thread; no tensor crosses an Orleans message.
/// </summary>
public interface IEngineGrain : IGrainWithStringKey
{
    IAsyncEnumerable<GenerateChunk> Generate(EngineGenerateRequest request);
}
