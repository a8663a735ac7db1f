using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace SeaLion.Gateway.Transport;

/// <summary>
/// What a client may hold or take of the gateway's Kestrel, against slow and greedy clients (slow-loris headers, a
/// body trickled in, idle sockets, floods of connections). Defaults suit a gateway of long token streams: a stream
/// that is generating is never cut by them (the rates bound what a client sends, not how long a response runs;
/// gRPC's client-streaming calls are exempt from the body rate).
/// </summary>
public sealed record ConnectionLimits
{
    /// <summary>Open connections on each port (gRPC and REST count apart); past it a new connection is closed at once.</summary>
    public int MaxConnections { get; init; } = 10_000;

    /// <summary>
    /// Time a client has, from opening a connection (and from each new request on it), for the TLS handshake and then
    /// for the complete request headers; past it Kestrel answers 408 and closes the connection.
    /// </summary>
    public TimeSpan RequestHeadersTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a connection may sit idle between requests (HTTP/2: with no open stream) before it is closed.</summary>
    public TimeSpan KeepAliveTimeout { get; init; } = TimeSpan.FromSeconds(130);

    /// <summary>All request headers of one request together (request line excluded), bytes; larger is answered 431.</summary>
    public int MaxRequestHeadersBytes { get; init; } = 32 * 1024;

    /// <summary>
    /// The slowest a request body may arrive, bytes per second averaged since its first byte, once past
    /// <see cref="MinRequestBodyGrace"/>; slower is answered 408 and the connection closed. 0 turns the check off.
    /// </summary>
    public int MinRequestBodyBytesPerSecond { get; init; } = 240;

    public TimeSpan MinRequestBodyGrace { get; init; } = TimeSpan.FromSeconds(5);

    public static readonly ConnectionLimits Default = new();

    public void ApplyTo(KestrelServerLimits k)
    {
        k.MaxConcurrentConnections = MaxConnections;
        k.MaxConcurrentUpgradedConnections = MaxConnections;
        k.RequestHeadersTimeout = RequestHeadersTimeout;
        k.KeepAliveTimeout = KeepAliveTimeout;
        k.MaxRequestHeadersTotalSize = MaxRequestHeadersBytes;
        k.MinRequestBodyDataRate = MinRequestBodyBytesPerSecond == 0 ? null : new MinDataRate(MinRequestBodyBytesPerSecond, MinRequestBodyGrace);
    }
}
