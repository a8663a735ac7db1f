using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Connections.Security;
using Orleans.Hosting;

namespace SeaLion.Hosting;

/// <summary>
/// --cluster-tls-cert, --cluster-tls-key and --cluster-tls-ca: this process's certificate and key for Orleans' own
/// connections (silo to silo, gateway to silo), and the CA bundle every peer's certificate must chain to.
/// </summary>
public sealed record ClusterTlsFiles(string CertPath, string KeyPath, string CaPath);

/// <summary>What a process does on the cluster's connections: a silo accepts and dials them, a gateway only dials.</summary>
public enum ClusterRole { Silo, Gateway }

/// <summary>
/// Mutual TLS on Orleans' connections, through Orleans' TLS middleware (Microsoft.Orleans.Connections.Security):
/// every connection a silo accepts (silo port and client gateway port) and every one a silo or a gateway opens is
/// TLS; both sides present their certificate and each accepts the other's only when it chains to a certificate of
/// the CA bundle (custom root trust: the system's roots are not consulted). Host names and addresses in the
/// certificates are not checked: silos are dialled at the addresses they advertise (pod IPs that change), so a
/// cluster member is whoever holds a key whose certificate the cluster's CA issued.
/// </summary>
public sealed partial class ClusterTls
{
    const string CertFlag = "--cluster-tls-cert", KeyFlag = "--cluster-tls-key", CaFlag = "--cluster-tls-ca";

    readonly X509Certificate2Collection _roots = new(), _intermediates = new();
    ILogger? _log;

    ClusterTls(ClusterTlsFiles files, X509Certificate2 certificate) => (Files, Certificate) = (files, certificate);

    public ClusterTlsFiles Files { get; }
    /// <summary>This process's certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }
    /// <summary>How many peer certificates this process has refused (for tests and logs).</summary>
    public int Refused => _refused;
    int _refused;

    /// <summary>
    /// Loads the three files or throws: <see cref="FileNotFoundException"/> for a missing one, <see cref="InvalidDataException"/>
    /// for the rest (unreadable, not PEM, a key that does not match, expired, an extended key usage the role needs
    /// missing, or a certificate the CA bundle did not issue). Every message names the flag and the file.
    /// </summary>
    public static ClusterTls Load(ClusterTlsFiles files, ClusterRole role)
    {
        foreach (var (flag, path) in new[] { (CertFlag, files.CertPath), (KeyFlag, files.KeyPath), (CaFlag, files.CaPath) })
            if (!File.Exists(path)) throw new FileNotFoundException($"{flag}: no such file '{path}'", path);
        // A silo accepts connections (server) and dials other silos (client); a gateway only dials.
        var usages = role == ClusterRole.Silo ? new[] { PemCertificate.ServerAuth, PemCertificate.ClientAuth } : [PemCertificate.ClientAuth];
        var (leaf, ownChain) = PemCertificate.Load((CertFlag, files.CertPath, PemCertificate.ReadFile(CertFlag, files.CertPath)),
            (KeyFlag, files.KeyPath, PemCertificate.ReadFile(KeyFlag, files.KeyPath)), usages);
        var tls = new ClusterTls(files, leaf);
        // Self-signed certificates of the bundle are the trust anchors; the others (and the intermediates after this
        // process's own certificate) help build a peer's chain when the peer does not send them.
        foreach (var c in PemCertificate.ReadCertificates(CaFlag, files.CaPath, PemCertificate.ReadFile(CaFlag, files.CaPath)))
            (c.SubjectName.RawData.AsSpan().SequenceEqual(c.IssuerName.RawData) ? tls._roots : tls._intermediates).Add(c);
        if (tls._roots.Count == 0)
            throw new InvalidDataException($"{CaFlag} {files.CaPath}: no CA certificate in it (no self-signed root; the bundle must hold the root CA that issues the cluster's certificates)");
        tls._intermediates.AddRange(ownChain);
        if (tls.Check(leaf, null) is { } why)
            throw new InvalidDataException($"{CertFlag} {files.CertPath}: the certificate ({leaf.Subject}) is not issued by the CA in {CaFlag} {files.CaPath}: {why}");
        return tls;
    }

