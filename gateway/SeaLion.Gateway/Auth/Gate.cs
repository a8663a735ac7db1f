using System.Collections.Concurrent;
using System.Diagnostics;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.AspNetCore.Http;
using SeaLion.Contracts.Grains;

namespace SeaLion.Gateway.Auth;

/// <summary>A caller that is not let in: 401 / UNAUTHENTICATED or 403 / PERMISSION_DENIED.</summary>
public sealed class AuthException(bool forbidden, string message) : Exception(message)
{
    public bool Forbidden { get; } = forbidden;
}

/// <summary>A tenant over one of its limits: 429 / RESOURCE_EXHAUSTED, with when to try again.</summary>
public sealed class RateLimitedException(TimeSpan retryAfter, string message) : Exception(message)
{
    public TimeSpan RetryAfter { get; } = retryAfter;
    public int RetryAfterSeconds => Math.Max(1, (int)Math.Ceiling(RetryAfter.TotalSeconds));
}

/// <summary>Turns an Authorization header (and the x-sealion-tenant header) into a principal.</summary>
public sealed class Authenticator(AuthOptions options, Microsoft.Extensions.Logging.ILogger<Authenticator>? log = null)
{
    public const string TenantHeader = "x-sealion-tenant";
    public bool Anonymous => options.AllowAnonymous;

    public async ValueTask<Principal> AuthenticateAsync(string? authorization, string? tenantHeader)
    {
        if (tenantHeader is not null && ChatLimits.CheckSessionId(tenantHeader, "tenant") is { } badTenant)
            throw new AuthException(true, $"header {TenantHeader}: {badTenant}");
        if (authorization is null or "")
        {
            if (options.AllowAnonymous) return new Principal(tenantHeader ?? "default", "admin", options.AnonymousLimits);
            throw new AuthException(false, "no API key: send the header 'Authorization: Bearer <key>'");
        }
        if (!authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || authorization.Length <= 7)
            throw new AuthException(false, "the Authorization header must be 'Bearer <key>'");
        string key = authorization[7..].Trim();
        var entry = options.Keys is null ? null : await options.Keys.FindAsync(ApiKeyEntry.Hash(key));
        if (entry is null)
        {
            if (options.AllowAnonymous && options.Keys is null) return new Principal(tenantHeader ?? "default", "admin", options.AnonymousLimits);
            throw new AuthException(false, "the API key is not valid");
        }
        if (tenantHeader is not null && tenantHeader != entry.Tenant)
        {
            if (entry.Role != "admin") throw new AuthException(true, $"this key acts for tenant '{entry.Tenant}'; only an admin key may act for '{tenantHeader}'");
            // Audited: an admin acting for another tenant is the one way across tenants.
            if (log is not null) Microsoft.Extensions.Logging.LoggerExtensions.LogInformation(log,
                "audit: an admin key of tenant '{Tenant}' (key {KeyPrefix}...) acts for tenant '{ActsFor}'", entry.Tenant, entry.KeySha256[..12], tenantHeader);
            return new Principal(tenantHeader, entry.Role, entry.Limits);
        }
        return new Principal(entry.Tenant, entry.Role, entry.Limits);
    }
}

/// <summary>
/// Per-tenant limits over sliding one-minute windows: requests per minute (every call), tokens per minute (prompt
/// plus generated tokens of finished streams; a stream is refused while the last minute's tokens are at the limit)
/// and concurrent streams. Per gateway process: with several replicas each enforces the limits on its own share.
/// </summary>
public sealed class TenantGate
{
    internal sealed class Window
    {
        public readonly Queue<long> Requests = new();
        public readonly Queue<(long At, long Tokens)> Tokens = new();
        public long TokenSum;
        public int Streams;
    }

    readonly ConcurrentDictionary<string, Window> _tenants = new();
    static readonly long Minute = Stopwatch.Frequency * 60;

    static TimeSpan Until(long at) => TimeSpan.FromSeconds(Math.Max(0, (double)(at + Minute - Stopwatch.GetTimestamp()) / Stopwatch.Frequency));

