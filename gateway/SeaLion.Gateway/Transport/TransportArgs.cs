using SeaLion.Hosting;

namespace SeaLion.Gateway.Transport;

/// <summary>The listening options `serve`, `gateway` and `sealion-gateway` share: TLS from PEM files, and the connection limits.</summary>
public static class TransportArgs
{
    /// <summary>
    /// --tls-cert and --tls-key (both or neither), checked now by loading them, so that a missing, unreadable or
    /// mismatched file stops the start naming the flag and the path; null without them (cleartext).
    /// </summary>
    public static TlsFiles? ReadTls(CliArgs a)
    {
        string? cert = a.String("tls-cert"), key = a.String("tls-key");
        if (cert is null && key is null) return null;
        if (key is null) throw new UsageException($"--tls-cert {cert} needs --tls-key: give the certificate's private key file too (both PEM files, or neither for cleartext)");
        if (cert is null) throw new UsageException($"--tls-key {key} needs --tls-cert: give the certificate file too (both PEM files, or neither for cleartext)");
        var files = new TlsFiles(Path.GetFullPath(cert), Path.GetFullPath(key));
        try { ServerCertificate.Load(files); }
        catch (FileNotFoundException e) { throw new UsageException(e.Message); }
        return files;
    }

    public static ConnectionLimits ReadLimits(CliArgs a)
    {
        var d = ConnectionLimits.Default;
        return new ConnectionLimits
        {
            MaxConnections = a.Int("max-connections", d.MaxConnections, 1, 1_000_000),
            RequestHeadersTimeout = TimeSpan.FromSeconds(a.Int("request-headers-timeout-s", (int)d.RequestHeadersTimeout.TotalSeconds, 2, 300)),
            KeepAliveTimeout = TimeSpan.FromSeconds(a.Int("keep-alive-timeout-s", (int)d.KeepAliveTimeout.TotalSeconds, 2, 3600)),
            MaxRequestHeadersBytes = a.Int("max-request-headers-kb", d.MaxRequestHeadersBytes / 1024, 1, 1024) * 1024,
            MinRequestBodyBytesPerSecond = a.Int("min-request-body-bytes-per-s", d.MinRequestBodyBytesPerSecond, 0, 1 << 30),
        };
    }
}
