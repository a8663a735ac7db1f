using System.Text.Json;
using SeaLion.Contracts.Grains;

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
/// was given. Fields a client sends that this server does not know are ignored (as OpenAI's own clients add some).
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

    /// <summary>Refuses fields this server does not implement, naming them, rather than silently ignoring them.</summary>
    public void Unsupported(params string[] names)
    {
        foreach (var n in names)
            if (Has(n)) throw OpenAiException.Invalid($"{n} is not supported by this server", n);
    }

    /// <summary>
    /// The sampling fields both endpoints share (OpenAI's, and vLLM's extras top_k, min_p, repetition_penalty,
    /// ignore_eos), with max_tokens left to the caller. The engine's own validation runs too.
    /// </summary>
    public SamplingSpec Sampling(int maxTokens, int? logprobs)
    {
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
        };
        if (SeaLion.Hosting.SamplingSpecs.Problem(spec) is { } problem) throw OpenAiException.Invalid(problem.Message, problem.Field);
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