    /// <summary>Null when <paramref name="peer"/> chains to a root of the bundle, else why not.</summary>
    string? Check(X509Certificate2 peer, X509Chain? presented)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_roots);
        chain.ChainPolicy.ExtraStore.AddRange(_intermediates);
        if (presented is not null) chain.ChainPolicy.ExtraStore.AddRange(presented.ChainPolicy.ExtraStore);   // what the peer sent
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;   // no CRL or OCSP is reachable from a private CA
        chain.ChainPolicy.VerificationFlags = X509VerificationFlags.NoFlag;
        if (chain.Build(peer)) return null;
        var problems = chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct().ToArray();
        return problems.Length > 0 ? string.Join("; ", problems) : "its chain does not build";
    }

    /// <summary>Orleans' check of a peer's certificate: its chain to the bundle, whatever the system's trust and the names say.</summary>
    bool Validate(X509Certificate2 peer, X509Chain? chain, SslPolicyErrors errors)
    {
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable)) return Refuse(null, "no certificate presented");
        return Check(peer, chain) is not { } why || Refuse(peer, why);
    }

    bool Refuse(X509Certificate2? peer, string why)
    {
        Interlocked.Increment(ref _refused);
        if (_log is { } log) PeerRefused(log, peer?.Subject ?? "(none)", peer?.Issuer ?? "(none)", Files.CaPath, why);
        return false;
    }

    void Configure(TlsOptions o)
    {
        o.LocalCertificate = Certificate;
        o.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;   // a silo asks every peer for its certificate
        o.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;   // and this process always presents its own
        o.RemoteCertificateValidation = Validate;
    }

    /// <summary>Mutual TLS on every connection this silo accepts or opens; nothing when <paramref name="tls"/> is null.</summary>
    public static void Apply(ISiloBuilder silo, ClusterTls? tls)
    {
        if (tls is null) return;
        silo.UseTls(tls.Configure);
        silo.Services.AddHostedService(sp => new LogAttach(tls, sp.GetRequiredService<ILoggerFactory>()));
    }

    /// <summary>Mutual TLS on every connection this client opens to the cluster's silos; nothing when <paramref name="tls"/> is null.</summary>
    public static void Apply(IClientBuilder client, ClusterTls? tls)
    {
        if (tls is null) return;
        client.UseTls(tls.Configure);
        client.Services.AddHostedService(sp => new LogAttach(tls, sp.GetRequiredService<ILoggerFactory>()));
    }

    /// <summary>For start-up lines.</summary>
    public string Describe => $"cluster connections over mutual TLS (certificate {Certificate.Subject} from {Files.CertPath}, peers must chain to {Files.CaPath})";

    /// <summary>
    /// The three flags (all or none), checked now by loading them, so that a missing, unreadable or mismatched file
    /// stops the start naming the flag and the path; null without them (cleartext, as before).
    /// </summary>
    public static ClusterTls? Read(CliArgs a, ClusterRole role)
    {
        var given = new[] { (Flag: CertFlag, Value: a.String("cluster-tls-cert")), (Flag: KeyFlag, Value: a.String("cluster-tls-key")), (Flag: CaFlag, Value: a.String("cluster-tls-ca")) };
        if (given.All(g => g.Value is null)) return null;
        if (given.FirstOrDefault(g => g.Value is null) is { Flag: { } missing })
            throw new UsageException($"{string.Join(" ", given.Where(g => g.Value is not null).Select(g => $"{g.Flag} {g.Value}"))} needs {missing} too: " +
                $"mutual TLS between the cluster's processes takes all three of {CertFlag}, {KeyFlag} and {CaFlag} (PEM files), or none for cleartext");
        var files = new ClusterTlsFiles(Path.GetFullPath(given[0].Value!), Path.GetFullPath(given[1].Value!), Path.GetFullPath(given[2].Value!));
        try { return Load(files, role); }
        catch (FileNotFoundException e) { throw new UsageException(e.Message); }
    }

    /// <summary>Gives the refusals a logger before any hosted service starts (the silo or client among them).</summary>
    sealed class LogAttach(ClusterTls tls, ILoggerFactory logs) : IHostedLifecycleService
    {
        public Task StartingAsync(CancellationToken ct) { tls._log = logs.CreateLogger<ClusterTls>(); return Task.CompletedTask; }
        public Task StartAsync(CancellationToken ct) => Task.CompletedTask;
        public Task StartedAsync(CancellationToken ct) => Task.CompletedTask;
        public Task StoppingAsync(CancellationToken ct) => Task.CompletedTask;
        public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
        public Task StoppedAsync(CancellationToken ct) => Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "cluster TLS: refused a peer's certificate {Subject} (issued by {Issuer}): it does not chain to {CaPath}: {Reason}")]
    static partial void PeerRefused(ILogger log, string subject, string issuer, string caPath, string reason);
}
