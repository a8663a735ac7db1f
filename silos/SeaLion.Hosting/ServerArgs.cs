namespace SeaLion.Hosting;

/// <summary>The options the serving processes (serve, silo, gateway) read alike, and where SeaLion keeps its files.</summary>
public static class ServerArgs
{
    /// <summary>$SEALION_HOME, else ~/.cache/sealion: the embedded default model and the development API key.</summary>
    public static string Home =>
        Environment.GetEnvironmentVariable("SEALION_HOME") is { Length: > 0 } home ? home
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "sealion");

    /// <summary>--host: the IP address to listen on (default loopback).</summary>
    public static string Host(CliArgs a)
    {
        string host = a.String("host") ?? "127.0.0.1";
        if (!System.Net.IPAddress.TryParse(host, out _)) throw new UsageException($"--host must be an IP address, got '{host}'");
        return host;
    }

    /// <summary>--redis HOST:PORT (required), --cluster-id, --service-id.</summary>
    public static RedisClusterOptions Redis(CliArgs a) =>
        new(a.Required("redis"), a.String("cluster-id") ?? "sealion", a.String("service-id") ?? "sealion");

    /// <summary>Refuses two options naming the same port.</summary>
    public static void Distinct(params (string Name, int Port)[] ports)
    {
        foreach (var g in ports.GroupBy(p => p.Port).Where(g => g.Count() > 1))
            throw new UsageException($"{string.Join(" and ", g.Select(p => "--" + p.Name))} must differ, all are {g.Key}");
    }
}
