using SeaLion.Engine.Blocks;
using SeaLion.Routing;
using SeaLion.Model.Sampling;

namespace SeaLion.Engine;

public enum RequestStatus { Waiting, Running, Finished }

/// <summary>
/// A request inside the engine: its tokens (prompt, then generated), how many of them have their KV computed,
/// and its sampling state. Only the step thread touches it.
/// </summary>
internal sealed class EngineRequest
{
    readonly List<int> _tokens;
    readonly List<BlockHash> _hashes = new();

    /// <param name="resumeOutput">Tokens already generated (and delivered) by an engine that was lost: they are
    /// part of the sequence as output, not prompt.</param>
    public EngineRequest(string id, int[] prompt, SamplingParams sampling, long arrival, IReadOnlyList<int>? resumeOutput = null)
    {
        Id = id;
        _tokens = new List<int>(prompt.Length + Math.Min(sampling.MaxTokens, 4096));
        _tokens.AddRange(prompt);
        if (resumeOutput is not null) _tokens.AddRange(resumeOutput);
        NumPromptTokens = prompt.Length;
        Sampling = new SamplingState(sampling, prompt, resumeOutput);
        Arrival = arrival;
        // A resumed stream delivered its prompt logprobs with its first chunk, before the engine it ran on was lost.
        if (sampling.PromptLogprobs is not null && resumeOutput is not { Count: > 0 }) PromptLogprobs = new PromptLogprob?[prompt.Length];
    }

    /// <summary>Prompt logprobs by position (index 0 stays null), filled in as the prompt's chunks run; null when not asked for.</summary>
    public PromptLogprob?[]? PromptLogprobs { get; }
    /// <summary>True once the prompt logprobs went out with the first output.</summary>
    public bool PromptLogprobsSent { get; set; }
    /// <summary>
    /// The request's chunks need a logits row per token (its prompt logprobs are not all computed yet). Such a
    /// request also skips the prefix cache: a cached block has K/V but no logits, so its positions are recomputed.
    /// </summary>
    public bool WantsPromptLogits => PromptLogprobs is not null && !PromptLogprobsSent;

    public string Id { get; }
    public long Arrival { get; }
    public IReadOnlyList<int> Tokens => _tokens;
    public int NumTokens => _tokens.Count;
    public int NumPromptTokens { get; }
    public int NumOutputTokens => _tokens.Count - NumPromptTokens;
    /// <summary>Tokens whose K/V are in the cache (computed or found in the prefix cache).</summary>
    public int NumComputedTokens { get; set; }
    /// <summary>Prompt tokens served from the prefix cache when the request was first admitted.</summary>
    public int NumCachedTokens { get; set; }
    public int Preemptions { get; set; }
    public RequestStatus Status { get; set; } = RequestStatus.Waiting;
    /// <summary>Engine-clock times (seconds) behind the latency metrics; NaN until they happen.</summary>
    public double ArrivalTime { get; init; }
    public double FirstScheduledTime { get; set; } = double.NaN;
    public double LastTokenTime { get; set; } = double.NaN;
    public SamplingState Sampling { get; }
    public string? FinishReason { get; set; }

    public void AppendToken(int token)
    {
        _tokens.Add(token);
        Sampling.Append(token);
    }

    /// <summary>Hash chain of the request's full blocks, extended as tokens are added.</summary>
    public List<BlockHash> BlockHashes(int blockSize) => BlockHash.Chain(_tokens, blockSize, _hashes);
}
