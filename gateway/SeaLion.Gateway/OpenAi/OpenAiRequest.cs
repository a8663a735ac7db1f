using System.Text.Json;
using SeaLion.Contracts.Grains;
using SeaLion.Hosting;
using SeaLion.Model.Sampling;

namespace SeaLion.Gateway.OpenAi;

/// <summary>An error in OpenAI's shape: HTTP status, {"error": {"message", "type", "param", "code"}}.</summary>
public sealed class OpenAiException(int status, string message, string? param = null, string type = "invalid_request_error", string? code = null)
    : Exception(message)
{
    public int Status { get; } = status;
    public string? Param { get; } = param;
    public string Type { get; } = type;
    public string? Code { get; } = code;

    public static OpenAiException Invalid(string message, string? param = null) => new(400, message, param);
}

/// <summary>
/// Typed reads of a request body's fields, each failing with a 400 that names the field, what it must be and what
/// was given. <see cref="OnlyKnown"/> refuses, by name, any field an endpoint does not list.
/// </summary>
public sealed class OpenAiRequest(JsonElement root)
{
    public JsonElement Root { get; } = root.ValueKind == JsonValueKind.Object ? root : throw OpenAiException.Invalid($"the request body must be a JSON object, got {Describe(root)}");

    public bool Has(string name) => Root.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null;

    public JsonElement? Get(string name) => Root.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    public string? String(string name, int maxLength = 1 << 20)
    {
        if (Get(name) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.String) throw OpenAiException.Invalid($"{name} must be a string, got {Describe(v)}", name);
        string s = v.GetString()!;
        if (s.Length > maxLength) throw OpenAiException.Invalid($"{name} has {s.Length} characters; the limit is {maxLength}", name);
        return s;
    }

    public double? Number(string name, double min, double max, bool minExclusive = false)
    {
        if (Get(name) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Number) throw OpenAiException.Invalid($"{name} must be a number, got {Describe(v)}", name);
        double d = v.GetDouble();
        if (!double.IsFinite(d) || d > max || (minExclusive ? d <= min : d < min))
            throw OpenAiException.Invalid($"{name} must be in {(minExclusive ? "(" : "[")}{min}, {max}], got {v.GetRawText()}", name);
        return d;
    }

    public long? Integer(string name, long min, long max)
    {
        if (Get(name) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out long n)) throw OpenAiException.Invalid($"{name} must be an integer, got {Describe(v)}", name);
        if (n < min || n > max) throw OpenAiException.Invalid($"{name} must be in [{min}, {max}], got {n}", name);
        return n;
    }

    public bool? Bool(string name)
    {
        if (Get(name) is not { } v) return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw OpenAiException.Invalid($"{name} must be a boolean, got {Describe(v)}", name),
        };
    }

    /// <summary>"stop": a string or an array of at most 16 strings of 1-256 characters.</summary>
    public string[] Stop()
    {
        if (Get("stop") is not { } v) return [];
        string[] stops = v.ValueKind switch
        {
            JsonValueKind.String => [v.GetString()!],
            JsonValueKind.Array => v.EnumerateArray().Select((e, i) => e.ValueKind == JsonValueKind.String ? e.GetString()!
                : throw OpenAiException.Invalid($"stop[{i}] must be a string, got {Describe(e)}", "stop")).ToArray(),
            _ => throw OpenAiException.Invalid($"stop must be a string or an array of strings, got {Describe(v)}", "stop"),
        };
        if (stops.Length > 16) throw OpenAiException.Invalid($"stop has {stops.Length} sequences; the limit is 16", "stop");
        for (int i = 0; i < stops.Length; i++)
            if (stops[i].Length is 0 or > 256) throw OpenAiException.Invalid($"stop[{i}] has {stops[i].Length} characters; each must have 1-256", "stop");
        return stops;
    }

    /// <summary>
    /// Refuses every field the endpoint does not list (a field this server does not implement is refused by name,
    /// never silently ignored). A field sent as null is absent, as OpenAI's clients treat it.
    /// </summary>
    public void OnlyKnown(IReadOnlySet<string> known)
    {
        foreach (var p in Root.EnumerateObject())
            if (p.Value.ValueKind != JsonValueKind.Null && !known.Contains(p.Name))
                throw OpenAiException.Invalid($"{p.Name} is not supported by this server", p.Name);
    }

    /// <summary>Refuses a field unless it is absent or has the one value this server implements.</summary>
    public void OnlyValue(string name, bool allowed, string why)
    {
        if (Bool(name) is { } v && v != allowed) throw OpenAiException.Invalid($"{name}: {v.ToString().ToLowerInvariant()} is not supported {why}", name);
    }

