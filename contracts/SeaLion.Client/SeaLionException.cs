using Grpc.Core;

namespace SeaLion.Client;

/// <summary>The status of a failed call: the gRPC status codes, with the same numbers.</summary>
public enum SeaLionStatusCode
{
    /// <summary>Not an error.</summary>
    OK = 0,
    /// <summary>The call was cancelled.</summary>
    Cancelled = 1,
    /// <summary>An unknown error.</summary>
    Unknown = 2,
    /// <summary>Bad input; the message names the field, the limit and the value.</summary>
    InvalidArgument = 3,
    /// <summary>The call's deadline passed.</summary>
    DeadlineExceeded = 4,
    /// <summary>An unknown model or session.</summary>
    NotFound = 5,
    /// <summary>Already exists.</summary>
    AlreadyExists = 6,
    /// <summary>The caller may not do this.</summary>
    PermissionDenied = 7,
    /// <summary>Out of some resource (a quota, or the server's capacity).</summary>
    ResourceExhausted = 8,
    /// <summary>The system is not in the state the call needs.</summary>
    FailedPrecondition = 9,
    /// <summary>A conflict, e.g. a chat turn sent while the session's previous turn still runs.</summary>
    Aborted = 10,
    /// <summary>Out of range.</summary>
    OutOfRange = 11,
    /// <summary>Not implemented by this server.</summary>
    Unimplemented = 12,
    /// <summary>An internal error (on the server, or a broken transport).</summary>
    Internal = 13,
    /// <summary>The cluster cannot serve now (no engine serves, or it cannot be reached); retried before the first token.</summary>
    Unavailable = 14,
    /// <summary>Data was lost.</summary>
    DataLoss = 15,
    /// <summary>The caller is not authenticated (missing or bad API key).</summary>
    Unauthenticated = 16,
}

/// <summary>
/// A call to the cluster failed. <see cref="StatusCode"/> says how (the gRPC status), <see cref="Detail"/> the server's
/// message (for <see cref="SeaLionStatusCode.InvalidArgument"/> it names the field). The underlying gRPC exception is
/// the <see cref="Exception.InnerException"/>.
/// </summary>
public sealed class SeaLionException : Exception
{
    /// <summary>How the call failed.</summary>
    public SeaLionStatusCode StatusCode { get; }

    /// <summary>The server's (or the transport's) description of the failure.</summary>
    public string Detail { get; }

    /// <summary>
    /// True when a streamed generation failed after at least one chunk had reached the caller. Such failures are not
    /// retried: the server cannot resume a generation, so the caller decides whether to start again.
    /// </summary>
    public bool AfterFirstToken { get; }

    /// <summary>How many times the call was started (1 + the retries it took).</summary>
    public int Attempts { get; }

    /// <summary>When the server says to try again: the <c>retry-after</c> trailer (seconds) that comes with
    /// <see cref="SeaLionStatusCode.ResourceExhausted"/> when a tenant is over a rate limit; null when absent.
    /// The client does not retry such failures itself.</summary>
    public TimeSpan? RetryAfter { get; init; }

    /// <summary>A failure with the given status and message.</summary>
    public SeaLionException(SeaLionStatusCode statusCode, string detail, bool afterFirstToken = false, int attempts = 1, Exception? innerException = null)
        : base(Describe(statusCode, detail, afterFirstToken, attempts), innerException)
    {
        StatusCode = statusCode;
        Detail = detail;
        AfterFirstToken = afterFirstToken;
        Attempts = attempts;
    }

    static string Describe(SeaLionStatusCode code, string detail, bool afterFirstToken, int attempts)
    {
        string s = $"{code}: {detail}";
        if (afterFirstToken) s += " (the stream failed after its first token and was not resumed)";
        if (attempts > 1) s += $" (after {attempts} attempts)";
        return s;
    }

    internal static SeaLionException From(RpcException e, bool afterFirstToken, int attempts) =>
        new((SeaLionStatusCode)(int)e.StatusCode, e.Status.Detail, afterFirstToken, attempts, e) { RetryAfter = RetryAfterOf(e) };

    static TimeSpan? RetryAfterOf(RpcException e) =>
        e.Trailers?.GetValue("retry-after") is { } v && double.TryParse(v, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double s) && s >= 0
            ? TimeSpan.FromSeconds(s) : null;
}
