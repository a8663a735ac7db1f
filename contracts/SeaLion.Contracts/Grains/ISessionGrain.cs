namespace SeaLion.Contracts.Grains;

[GenerateSerializer, Immutable]
public sealed record ChatMessageSpec([property: Id(0)] string Role, [property: Id(1)] string Content);

/// <summary>
/// One turn of a conversation: the messages to append (usually one user message) and how to sample the reply;
/// Sampling.MaxTokens 0 means the rest of the context after the rendered history.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ChatTurnRequest([property: Id(0)] string RequestId, [property: Id(1)] ChatMessageSpec[] Messages, [property: Id(2)] SamplingSpec Sampling,
    [property: Id(3)] int[]? ResumeOutput = null, [property: Id(4)] string? ResumeText = null);

/// <summary>A session as stored: its history, the engine that holds its KV blocks, and how many turns it has had.</summary>
[GenerateSerializer, Immutable]
public sealed record SessionSnapshot(
    [property: Id(0)] string SessionId, [property: Id(1)] string Model, [property: Id(2)] ChatMessageSpec[] Messages,
    [property: Id(3)] string? EngineId, [property: Id(4)] int Turns);

/// <summary>
/// One conversation, keyed "tenant/session". Durable history in grain storage; placed by the session placement
/// director on the silo with the most free capacity, and streams each reply from the engine on its own silo so the
/// next turn finds its prefix in that engine's cache. A turn that fails or is cancelled leaves the history as it was.
/// </summary>
public interface ISessionGrain : IGrainWithStringKey
{
    IAsyncEnumerable<GenerateChunk> Chat(ChatTurnRequest request);

    /// <summary>The stored session, or null when it does not exist.</summary>
    Task<SessionSnapshot?> Get();

    /// <summary>Forgets the session; false when there was none.</summary>
    Task<bool> Delete();
}

/// <summary>Limits on what a chat turn may carry; the gateway and the session grain both enforce them.</summary>
public static class ChatLimits
{
    public const int MaxMessagesPerTurn = 64;
    public const int MaxMessageChars = 1 << 20;
    public const int MaxSessionIdChars = 128;
    public static readonly string[] Roles = ["system", "user", "assistant"];

    /// <summary>
    /// Null when the messages are acceptable, else what is wrong (naming the field, the limit, the value). A turn takes
    /// at most <see cref="MaxMessagesPerTurn"/>; a whole stateless conversation passes its own limit.
    /// </summary>
    public static string? Check(IReadOnlyList<ChatMessageSpec> messages, int maxMessages = MaxMessagesPerTurn)
    {
        if (messages.Count == 0) return "messages is empty: a turn appends at least one message";
        if (messages.Count > maxMessages) return $"messages has {messages.Count} entries; the limit is {maxMessages}";
        for (int i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            if (!Roles.Contains(m.Role)) return $"messages[{i}].role is '{Trim(m.Role)}'; it must be one of {string.Join(", ", Roles)}";
            if (m.Content.Length > MaxMessageChars) return $"messages[{i}].content has {m.Content.Length} characters; the limit is {MaxMessageChars}";
        }
        return null;
    }

    /// <summary>Null when an id (a session's, a tenant's) is acceptable: 1-128 characters of letters, digits and . _ : -</summary>
    public static string? CheckSessionId(string id, string field = "session_id")
    {
        if (id.Length == 0) return $"{field} is empty";
        if (id.Length > MaxSessionIdChars) return $"{field} has {id.Length} characters; the limit is {MaxSessionIdChars}";
        foreach (char c in id)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or ':' or '-'))
                return $"{field} '{Trim(id)}' holds '{c}'; allowed are ASCII letters, digits and . _ : -";
        return null;
    }

    static string Trim(string s) => s.Length <= 40 ? s : s[..40] + "...";
}

/// <summary>A session already has a turn running; the caller may retry when it ends.</summary>
[GenerateSerializer]
public sealed class SessionBusyException : Exception
{
    public SessionBusyException() { }
    public SessionBusyException(string message) : base(message) { }
}

/// <summary>The session store (Redis) could not read or write a session: nothing changed; retry after a moment.</summary>
[GenerateSerializer]
public sealed class SessionStoreUnavailableException : Exception
{
    public SessionStoreUnavailableException() { }
    public SessionStoreUnavailableException(string message) : base(message) { }
}
