using V1 = SeaLion.Contracts.V1;

namespace SeaLion.Client;

/// <summary>One message of a conversation.</summary>
/// <param name="Role"><c>system</c>, <c>user</c> or <c>assistant</c>.</param>
/// <param name="Content">The message text.</param>
public sealed record ChatMessage(string Role, string Content)
{
    /// <summary>A <c>system</c> message.</summary>
    public static ChatMessage System(string content) => new("system", content);
    /// <summary>A <c>user</c> message.</summary>
    public static ChatMessage User(string content) => new("user", content);
    /// <summary>An <c>assistant</c> message.</summary>
    public static ChatMessage Assistant(string content) => new("assistant", content);

    internal V1.ChatMessage ToWire() => new() { Role = Role ?? "", Content = Content ?? "" };
    internal static ChatMessage FromWire(V1.ChatMessage m) => new(m.Role, m.Content);
}

/// <summary>Why a generation ended.</summary>
public enum FinishReason
{
    /// <summary>An end-of-sequence token, a stop token id or a stop string.</summary>
    Stop = 1,
    /// <summary>MaxTokens or the model's context length.</summary>
    Length = 2,
    /// <summary>Cancelled on the server.</summary>
    Abort = 3,
}

/// <summary>Token counts of a finished generation.</summary>
/// <param name="PromptTokens">Tokens in the prompt (for Chat: the whole rendered history).</param>
/// <param name="CachedTokens">Prompt tokens served from the KV prefix cache instead of being recomputed.</param>
/// <param name="GeneratedTokens">Tokens generated.</param>
public sealed record TokenUsage(int PromptTokens, int CachedTokens, int GeneratedTokens);

/// <summary>An alternative token at a position.</summary>
/// <param name="TokenId">The token.</param>
/// <param name="Logprob">Its log probability under the model's raw distribution.</param>
public sealed record TopLogprob(int TokenId, float Logprob);

/// <summary>The log probability of a chosen token, and the most likely alternatives when asked for.</summary>
/// <param name="TokenId">The chosen token.</param>
/// <param name="Logprob">Its log probability under the model's raw distribution (before penalties and temperature).</param>
/// <param name="Top">The most likely tokens at this position.</param>
public sealed record TokenLogprob(int TokenId, float Logprob, IReadOnlyList<TopLogprob> Top);

/// <summary>A prompt token's log probability given the prompt tokens before it.</summary>
/// <param name="TokenId">The prompt token.</param>
/// <param name="Logprob">Its log probability under the model's raw distribution.</param>
/// <param name="Rank">1 = the most likely token at that position.</param>
/// <param name="Top">The most likely tokens at that position.</param>
public sealed record PromptLogprob(int TokenId, float Logprob, int Rank, IReadOnlyList<TopLogprob> Top);

/// <summary>One streamed piece of a generation. The last piece has <see cref="FinishReason"/> and <see cref="Usage"/> set.</summary>
/// <param name="RequestId">The request's id (the caller's, or one the server chose).</param>
/// <param name="TokenIds">Tokens generated since the previous piece (usually one).</param>
/// <param name="Text">The text those tokens completed (never half a UTF-8 character, never part of a stop string).</param>
/// <param name="Logprobs">One entry per token when logprobs were asked for, else empty.</param>
/// <param name="FinishReason">Set on the last piece only.</param>
/// <param name="Usage">Set on the last piece only.</param>
public sealed record GenerationChunk(string RequestId, IReadOnlyList<int> TokenIds, string Text, IReadOnlyList<TokenLogprob> Logprobs,
    FinishReason? FinishReason, TokenUsage? Usage)
{
    /// <summary>On the first piece when prompt logprobs were asked for: one entry per prompt token after the first; else empty.</summary>
    public IReadOnlyList<PromptLogprob> PromptLogprobs { get; init; } = [];

    internal static GenerationChunk FromWire(V1.GenerateResponse r) => new(
        r.RequestId,
        r.TokenIds.ToArray(),
        r.Text,
        r.Logprobs.Count == 0 ? [] : r.Logprobs.Select(l => new TokenLogprob(l.TokenId, l.Logprob, l.Top.Select(t => new TopLogprob(t.TokenId, t.Logprob)).ToArray())).ToArray(),
        r.FinishReason == V1.FinishReason.Unspecified ? null : (FinishReason)(int)r.FinishReason,
        r.Usage is null ? null : new TokenUsage(r.Usage.PromptTokens, r.Usage.CachedTokens, r.Usage.GeneratedTokens))
    {
        PromptLogprobs = r.PromptLogprobs.Count == 0 ? [] : r.PromptLogprobs.Select(p => new PromptLogprob(p.TokenId, p.Logprob, p.Rank, p.Top.Select(t => new TopLogprob(t.TokenId, t.Logprob)).ToArray())).ToArray(),
    };
}

/// <summary>A whole generation, collected from its stream.</summary>
/// <param name="RequestId">The request's id.</param>
/// <param name="Text">All generated text.</param>
/// <param name="TokenIds">All generated tokens.</param>
/// <param name="Logprobs">One entry per token when logprobs were asked for, else empty.</param>
/// <param name="FinishReason">Why it ended.</param>
/// <param name="Usage">Token counts.</param>
public sealed record GenerationResult(string RequestId, string Text, IReadOnlyList<int> TokenIds, IReadOnlyList<TokenLogprob> Logprobs,
    FinishReason FinishReason, TokenUsage Usage)
{
    /// <summary>When prompt logprobs were asked for: one entry per prompt token after the first; else empty.</summary>
    public IReadOnlyList<PromptLogprob> PromptLogprobs { get; init; } = [];
}

/// <summary>A server-side conversation.</summary>
/// <param name="SessionId">The session's id (scoped to the tenant).</param>
/// <param name="Model">The model it talks to.</param>
/// <param name="Messages">Its messages, oldest first.</param>
public sealed record ChatSession(string SessionId, string Model, IReadOnlyList<ChatMessage> Messages);

/// <summary>A model the cluster serves.</summary>
/// <param name="Name">The name requests use.</param>
/// <param name="ContextLength">Maximum prompt + generated tokens.</param>
/// <param name="VocabSize">Vocabulary size (valid token ids are [0, VocabSize)).</param>
public sealed record ModelInfo(string Name, int ContextLength, int VocabSize);
