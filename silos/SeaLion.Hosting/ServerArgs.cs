namespace SeaLion.Hosting;

/// <summary>The options the serving processes (serve, silo, gateway) read alike, and where SeaLion keeps its files.</summary>
public static class ServerArgs
{
    /// <summary>--host: the IP address to listen on (default loopback).</summary>
    public static string Host(CliArgs a)
    {
        string host = a.String("host") ?? "127.0.0.1";
        if (!System.Net.IPAddress.TryParse(host, out _)) throw new UsageException($"--host must be an IP address, got '{host}'");
        return host;
    }

    /// <summary>
    /// --host (listen) and --advertise-address (what others dial): listening on 0.0.0.0 needs the address to advertise
    /// (in Kubernetes the pod IP); a specific --host must be an address of this machine, and the advertised address
    /// one that is (0.0.0.0 and loopback-to-remote mistakes are refused here, naming the setting).
    /// </summary>
    public static (string Host, string? Advertise) HostAndAdvertise(CliArgs a)
    {
        string host = Host(a);
        string? advertise = a.String("advertise-address");
        if (advertise is not null && !System.Net.IPAddress.TryParse(advertise, out _))
            throw new UsageException($"--advertise-address must be an IP address, got '{advertise}'");
        var local = System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
            .SelectMany(n => n.GetIPProperties().UnicastAddresses).Select(u => u.Address).ToList();
        bool IsLocal(string ip) => local.Any(l => l.Equals(System.Net.IPAddress.Parse(ip)));
        if (host == "0.0.0.0")
        {
            if (advertise is null) throw new UsageException("--host 0.0.0.0 listens on every interface: give --advertise-address (the address other silos and gateways reach this one at, e.g. the pod IP)");
            if (advertise == "0.0.0.0") throw new UsageException("--advertise-address 0.0.0.0 cannot be dialled: give this host's address (e.g. the pod IP)");
            if (!IsLocal(advertise)) throw new UsageException($"--advertise-address {advertise} is not an address of this host ({string.Join(", ", local)}): others could not reach this silo there");
        }
        else
        {
            if (!IsLocal(host)) throw new UsageException($"--host {host} is not an address of this host ({string.Join(", ", local)}): it cannot be bound");
            if (advertise is not null && advertise != host)
                throw new UsageException($"--advertise-address {advertise} differs from --host {host}: a silo listening on one address is reached there; use --host 0.0.0.0 to listen everywhere and advertise another");
        }
        return (host, advertise);
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