    /// <summary>"logit_bias": {"token id": bias}, as OpenAI's (keys are token ids written as strings), each in [-100, 100].</summary>
    public Dictionary<int, float>? LogitBias(int vocabSize)
    {
        if (Get("logit_bias") is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Object) throw OpenAiException.Invalid($"logit_bias must be an object of token id -> bias, got {Describe(v)}", "logit_bias");
        var bias = new Dictionary<int, float>();
        foreach (var p in v.EnumerateObject())
        {
            if (!int.TryParse(p.Name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int id))
                throw OpenAiException.Invalid($"logit_bias key '{Clip(p.Name)}' is not a token id", "logit_bias");
            if (id >= vocabSize) throw OpenAiException.Invalid($"logit_bias token id {id} is outside the vocabulary [0, {vocabSize})", "logit_bias");
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetDouble(out double b))
                throw OpenAiException.Invalid($"logit_bias[{id}] must be a number, got {Describe(p.Value)}", "logit_bias");
            if (!double.IsFinite(b) || Math.Abs(b) > SeaLion.Model.Sampling.SamplingParams.LogitBiasLimit)
                throw OpenAiException.Invalid($"logit_bias[{id}] must be in [-100, 100], got {p.Value.GetRawText()}", "logit_bias");
            bias[id] = (float)b;
        }
        if (bias.Count > SeaLion.Model.Sampling.SamplingParams.MaxLogitBias) throw OpenAiException.Invalid($"logit_bias has {bias.Count} entries; the limit is {SeaLion.Model.Sampling.SamplingParams.MaxLogitBias}", "logit_bias");
        return bias;
    }

    /// <summary>"stop_token_ids": an array of token ids in the vocabulary.</summary>
    public int[] StopTokenIds(int vocabSize)
    {
        if (Get("stop_token_ids") is not { } v) return [];
        if (v.ValueKind != JsonValueKind.Array) throw OpenAiException.Invalid($"stop_token_ids must be an array of token ids, got {Describe(v)}", "stop_token_ids");
        if (v.GetArrayLength() > 64) throw OpenAiException.Invalid($"stop_token_ids has {v.GetArrayLength()} entries; the limit is 64", "stop_token_ids");
        return v.EnumerateArray().Select((e, i) => e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int id) && id >= 0 && id < vocabSize ? id
            : throw OpenAiException.Invalid($"stop_token_ids[{i}] must be a token id in [0, {vocabSize}), got {(e.ValueKind == JsonValueKind.Number ? e.GetRawText() : Describe(e))}", "stop_token_ids")).ToArray();
    }

    /// <summary>
    /// The structured output asked for, from whichever one of these is given: OpenAI's response_format (json_object,
    /// json_schema), vLLM's structured_outputs {json | regex | choice | grammar | json_object}, or its older
    /// guided_json / guided_regex / guided_choice / guided_grammar. Its compilation is checked with the sampling.
    /// </summary>
    public StructuredOutput? Structured()
    {
        var found = new List<(string Field, StructuredOutput Output)>();
        if (Get("response_format") is { } rf)
        {
            if (rf.ValueKind != JsonValueKind.Object || !rf.TryGetProperty("type", out var t) || t.ValueKind != JsonValueKind.String)
                throw OpenAiException.Invalid("response_format must be an object with a \"type\": text, json_object or json_schema", "response_format");
            switch (t.GetString())
            {
                case "text": break;
                case "json_object": found.Add(("response_format", new StructuredOutput(StructuredKind.JsonObject, ""))); break;
                case "json_schema":
                    if (!rf.TryGetProperty("json_schema", out var js) || js.ValueKind != JsonValueKind.Object)
                        throw OpenAiException.Invalid("response_format json_schema needs \"json_schema\": {\"name\", \"schema\"}", "response_format");
                    foreach (var p in js.EnumerateObject())
                        if (p.Name is not ("name" or "schema" or "strict" or "description"))
                            throw OpenAiException.Invalid($"response_format.json_schema.{p.Name} is not supported by this server", "response_format");
                    if (!js.TryGetProperty("schema", out var schema) || schema.ValueKind != JsonValueKind.Object)
                        throw OpenAiException.Invalid("response_format.json_schema.schema must be a JSON schema object", "response_format");
                    found.Add(("response_format", new StructuredOutput(StructuredKind.JsonSchema, schema.GetRawText())));
                    break;
                default: throw OpenAiException.Invalid($"response_format type '{t.GetString()}' is not supported (text, json_object, json_schema are)", "response_format");
            }
        }
        void Add(string field, JsonElement v, string prefix)
        {
            string at = prefix + field;
            switch (field)
            {
                case "json" or "guided_json":
                    found.Add((at, new StructuredOutput(StructuredKind.JsonSchema, v.ValueKind switch
                    {
                        JsonValueKind.Object => v.GetRawText(),
                        JsonValueKind.String => v.GetString()!,
                        _ => throw OpenAiException.Invalid($"{at} must be a JSON schema (an object or its JSON text), got {Describe(v)}", at),
                    })));
                    break;
                case "regex" or "guided_regex" or "grammar" or "guided_grammar":
                    if (v.ValueKind != JsonValueKind.String) throw OpenAiException.Invalid($"{at} must be a string, got {Describe(v)}", at);
                    found.Add((at, new StructuredOutput(field.EndsWith("regex", StringComparison.Ordinal) ? StructuredKind.Regex : StructuredKind.Grammar, v.GetString()!)));
                    break;
                case "choice" or "guided_choice":
                    if (v.ValueKind != JsonValueKind.Array || v.GetArrayLength() == 0 || v.EnumerateArray().Any(x => x.ValueKind != JsonValueKind.String))
                        throw OpenAiException.Invalid($"{at} must be a non-empty array of strings", at);
                    found.Add((at, new StructuredOutput(StructuredKind.Choice, v.GetRawText())));
                    break;
                case "json_object":
                    if (v.ValueKind == JsonValueKind.True) found.Add((at, new StructuredOutput(StructuredKind.JsonObject, "")));
                    else if (v.ValueKind != JsonValueKind.False) throw OpenAiException.Invalid($"{at} must be a boolean", at);
                    break;
                case "disable_any_whitespace":
                    // This server never writes free whitespace in JSON: true is what it does; false is not offered.
                    if (v.ValueKind != JsonValueKind.True) throw OpenAiException.Invalid($"{at}: only true is supported (JSON is written compact)", at);
                    break;
                default: throw OpenAiException.Invalid($"{at} is not supported by this server", at);
            }
        }
        foreach (var g in new[] { "guided_json", "guided_regex", "guided_choice", "guided_grammar" })
            if (Get(g) is { } v) Add(g, v, "");
        if (Get("structured_outputs") is { } so)
        {
            if (so.ValueKind != JsonValueKind.Object) throw OpenAiException.Invalid($"structured_outputs must be an object, got {Describe(so)}", "structured_outputs");
            foreach (var p in so.EnumerateObject())
                if (p.Value.ValueKind != JsonValueKind.Null) Add(p.Name, p.Value, "structured_outputs.");
        }
        if (found.Count > 1)
            throw OpenAiException.Invalid($"only one structured output may be given; this request has {string.Join(", ", found.Select(f => f.Field))}", found[1].Field);
        if (found.Count == 0) return null;
        // The size limit before compiling (as the engine's validation orders them): a body may hold megabytes of it.
        if (found[0].Output.Value.Length > StructuredOutput.MaxValueChars)
            throw OpenAiException.Invalid($"{found[0].Field} has {found[0].Output.Value.Length} characters; the limit is {StructuredOutput.MaxValueChars}", found[0].Field);
        if (SamplingSpecs.StructuredProblem(found[0].Output) is { } problem) throw OpenAiException.Invalid(problem, found[0].Field);
        return found[0].Output;
    }

    static string Clip(string s) => s.Length <= 40 ? s : s[..40] + "...";

    /// <summary>
    /// The sampling fields both endpoints share (OpenAI's, and vLLM's extras top_k, min_p, repetition_penalty,
    /// ignore_eos, min_tokens, stop_token_ids, skip_special_tokens, include_stop_str_in_output), with max_tokens,
    /// logprobs and prompt logprobs left to the caller. The engine's own validation runs too.
    /// </summary>
    public SamplingSpec Sampling(int maxTokens, int? logprobs, int vocabSize, int? promptLogprobs = null)
    {
        Bool("spaces_between_special_tokens");   // accepted: no effect with a byte-level BPE tokenizer (see docs/api.md)
        var d = new SamplingSpec();
        var spec = new SamplingSpec
        {
            Temperature = Number("temperature", 0, 2) ?? d.Temperature,
            TopP = Number("top_p", 0, 1, minExclusive: true) ?? d.TopP,
            TopK = (int)(Integer("top_k", -1, 1 << 20) ?? d.TopK),
            MinP = Number("min_p", 0, 1) ?? d.MinP,
            MaxTokens = maxTokens,
            Seed = Integer("seed", long.MinValue, long.MaxValue),
            Stop = Stop(),
            PresencePenalty = Number("presence_penalty", -2, 2) ?? d.PresencePenalty,
            FrequencyPenalty = Number("frequency_penalty", -2, 2) ?? d.FrequencyPenalty,
            RepetitionPenalty = Number("repetition_penalty", 0, 100, minExclusive: true) ?? d.RepetitionPenalty,
            Logprobs = logprobs,
            IgnoreEos = Bool("ignore_eos") ?? false,
            PromptLogprobs = promptLogprobs,
            MinTokens = (int)(Integer("min_tokens", 0, int.MaxValue) ?? 0),
            LogitBias = LogitBias(vocabSize),
            StopTokenIds = StopTokenIds(vocabSize),
            SkipSpecialTokens = Bool("skip_special_tokens") ?? true,
            IncludeStopStrInOutput = Bool("include_stop_str_in_output") ?? false,
        }.WithStructured(Structured());
        if (SeaLion.Hosting.SamplingSpecs.Problem(spec, vocabSize) is { } problem) throw OpenAiException.Invalid(problem.Message, problem.Field);
        return spec;
    }

    public static string Describe(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => $"the number {v.GetRawText()}",
        JsonValueKind.True or JsonValueKind.False => $"the boolean {v.GetRawText()}",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => "null",
    };
}
