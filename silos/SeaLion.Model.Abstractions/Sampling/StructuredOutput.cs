namespace SeaLion.Model.Sampling;

/// <summary>What a structured output must match (vLLM's structured_outputs / guided_* and OpenAI's response_format).</summary>
public enum StructuredKind
{
    /// <summary>A JSON schema (Value: the schema's JSON text).</summary>
    JsonSchema,
    /// <summary>Any JSON object (Value unused).</summary>
    JsonObject,
    /// <summary>A regular expression the whole output matches.</summary>
    Regex,
    /// <summary>One of a list of strings (Value: a JSON array of strings).</summary>
    Choice,
    /// <summary>A GBNF grammar whose root rule the whole output matches.</summary>
    Grammar,
}

public sealed record StructuredOutput(StructuredKind Kind, string Value)
{
    public const int MaxValueChars = 64 * 1024;
}

/// <summary>
/// A per-request constraint on the tokens that may come next, advanced with each token the request takes. The
/// sampler masks every token whose bit is clear; end-of-sequence ids are allowed only where the output may end.
/// </summary>
public interface ITokenConstraint
{
    /// <summary>Allowed next tokens: bit (id % 64) of word (id / 64).</summary>
    ReadOnlySpan<ulong> Allowed { get; }
    /// <summary>The output is complete: it matches and nothing can follow (the request ends here).</summary>
    bool IsComplete { get; }
    void Advance(int tokenId);
}
