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
    public const int MaxLogitBias = 1024;
    public const double LogitBiasLimit = 100;

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
    /// <summary>
    /// Null: none. n >= 0: for every prompt token after the first, its logprob given the tokens before it, its rank,
    /// and the n most likely tokens at that position (vLLM's prompt_logprobs). With it, max_tokens may be 0.
    /// </summary>
    public int? PromptLogprobs { get; init; }
    /// <summary>vLLM semantics: until this many tokens are generated, EOS and the stop token ids cannot be sampled
    /// and stop strings are not looked for.</summary>
    public int MinTokens { get; init; }
    /// <summary>OpenAI semantics: added to the token's logit before sampling (the reported logprobs stay the model's).</summary>
    public IReadOnlyDictionary<int, float>? LogitBias { get; init; }
    /// <summary>Special tokens (e.g. &lt;|eot_id|&gt; under ignore_eos) add no text.</summary>
    public bool SkipSpecialTokens { get; init; } = true;
    /// <summary>The matched stop string (or stop token's text) ends the output instead of being cut off.</summary>
    public bool IncludeStopStrInOutput { get; init; }
    /// <summary>The output must match this (JSON schema, regex, choice, grammar); null: free text.</summary>
    public StructuredOutput? Structured { get; init; }

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
        if (MaxTokens < (PromptLogprobs is null ? 1 : 0))
            throw new ArgumentOutOfRangeException("max_tokens", MaxTokens, $"max_tokens must be at least 1 (0 only with prompt logprobs), got {MaxTokens}");
        if (MinTokens < 0 || MinTokens > MaxTokens)
            throw new ArgumentOutOfRangeException("min_tokens", MinTokens, $"min_tokens must be in [0, max_tokens = {MaxTokens}], got {MinTokens}");
        if (LogitBias is { } bias)
        {
            if (bias.Count > MaxLogitBias) throw new ArgumentOutOfRangeException("logit_bias", bias.Count, $"logit_bias may hold at most {MaxLogitBias} entries, got {bias.Count}");
            foreach (var (id, b) in bias)
            {
                if (id < 0 || id >= vocabSize) throw new ArgumentOutOfRangeException("logit_bias", id, $"logit_bias token id {id} is outside the vocabulary [0, {vocabSize})");
                if (!float.IsFinite(b) || Math.Abs(b) > LogitBiasLimit)
                    throw new ArgumentOutOfRangeException("logit_bias", b, $"logit_bias for token {id} must be in [-{LogitBiasLimit}, {LogitBiasLimit}], got {b}");
            }
        }
        if (Structured is { } so && (so.Value is null || so.Value.Length > StructuredOutput.MaxValueChars))
            throw new ArgumentOutOfRangeException("structured_outputs", so.Value?.Length ?? 0, $"the structured output's {so.Kind} has {so.Value?.Length ?? 0} characters; the limit is {StructuredOutput.MaxValueChars}");
        if (PromptLogprobs is < 0 or > MaxTopLogprobs)
            throw new ArgumentOutOfRangeException("prompt_logprobs", PromptLogprobs, $"prompt_logprobs must be between 0 and {MaxTopLogprobs}, got {PromptLogprobs}");
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
