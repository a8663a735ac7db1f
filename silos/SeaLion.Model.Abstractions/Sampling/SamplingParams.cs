namespace SeaLion.Model.Sampling;

/// <summary>
/// Per-request sampling and stopping parameters, with vLLM / OpenAI meanings. Temperature 0 is greedy.
/// <see cref="Validate"/> rejects out-of-range values naming the field, the limit and the value.
/// </summary>
public sealed record SamplingParams
{
    public const int MaxStopStrings = 16;
    public const int MaxStopStringLength = 256;
    public const int MaxTopLogprobs = 20;

    public double Temperature { get; init; } = 1.0;
    public double TopP { get; init; } = 1.0;
    /// <summary>0 or -1: no top-k filter.</summary>
    public int TopK { get; init; }
    public double MinP { get; init; }
    /// <summary>HF semantics over prompt and output tokens: positive logits divided, negative multiplied.</summary>
    public double RepetitionPenalty { get; init; } = 1.0;
    /// <summary>OpenAI semantics over output tokens: subtracted once per token that occurred.</summary>
    public double PresencePenalty { get; init; }
    /// <summary>OpenAI semantics over output tokens: subtracted once per occurrence.</summary>
    public double FrequencyPenalty { get; init; }
    /// <summary>Same seed, same parameters, same prompt: same tokens. Null: a fresh random seed.</summary>
    public long? Seed { get; init; }
    public int MaxTokens { get; init; } = 16;
    public IReadOnlyList<int> StopTokenIds { get; init; } = [];
    public IReadOnlyList<string> Stop { get; init; } = [];
    /// <summary>Keep generating past the model's end-of-sequence tokens.</summary>
    public bool IgnoreEos { get; init; }
    /// <summary>Null: no logprobs. n >= 0: the chosen token's logprob and the n most likely alternatives.</summary>
    public int? Logprobs { get; init; }

    public bool IsGreedy => Temperature == 0;

    public void Validate(int vocabSize)
    {
        static void Range(string field, double v, double lo, double hi, string limit)
        {
            if (double.IsNaN(v) || v < lo || v > hi) throw new ArgumentOutOfRangeException(field, v, $"{field} must be {limit}, got {v}");
        }
        Range("temperature", Temperature, 0, 100, "between 0 and 100");
        if (TopP <= 0 || TopP > 1 || double.IsNaN(TopP)) throw new ArgumentOutOfRangeException("top_p", TopP, $"top_p must be in (0, 1], got {TopP}");
        if (TopK < -1) throw new ArgumentOutOfRangeException("top_k", TopK, $"top_k must be -1, 0 (disabled) or positive, got {TopK}");
        Range("min_p", MinP, 0, 1, "between 0 and 1");
        if (RepetitionPenalty <= 0 || RepetitionPenalty > 100 || double.IsNaN(RepetitionPenalty))
            throw new ArgumentOutOfRangeException("repetition_penalty", RepetitionPenalty, $"repetition_penalty must be in (0, 100], got {RepetitionPenalty}");
        Range("presence_penalty", PresencePenalty, -2, 2, "between -2 and 2");
        Range("frequency_penalty", FrequencyPenalty, -2, 2, "between -2 and 2");
        if (MaxTokens < 1) throw new ArgumentOutOfRangeException("max_tokens", MaxTokens, $"max_tokens must be at least 1, got {MaxTokens}");
        foreach (int id in StopTokenIds)
            if (id < 0 || id >= vocabSize) throw new ArgumentOutOfRangeException("stop_token_ids", id, $"stop_token_ids must be in [0, {vocabSize}), got {id}");
        if (Stop.Count > MaxStopStrings) throw new ArgumentOutOfRangeException("stop", Stop.Count, $"stop may hold at most {MaxStopStrings} strings, got {Stop.Count}");
        foreach (var s in Stop)
            if (string.IsNullOrEmpty(s) || s.Length > MaxStopStringLength)
                throw new ArgumentOutOfRangeException("stop", s?.Length ?? 0, $"each stop string must have 1 to {MaxStopStringLength} characters, got {s?.Length ?? 0}");
        if (Logprobs is < 0 or > MaxTopLogprobs)
            throw new ArgumentOutOfRangeException("logprobs", Logprobs, $"logprobs must be between 0 and {MaxTopLogprobs}, got {Logprobs}");
    }
}
