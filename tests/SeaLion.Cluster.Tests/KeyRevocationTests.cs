using System.Diagnostics;
using SeaLion.Gateway.Auth;

namespace SeaLion.Cluster.Tests;

/// <summary>
/// API keys kept in Redis: added or revoked there, they take effect on every gateway within seconds, without a
/// restart. Two authenticators on two stores stand for two gateways (each gateway process holds exactly one), against a
/// real redis-server.
/// </summary>
public sealed class KeyRevocationTests : IDisposable
{
    readonly RedisServer _redis = new();

    public void Dispose() => _redis.Dispose();

    static async Task<bool> Accepted(Authenticator a, string key)
    {
        try { await a.AuthenticateAsync("Bearer " + key, null); return true; }
        catch (AuthException) { return false; }
    }

    static async Task<TimeSpan> Until(Func<Task<bool>> condition, TimeSpan limit)
    {
        var sw = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(sw.Elapsed < limit, $"not within {limit.TotalSeconds} s");
            await Task.Delay(100);
        }
        return sw.Elapsed;
    }

    [Fact]
    public async Task A_key_added_or_revoked_in_redis_takes_effect_on_every_gateway_within_seconds()
    {
        string cluster = "keys-" + Guid.NewGuid().ToString("N")[..6];
        var admin = new RedisApiKeyStore(_redis.Connection, cluster);   // what `sealion keys add --redis` writes with
        var gateways = Enumerable.Range(0, 2).Select(_ => new Authenticator(new AuthOptions { Keys = new RedisApiKeyStore(_redis.Connection, cluster) })).ToArray();
        var (key, entry) = ApiKeyEntry.Create("tenant-a", "user", TenantLimits.None);

        // Unknown first: both gateways refuse it, and remember the refusal for a moment.
        foreach (var g in gateways) Assert.False(await Accepted(g, key));
        await admin.AddAsync(entry);
        foreach (var g in gateways)
        {
            var took = await Until(() => Accepted(g, key), TimeSpan.FromSeconds(5));
            Assert.Equal("tenant-a", (await g.AuthenticateAsync("Bearer " + key, null)).Tenant);
            Assert.True(took < TimeSpan.FromSeconds(5));
        }

        Assert.True(await admin.RemoveAsync(entry.KeySha256));
        foreach (var g in gateways) await Until(async () => !await Accepted(g, key), TimeSpan.FromSeconds(5));
        // And it stays refused.
        await Task.Delay(300);
        foreach (var g in gateways) Assert.False(await Accepted(g, key));
    }

    [Fact]
    public async Task A_flood_of_made_up_keys_does_not_grow_the_cache_without_bound()
    {
        var store = new RedisApiKeyStore(_redis.Connection, "flood-" + Guid.NewGuid().ToString("N")[..6]);
        var gate = new Authenticator(new AuthOptions { Keys = store });
        for (int i = 0; i < 12_000; i++) Assert.False(await Accepted(gate, $"sk-made-up-{i}"));
        Assert.True(store.CachedCount <= 10_000, $"{store.CachedCount} cached answers");
    }
}
