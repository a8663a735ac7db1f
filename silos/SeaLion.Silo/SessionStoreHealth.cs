using StackExchange.Redis;

namespace SeaLion.Silo;

/// <summary>
/// Whether the session store can take a turn now. A turn started while the store is down could not be stored at
/// its end, so it is refused at once (UNAVAILABLE / 503 with retry-after) instead of generating a reply the
/// conversation would lose. In memory (all-in-one) the store is always there; a Redis store is watched through a
/// connection of its own, which StackExchange.Redis reconnects as soon as the server answers again.
/// </summary>
public sealed class SessionStoreHealth : IDisposable
{
    public static SessionStoreHealth InMemory => new(null);

    readonly string? _connection;
    readonly Lazy<ConnectionMultiplexer>? _redis;

    public SessionStoreHealth(string? redisConnection)
    {
        _connection = redisConnection;
        if (redisConnection is null) return;
        var options = ConfigurationOptions.Parse(redisConnection);
        options.AbortOnConnectFail = false;   // start (and keep) reconnecting whatever the server's state
        options.ConnectTimeout = 2000;
        _redis = new Lazy<ConnectionMultiplexer>(() => ConnectionMultiplexer.Connect(options));
    }

    /// <summary>False while the store's server does not answer.</summary>
    public bool Available => _redis is null || _redis.Value.IsConnected;

    public string Describe => _connection is null ? "memory" : $"Redis {_connection}";

    public void Dispose()
    {
        if (_redis is { IsValueCreated: true }) _redis.Value.Dispose();
    }
}
