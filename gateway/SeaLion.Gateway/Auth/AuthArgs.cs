using System.Text.Json;
using SeaLion.Hosting;

namespace SeaLion.Gateway.Auth;

/// <summary>
/// How a serving verb authenticates: --api-keys FILE (a JSON array of hashed entries, see `sealion apikey`), keys in
/// the cluster's Redis (gateway with --redis), or --no-auth (keyless, said loudly at start-up). `serve` without
/// either makes a development key once under $SEALION_HOME and says where it is.
/// </summary>
public static class AuthArgs
{
    public static (AuthOptions Options, string Describe) Read(CliArgs a, RedisClusterOptions? redis, bool devKeyByDefault)
    {
        bool noAuth = a.Flag("no-auth");
        string? file = a.String("api-keys");
        if (noAuth && file is not null) throw new UsageException("give --api-keys FILE or --no-auth, not both");
        if (noAuth) return (AuthOptions.Anonymous, "WARNING: authentication is OFF (--no-auth): every caller acts as tenant 'default' (or its x-sealion-tenant header) with admin rights");
        var stores = new List<IApiKeyStore>();
        string describe;
        if (file is not null)
        {
            if (!File.Exists(file)) throw new UsageException($"--api-keys: no such file '{file}'");
            stores.Add(FileApiKeyStore.Load(file));
            describe = $"API keys from {file}";
        }
        else if (devKeyByDefault && redis is null)
        {
            var (path, keyPath) = DevKey();
            stores.Add(FileApiKeyStore.Load(path));
            describe = $"API keys from {path}; the development key (tenant 'default', admin) is in {keyPath}: send 'Authorization: Bearer <key>' (or run with --no-auth)";
        }
        else describe = "API keys";
        if (redis is not null)
        {
            var r = new RedisApiKeyStore(redis.Connection, redis.ClusterId);
            stores.Add(r);
            describe += (file is null ? " from" : " and") + $" Redis hash {r.HashKey}";
        }
        return (new AuthOptions { Keys = new CompositeApiKeyStore(stores.ToArray()) }, describe);
    }

    /// <summary>The development key under $SEALION_HOME: made once (0600), its hash in api-keys.json beside it.</summary>
    static (string EntriesPath, string KeyPath) DevKey()
    {
        string dir = CliArgs.Home;
        Directory.CreateDirectory(dir);
        string keyPath = Path.Combine(dir, "dev-api-key"), entries = Path.Combine(dir, "api-keys.json");
        if (!File.Exists(keyPath) || !File.Exists(entries))
        {
            var (key, entry) = ApiKeyEntry.Create("default", "admin", TenantLimits.None);
            File.WriteAllText(keyPath, key);
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.WriteAllText(entries, JsonSerializer.Serialize(new[] { entry }));
        }
        return (entries, keyPath);
    }

    /// <summary>`apikey`: makes a key, prints it once, and stores only its hash (in --out FILE and/or the cluster's Redis).</summary>
    public static int Create(CliArgs a)
    {
        if (a.String("revoke") is { } revoke) return Revoke(a, revoke);
        string tenant = a.String("tenant") ?? "default";
        string role = a.String("role") ?? "user";
        var limits = new TenantLimits
        {
            RequestsPerMinute = a.Int("rpm", 0, 0, int.MaxValue), TokensPerMinute = a.Long("tpm") ?? 0, ConcurrentStreams = a.Int("streams", 0, 0, int.MaxValue),
        };
        string? outFile = a.String("out"), redis = a.String("redis"), cluster = a.String("cluster-id");
        a.EnsureAllUsed();
        if (outFile is null && redis is null) throw new UsageException("'apikey': give --out FILE and/or --redis HOST:PORT: where the key's hash is stored");
        var (key, entry) = ApiKeyEntry.Create(tenant, role, limits);
        if (entry.Check() is { } bad) throw new ArgumentException(bad);
        if (outFile is not null)
        {
            var list = File.Exists(outFile) ? JsonSerializer.Deserialize<List<ApiKeyEntry>>(File.ReadAllText(outFile)) ?? [] : [];
            list.Add(entry);
            File.WriteAllText(outFile, JsonSerializer.Serialize(list, new JsonSerializerOptions { WriteIndented = true }));
        }
        if (redis is not null) new RedisApiKeyStore(redis, cluster ?? "sealion").AddAsync(entry).GetAwaiter().GetResult();
        Console.Out.WriteLine(key);
        Console.Error.WriteLine($"sealion: key for tenant '{tenant}' ({role}) stored as a SHA-256 hash{(outFile is null ? "" : " in " + outFile)}{(redis is null ? "" : $" in Redis {redis}")}; it is shown only now");
        return 0;
    }

    /// <summary>`apikey --revoke KEY|SHA256`: removes the key's entry from --out FILE and/or the cluster's Redis (gateways refuse it within seconds).</summary>
    static int Revoke(CliArgs a, string revoke)
    {
        string? outFile = a.String("out"), redis = a.String("redis"), cluster = a.String("cluster-id");
        a.EnsureAllUsed();
        if (outFile is null && redis is null) throw new UsageException("'apikey --revoke': give --out FILE and/or --redis HOST:PORT: where the key's hash is stored");
        string hash = revoke.Length == 64 && revoke.All(Uri.IsHexDigit) ? revoke.ToLowerInvariant() : ApiKeyEntry.Hash(revoke);
        bool removed = false;
        if (outFile is not null && File.Exists(outFile))
        {
            var list = JsonSerializer.Deserialize<List<ApiKeyEntry>>(File.ReadAllText(outFile)) ?? [];
            removed |= list.RemoveAll(e => e.KeySha256 == hash) > 0;
            File.WriteAllText(outFile, JsonSerializer.Serialize(list, new JsonSerializerOptions { WriteIndented = true }));
        }
        if (redis is not null) removed |= new RedisApiKeyStore(redis, cluster ?? "sealion").RemoveAsync(hash).GetAwaiter().GetResult();
        if (!removed) throw new ArgumentException($"--revoke: no key with SHA-256 {hash} in {(outFile ?? "")}{(outFile is not null && redis is not null ? " or " : "")}{(redis is null ? "" : "Redis " + redis)}");
        Console.Error.WriteLine($"sealion: key {hash[..12]}... revoked; gateways reading Redis refuse it within seconds (a key file is read at gateway start)");
        return 0;
    }
}