    public void AdmitRequest(Principal p)
    {
        if (p.Limits.RequestsPerMinute == 0) return;
        var w = _tenants.GetOrAdd(p.Tenant, _ => new Window());
        lock (w)
        {
            long now = Stopwatch.GetTimestamp();
            while (w.Requests.Count > 0 && now - w.Requests.Peek() >= Minute) w.Requests.Dequeue();
            if (w.Requests.Count >= p.Limits.RequestsPerMinute)
                throw new RateLimitedException(Until(w.Requests.Peek()), $"tenant '{p.Tenant}' is at its limit of {p.Limits.RequestsPerMinute} requests per minute");
            w.Requests.Enqueue(now);
        }
    }

    /// <summary>Admits a stream (concurrency and tokens per minute); dispose the lease when the stream ends.</summary>
    public StreamLease AdmitStream(Principal p)
    {
        var w = _tenants.GetOrAdd(p.Tenant, _ => new Window());
        lock (w)
        {
            long now = Stopwatch.GetTimestamp();
            while (w.Tokens.Count > 0 && now - w.Tokens.Peek().At >= Minute) w.TokenSum -= w.Tokens.Dequeue().Tokens;
            if (p.Limits.TokensPerMinute > 0 && w.TokenSum >= p.Limits.TokensPerMinute)
                throw new RateLimitedException(Until(w.Tokens.Peek().At), $"tenant '{p.Tenant}' is at its limit of {p.Limits.TokensPerMinute} tokens per minute");
            if (p.Limits.ConcurrentStreams > 0 && w.Streams >= p.Limits.ConcurrentStreams)
                throw new RateLimitedException(TimeSpan.FromSeconds(1), $"tenant '{p.Tenant}' has {w.Streams} streams open; its limit is {p.Limits.ConcurrentStreams}");
            w.Streams++;
        }
        return new StreamLease(this, w);
    }

    public sealed class StreamLease : IDisposable
    {
        readonly TenantGate _gate;
        readonly Window _w;
        int _done;
        internal StreamLease(TenantGate gate, Window w) { _gate = gate; _w = w; }

        /// <summary>Counts a finished choice's prompt and generated tokens against the tenant's minute.</summary>
        public void Count(GenerateChunk c)
        {
            if (c.FinishReason is null) return;
            lock (_w)
            {
                long n = c.PromptTokens + c.GeneratedTokens;
                _w.Tokens.Enqueue((Stopwatch.GetTimestamp(), n));
                _w.TokenSum += n;
            }
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0) lock (_w) _w.Streams--;
        }
    }
}

/// <summary>
/// Authenticates every sealion.v1 call and applies the tenant's limits: UNAUTHENTICATED, PERMISSION_DENIED or
/// RESOURCE_EXHAUSTED (with a retry-after trailer in seconds). Health and reflection are not behind it.
/// </summary>
public sealed class AuthInterceptor(Authenticator auth, TenantGate gate) : Interceptor
{
    public const string PrincipalKey = "sealion.principal";
    public const string LeaseKey = "sealion.lease";

    async Task<Principal> Enter(ServerCallContext context)
    {
        try
        {
            var p = await auth.AuthenticateAsync(context.RequestHeaders.GetValue("authorization"), context.RequestHeaders.GetValue(Authenticator.TenantHeader));
            gate.AdmitRequest(p);
            context.UserState[PrincipalKey] = p;
            return p;
        }
        catch (AuthException e) { throw new RpcException(new Status(e.Forbidden ? StatusCode.PermissionDenied : StatusCode.Unauthenticated, e.Message)); }
        catch (RateLimitedException e) { throw Limited(e); }
    }

    static RpcException Limited(RateLimitedException e) =>
        new(new Status(StatusCode.ResourceExhausted, e.Message), new Metadata { { "retry-after", e.RetryAfterSeconds.ToString() } });

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        await Enter(context);
        return await continuation(request, context);
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        var p = await Enter(context);
        TenantGate.StreamLease lease;
        try { lease = gate.AdmitStream(p); }
        catch (RateLimitedException e) { throw Limited(e); }
        using (lease)
        {
            context.UserState[LeaseKey] = lease;
            await continuation(request, responseStream, context);
        }
    }

    public static Principal PrincipalOf(ServerCallContext context) => (Principal)context.UserState[PrincipalKey];
    public static TenantGate.StreamLease? LeaseOf(ServerCallContext context) => context.UserState.TryGetValue(LeaseKey, out var l) ? (TenantGate.StreamLease)l : null;
}
