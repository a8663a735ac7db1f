using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using SeaLion.Contracts.Grains;
using StackExchange.Redis;

namespace SeaLion.Gateway.Auth;

/// <summary>Per-tenant limits; 0 = unlimited.</summary>
public sealed record TenantLimits
{
    [JsonPropertyName("requests_per_minute")] public int RequestsPerMinute { get; init; }
    [JsonPropertyName("tokens_per_minute")] public long TokensPerMinute { get; init; }
    [JsonPropertyName("concurrent_streams")] public int ConcurrentStreams { get; init; }
    public static readonly TenantLimits None = new();
}

/// <summary>
/// One API key as stored: the SHA-256 of the key (never the key itself), the tenant it acts for, its role
/// ("user", or "admin", which may also act for another tenant through the x-sealion-tenant header) and limits.
/// </summary>
public sealed record ApiKeyEntry
{
    [JsonPropertyName("key_sha256")] public required string KeySha256 { get; init; }
    [JsonPropertyName("tenant")] public required string Tenant { get; init; }
    [JsonPropertyName("role")] public string Role { get; init; } = "user";
    [JsonPropertyName("limits")] public TenantLimits Limits { get; init; } = TenantLimits.None;

    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>A fresh key ("sk-sealion-" + 32 random bytes, base64url) and its entry.</summary>
    public static (string Key, ApiKeyEntry Entry) Create(string tenant, string role, TenantLimits limits)
    {
        string key = "sk-sealion-" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        return (key, new ApiKeyEntry { KeySha256 = Hash(key), Tenant = tenant, Role = role, Limits = limits });
    }

    /// <summary>Null when the entry is well formed, else what is wrong with it.</summary>
    public string? Check()
    {
        if (KeySha256.Length != 64 || !KeySha256.All(char.IsAsciiHexDigitLower)) return "key_sha256 must be 64 lowercase hex digits";
        if (ChatLimits.CheckSessionId(Tenant, "tenant") is { } bad) return bad;
        if (Role is not ("user" or "admin")) return $"role must be user or admin, got '{Role}'";
        if (Limits.RequestsPerMinute < 0 || Limits.TokensPerMinute < 0 || Limits.ConcurrentStreams < 0) return "limits must not be negative";
        return null;
    }
}

/// <summary>Who is calling: the tenant their key acts for, their role, their limits.</summary>
public sealed record Principal(string Tenant, string Role, TenantLimits Limits)
{
    public bool IsAdmin => Role == "admin";
}

/// <summary>Where keys are looked up: a JSON file of entries, a Redis hash, or both (file first).</summary>
public interface IApiKeyStore
{
    ValueTask<ApiKeyEntry?> FindAsync(string sha256);
}

public sealed class FileApiKeyStore : IApiKeyStore
{
    readonly Dictionary<string, ApiKeyEntry> _byHash;

    public FileApiKeyStore(IEnumerable<ApiKeyEntry> entries) => _byHash = entries.ToDictionary(e => e.KeySha256);

    public static FileApiKeyStore Load(string path)
    {
        List<ApiKeyEntry>? entries;
        try { entries = JsonSerializer.Deserialize<List<ApiKeyEntry>>(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a JSON array of API key entries: {e.Message}"); }
        entries ??= [];
        for (int i = 0; i < entries.Count; i++)
            if (entries[i].Check() is { } bad) throw new InvalidDataException($"{path}: entry {i}: {bad}");
        return new FileApiKeyStore(entries);
    }

    public ValueTask<ApiKeyEntry?> FindAsync(string sha256) => ValueTask.FromResult(_byHash.GetValueOrDefault(sha256));
}

/// <summary>
/// Keys in the Redis hash "sealion:{cluster}:apikeys" (field = SHA-256, value = the entry's JSON). Each answer, found
/// or not, is cached for <see cref="CacheFor"/> (2 s by default): a key added to or deleted from the hash takes effect
/// on every gateway within that, without a restart, and a flood of bad keys costs one lookup per key per period.
/// </summary>
public sealed class RedisApiKeyStore(string connection, string clusterId, TimeSpan? cacheFor = null) : IApiKeyStore
{
    public TimeSpan CacheFor { get; } = cacheFor ?? TimeSpan.FromSeconds(2);
    const int MaxCached = 10_000;
    /// <summary>How many answers are cached now (bounded by 10,000).</summary>
    public int CachedCount => _cache.Count;
    readonly Lazy<Task<ConnectionMultiplexer>> _redis = new(() => ConnectionMultiplexer.ConnectAsync(connection));
    readonly ConcurrentDictionary<string, (ApiKeyEntry? Entry, DateTime At)> _cache = new();
    public string HashKey => $"sealion:{clusterId}:apikeys";

    public async ValueTask<ApiKeyEntry?> FindAsync(string sha256)
    {
        if (_cache.TryGetValue(sha256, out var c) && DateTime.UtcNow - c.At < CacheFor) return c.Entry;
        var db = (await _redis.Value).GetDatabase();
        var json = await db.HashGetAsync(HashKey, sha256);
        ApiKeyEntry? entry = json.IsNullOrEmpty ? null : JsonSerializer.Deserialize<ApiKeyEntry>(json.ToString());
        if (entry?.Check() is not null) entry = null;
        if (_cache.Count >= MaxCached)
        {
            // Bounded: callers choose what is looked up, so a flood of made-up keys must not grow the cache for ever.
            foreach (var (k, v) in _cache) if (DateTime.UtcNow - v.At >= CacheFor) _cache.TryRemove(k, out _);
            if (_cache.Count >= MaxCached) _cache.Clear();
        }
        _cache[sha256] = (entry, DateTime.UtcNow);
        return entry;
    }

    public async Task AddAsync(ApiKeyEntry entry) => await (await _redis.Value).GetDatabase().HashSetAsync(HashKey, entry.KeySha256, JsonSerializer.Serialize(entry));

    /// <summary>Revokes a key: its entry leaves the hash (every gateway refuses it once its cached answer expires).</summary>
    public async Task<bool> RemoveAsync(string sha256) => await (await _redis.Value).GetDatabase().HashDeleteAsync(HashKey, sha256);
}

public sealed class CompositeApiKeyStore(params IApiKeyStore[] stores) : IApiKeyStore
{
    public async ValueTask<ApiKeyEntry?> FindAsync(string sha256)
    {
        foreach (var s in stores)
            if (await s.FindAsync(sha256) is { } e) return e;
        return null;
    }
}

/// <summary>How the gateway authenticates: by API key from the stores, or (only when told to) not at all.</summary>
public sealed record AuthOptions
{
    public IApiKeyStore? Keys { get; init; }
    /// <summary>Keyless: every caller is tenant "default" (or the x-sealion-tenant header), role admin. Development only.</summary>
    public bool AllowAnonymous { get; init; }
    /// <summary>Limits for anonymous callers.</summary>
    public TenantLimits AnonymousLimits { get; init; } = TenantLimits.None;

    public static readonly AuthOptions Anonymous = new() { AllowAnonymous = true };
}
