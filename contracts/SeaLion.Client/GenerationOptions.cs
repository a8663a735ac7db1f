using V1 = SeaLion.Contracts.V1;

namespace SeaLion.Client;

/// <summary>
/// How tokens are chosen and when a generation stops (the wire's <c>SamplingParams</c>), plus per-call settings. Every
/// property left null keeps the server's default (the model's generation_config.json); out-of-range values are refused
/// by the server with a <see cref="SeaLionException"/> of <see cref="SeaLionStatusCode.InvalidArgument"/> naming the field.
/// </summary>
public sealed record GenerationOptions
{
    /// <summary>0 = greedy. Range [0, 100].</summary>
    public double? Temperature { get; init; }
    /// <summary>Nucleus sampling mass, (0, 1].</summary>
    public double? TopP { get; init; }
    /// <summary>Keep only the k most likely tokens; 0 or -1 = off.</summary>
    public int? TopK { get; init; }
    /// <summary>Drop tokens below MinP x the top token's probability, [0, 1].</summary>
    public double? MinP { get; init; }
    /// <summary>Maximum tokens to generate; prompt + MaxTokens must fit the model's context.</summary>
    public int? MaxTokens { get; init; }
    /// <summary>Same seed, parameters and prompt give the same tokens.</summary>
    public long? Seed { get; init; }
    /// <summary>Strings that end generation (not included in the output); at most 16, each 1-256 characters.</summary>
    public IReadOnlyList<string>? Stop { get; init; }
    /// <summary>Token ids that end generation, besides the model's end-of-sequence ids.</summary>
    public IReadOnlyList<int>? StopTokenIds { get; init; }
    /// <summary>OpenAI semantics over generated tokens, [-2, 2].</summary>
    public double? PresencePenalty { get; init; }
    /// <summary>OpenAI semantics over generated tokens, [-2, 2].</summary>
    public double? FrequencyPenalty { get; init; }
    /// <summary>Hugging Face semantics over prompt and generated tokens, (0, 100].</summary>
    public double? RepetitionPenalty { get; init; }
    /// <summary>Return each chosen token's logprob and this many alternatives per position, [0, 20].</summary>
    public int? Logprobs { get; init; }
    /// <summary>Keep going past end-of-sequence tokens.</summary>
    public bool? IgnoreEos { get; init; }
    /// <summary>
    /// For every prompt token after the first: its logprob given the tokens before it, its rank and this many
    /// alternatives, [0, 20] (vLLM's prompt_logprobs; Generate only). With it, MaxTokens may be 0.
    /// </summary>
    public int? PromptLogprobs { get; init; }
    /// <summary>Until this many tokens exist, end-of-sequence and the stop tokens cannot be sampled, [0, MaxTokens].</summary>
    public int? MinTokens { get; init; }
    /// <summary>Token id -> bias added to its logit before sampling, each in [-100, 100].</summary>
    public IReadOnlyDictionary<int, float>? LogitBias { get; init; }
    /// <summary>Keep the matched stop string (or stop token's text) at the end of the output.</summary>
    public bool? IncludeStopStringInOutput { get; init; }
    /// <summary>Show special tokens' text (skipped by default).</summary>
    public bool? KeepSpecialTokens { get; init; }
    /// <summary>Structured output: the output is compact JSON valid against this JSON schema (its text).</summary>
    public string? JsonSchema { get; init; }
    /// <summary>Structured output: the output is a JSON object.</summary>
    public bool? JsonObject { get; init; }
    /// <summary>Structured output: the whole output matches this regular expression.</summary>
    public string? Regex { get; init; }
    /// <summary>Structured output: the output is exactly one of these strings.</summary>
    public IReadOnlyList<string>? Choice { get; init; }
    /// <summary>Structured output: the output matches this GBNF grammar's root rule (no recursion).</summary>
    public string? Grammar { get; init; }

    /// <summary>The model for this call; null = <see cref="SeaLionClientOptions.Model"/>.</summary>
    public string? Model { get; init; }
    /// <summary>A caller-chosen id echoed in every chunk; null = the server picks one.</summary>
    public string? RequestId { get; init; }
    /// <summary>Deadline of this call (retries included); null = <see cref="SeaLionClientOptions.DefaultDeadline"/>.</summary>
    public TimeSpan? Deadline { get; init; }

    /// <summary>The wire message: only the fields set here are set there.</summary>
    internal V1.SamplingParams ToSampling()
    {
        var p = new V1.SamplingParams();
        if (Temperature is { } temperature) p.Temperature = temperature;
        if (TopP is { } topP) p.TopP = topP;
        if (TopK is { } topK) p.TopK = topK;
        if (MinP is { } minP) p.MinP = minP;
        if (MaxTokens is { } maxTokens) p.MaxTokens = maxTokens;
        if (Seed is { } seed) p.Seed = seed;
        if (Stop is not null) p.Stop.AddRange(Stop);
        if (StopTokenIds is not null) p.StopTokenIds.AddRange(StopTokenIds);
        if (PresencePenalty is { } presence) p.PresencePenalty = presence;
        if (FrequencyPenalty is { } frequency) p.FrequencyPenalty = frequency;
        if (RepetitionPenalty is { } repetition) p.RepetitionPenalty = repetition;
        if (Logprobs is { } logprobs) p.Logprobs = logprobs;
        if (IgnoreEos is { } ignoreEos) p.IgnoreEos = ignoreEos;
        if (PromptLogprobs is { } promptLogprobs) p.PromptLogprobs = promptLogprobs;
        if (MinTokens is { } minTokens) p.MinTokens = minTokens;
        if (LogitBias is not null) foreach (var (id, bias) in LogitBias) p.LogitBias[id] = bias;
        if (IncludeStopStringInOutput is { } include) p.IncludeStopStrInOutput = include;
        if (KeepSpecialTokens is { } keep) p.KeepSpecialTokens = keep;
        int structured = (JsonSchema is null ? 0 : 1) + (JsonObject == true ? 1 : 0) + (Regex is null ? 0 : 1) + (Choice is null ? 0 : 1) + (Grammar is null ? 0 : 1);
        if (structured > 1) throw new ArgumentException("set at most one of JsonSchema, JsonObject, Regex, Choice and Grammar");
        if (JsonSchema is not null) p.JsonSchema = JsonSchema;
        if (JsonObject == true) p.JsonObject = true;
        if (Regex is not null) p.Regex = Regex;
        if (Choice is not null) { p.Choice = new V1.ChoiceList(); p.Choice.Choices.AddRange(Choice); }
        if (Grammar is not null) p.Grammar = Grammar;
        return p;
    }
}
