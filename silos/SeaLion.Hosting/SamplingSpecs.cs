using SeaLion.Contracts.Grains;
using SeaLion.Model.Sampling;

namespace SeaLion.Hosting;

/// <summary>The one mapping from the wire form of sampling parameters to the engine's, and its validation.</summary>
public static class SamplingSpecs
{
    /// <summary>The engine's own checks of the parameters: null when valid, else the problem and the field it names.</summary>
    /// <summary>Structured outputs compiled to check them (no vocabulary: the automaton only), cached by their text.</summary>
    static readonly SeaLion.Structured.ConstraintCache Checked = new(null, maxStates: 200_000, maxEntries: 128);

    /// <summary>Why a structured output cannot be compiled (null: it can), naming the construct and where it is.</summary>
    public static string? StructuredProblem(StructuredOutput o)
    {
        try { Checked.Get(o); return null; }
        catch (SeaLion.Structured.ConstraintException e) { return e.Reason(); }
    }

    public static (string Message, string? Field)? Problem(this SamplingSpec s, int vocabSize = int.MaxValue)
    {
        try
        {
            var p = s.ToEngine();
            p.Validate(vocabSize);
            if (p.Structured is { } structured) Checked.Get(structured);
            return null;
        }
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
        Structured = s.StructuredKind is null ? null : new StructuredOutput(ParseKind(s.StructuredKind), s.StructuredValue ?? ""),
    };

    /// <summary>The wire names of the structured output kinds.</summary>
    public static string Name(StructuredKind k) => k switch
    {
        StructuredKind.JsonSchema => "json_schema", StructuredKind.JsonObject => "json_object", StructuredKind.Regex => "regex",
        StructuredKind.Choice => "choice", _ => "grammar",
    };

    static StructuredKind ParseKind(string name) => name switch
    {
        "json_schema" => StructuredKind.JsonSchema, "json_object" => StructuredKind.JsonObject, "regex" => StructuredKind.Regex,
        "choice" => StructuredKind.Choice, "grammar" => StructuredKind.Grammar,
        _ => throw new ArgumentException($"unknown structured output kind '{name}'", "structured_outputs"),
    };

    /// <summary>A spec carrying a structured output.</summary>
    public static SamplingSpec WithStructured(this SamplingSpec s, StructuredOutput? o) =>
        o is null ? s : s with { StructuredKind = Name(o.Kind), StructuredValue = o.Value };
}
