using Microsoft.Extensions.Hosting;
using StackExchange.Redis;

namespace SeaLion.Silo;

/// <summary>
/// Whether the session store can take a turn now. A turn started while the store is down could not be stored at
/// its end, so it is refused (UNAVAILABLE / 503 with retry-after) instead of generating a reply the conversation
/// would lose. In memory (all-in-one) the store is always there; a Redis store is watched through a connection of
/// its own, opened when the silo starts (not on the first turn) and reconnected by StackExchange.Redis as soon as
/// the server answers again. A connection that is down is given a short grace before a turn is refused, so a
/// reconnect in progress (or a first connect slowed by a loaded host) is not mistaken for an outage.
/// </summary>
public sealed class SessionStoreHealth : IDisposable
{
    public static SessionStoreHealth InMemory => new(null);

    /// <summary>How long a turn waits for a down connection to come back before it is refused.</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(3);

    readonly string? _connection;
    readonly Lazy<Task<ConnectionMultiplexer>>? _redis;

    public SessionStoreHealth(string? redisConnection)
    {
        _connection = redisConnection;
        if (redisConnection is null) return;
        var options = ConfigurationOptions.Parse(redisConnection);
        options.AbortOnConnectFail = false;   // start (and keep) reconnecting whatever the server's state
        options.ConnectTimeout = 2000;
        _redis = new Lazy<Task<ConnectionMultiplexer>>(() => ConnectionMultiplexer.ConnectAsync(options));
    }

    /// <summary>Opens the watching connection (the silo does this as it starts).</summary>
    public Task StartAsync() => _redis is null ? Task.CompletedTask : _redis.Value;

    /// <summary>True when the store's server answers, waiting up to <see cref="Grace"/> for a down connection to return.</summary>
    public async ValueTask<bool> AvailableAsync(CancellationToken cancellation = default)
    {
        if (_redis is null) return true;
        var redis = await _redis.Value;
        var deadline = DateTime.UtcNow + Grace;
        while (!redis.IsConnected)
        {
            if (DateTime.UtcNow >= deadline) return false;
            await Task.Delay(50, cancellation);
        }
        return true;
    }

    public string Describe => _connection is null ? "memory" : $"Redis {_connection}";

    public void Dispose()
    {
        if (_redis is { IsValueCreated: true } && _redis.Value.IsCompletedSuccessfully) _redis.Value.Result.Dispose();
    }
}

/// <summary>Opens the session store's watching connection when the silo starts.</summary>
sealed class SessionStoreWatch(SessionStoreHealth store) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => store.StartAsync();
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
