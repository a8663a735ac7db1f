using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace SeaLion.Gateway.Transport;

/// <summary>
/// --tls-cert and --tls-key: the PEM files of the certificate both gateway ports serve. The certificate file holds the
/// server's certificate first, then any intermediates (a "fullchain" file); the key file its unencrypted private key
/// (PKCS#8 "PRIVATE KEY", "RSA PRIVATE KEY" or "EC PRIVATE KEY").
/// </summary>
public sealed record TlsFiles(string CertPath, string KeyPath)
{
    /// <summary>How often both files are read to see whether they changed.</summary>
    public TimeSpan ReloadCheck { get; init; } = TimeSpan.FromSeconds(2);
}

/// <summary>
/// The certificate the gateway serves, swapped in place when its files change: every new TLS handshake takes
/// <see cref="Context"/>, connections already open keep the certificate they were made with. New files that do not
/// load (unreadable, not PEM, a key that does not match, expired, not for server authentication, or a rotation caught
/// half-written) leave the served certificate as it was. Every failure names the flag and the file.
/// </summary>
public sealed class ServerCertificate
{
    const string ServerAuthOid = "1.3.6.1.5.5.7.3.1", RsaOid = "1.2.840.113549.1.1.1", EcOid = "1.2.840.10045.2.1";

    sealed record Loaded(X509Certificate2 Leaf, SslStreamCertificateContext Context);

    readonly TlsFiles _files;
    volatile Loaded _current;
    byte[] _seen;            // SHA-256 of the certificate and key bytes last tried, good or bad
    string? _readFailure;    // the last unreadable-file message reported, so that it is reported once

    ServerCertificate(TlsFiles files, Loaded current, byte[] seen) => (_files, _current, _seen) = (files, current, seen);

    public TlsFiles Files => _files;
    /// <summary>The served certificate (the leaf, with its private key).</summary>
    public X509Certificate2 Certificate => _current.Leaf;
    /// <summary>The leaf and its intermediates, as each handshake sends them.</summary>
    public SslStreamCertificateContext Context => _current.Context;

    /// <summary>Loads both files or throws: <see cref="FileNotFoundException"/> for a missing one, <see cref="InvalidDataException"/> for the rest.</summary>
    public static ServerCertificate Load(TlsFiles files)
    {
        foreach (var (flag, path) in new[] { ("--tls-cert", files.CertPath), ("--tls-key", files.KeyPath) })
            if (!File.Exists(path)) throw new FileNotFoundException($"{flag}: no such file '{path}'", path);
        var (cert, key) = Read(files);
        return new ServerCertificate(files, Build(files, cert, key), Stamp(cert, key));
    }

    /// <summary>The outcome of one look at the files: null when nothing changed, else whether the new files now serve and why not.</summary>
    public sealed record Refresh(bool Reloaded, string? Error);

    /// <summary>Reads both files; when they differ from the last ones tried, loads them and serves them if they are good.</summary>
    public Refresh? CheckFiles()
    {
        byte[] cert, key;
        try { (cert, key) = Read(_files); }
        catch (InvalidDataException e)
        {
            if (e.Message == _readFailure) return null;
            _readFailure = e.Message;
            return new Refresh(false, e.Message);
        }
        _readFailure = null;
        var stamp = Stamp(cert, key);
        if (stamp.AsSpan().SequenceEqual(_seen)) return null;
        _seen = stamp;
        try { _current = Build(_files, cert, key); }
        catch (InvalidDataException e) { return new Refresh(false, e.Message); }
        return new Refresh(true, null);
    }

    static (byte[] Cert, byte[] Key) Read(TlsFiles files) => (ReadFile("--tls-cert", files.CertPath), ReadFile("--tls-key", files.KeyPath));

    static byte[] ReadFile(string flag, string path)
    {
        try { return File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new InvalidDataException($"{flag} {path}: cannot be read: {e.Message}", e); }
    }

    static byte[] Stamp(byte[] cert, byte[] key)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        h.AppendData(cert);
        h.AppendData(key);
        return h.GetHashAndReset();
    }

    static Loaded Build(TlsFiles files, byte[] certBytes, byte[] keyBytes)
    {
        string certPath = files.CertPath, keyPath = files.KeyPath;
        var chain = new X509Certificate2Collection();
        try { chain.ImportFromPem(System.Text.Encoding.ASCII.GetString(certBytes)); }
        catch (CryptographicException e) { throw new InvalidDataException($"--tls-cert {certPath}: the PEM block is not a valid certificate: {e.Message}", e); }
        if (chain.Count == 0) throw new InvalidDataException($"--tls-cert {certPath}: no readable PEM certificate in it (expected a '-----BEGIN CERTIFICATE-----' block of base64)");
        var leaf = chain[0];
        if (DateTime.UtcNow > leaf.NotAfter.ToUniversalTime())
            throw new InvalidDataException($"--tls-cert {certPath}: the certificate ({leaf.Subject}) expired on {leaf.NotAfter.ToUniversalTime():yyyy-MM-dd HH:mm:ss} UTC");
        if (leaf.Extensions.OfType<X509EnhancedKeyUsageExtension>().FirstOrDefault() is { } eku && !eku.EnhancedKeyUsages.Cast<Oid>().Any(o => o.Value == ServerAuthOid))
            throw new InvalidDataException($"--tls-cert {certPath}: the certificate ({leaf.Subject}) is not for server authentication (its extended key usage lacks serverAuth, {ServerAuthOid})");

        var withKey = AttachKey(files, leaf, System.Text.Encoding.ASCII.GetString(keyBytes));
        var intermediates = new X509Certificate2Collection();
        for (int i = 1; i < chain.Count; i++) intermediates.Add(chain[i]);
        return new Loaded(withKey, SslStreamCertificateContext.Create(withKey, intermediates, offline: true));
    }

    static X509Certificate2 AttachKey(TlsFiles files, X509Certificate2 leaf, string keyPem)
    {
        string algorithm = leaf.GetKeyAlgorithm();
        using AsymmetricAlgorithm key = algorithm switch
        {
            RsaOid => RSA.Create(),
            EcOid => ECDsa.Create(),
            _ => throw new InvalidDataException($"--tls-cert {files.CertPath}: the certificate's key algorithm ({algorithm}) is not supported: use RSA or ECDSA"),
        };
        string kind = key is RSA ? "RSA" : "EC";
        if (keyPem.Contains("-----BEGIN ENCRYPTED PRIVATE KEY-----", StringComparison.Ordinal))
            throw new InvalidDataException($"--tls-key {files.KeyPath}: the private key is encrypted; give it unencrypted (e.g. 'openssl pkey -in KEY -out PLAIN'), readable only by the gateway's user");
        try { key.ImportFromPem(keyPem); }
        catch (ArgumentException e)   // no PEM key block at all
        {
            throw new InvalidDataException($"--tls-key {files.KeyPath}: no {kind} private key in it, as the certificate in --tls-cert {files.CertPath} needs " +
                "(expected an unencrypted PEM 'PRIVATE KEY', 'RSA PRIVATE KEY' or 'EC PRIVATE KEY' block)", e);
        }
        catch (CryptographicException e)   // a key block, of another algorithm or damaged
        {
            throw new InvalidDataException($"--tls-key {files.KeyPath}: no {kind} private key in it, as the certificate in --tls-cert {files.CertPath} needs " +
                $"(the key block there does not read as one: {e.Message})", e);
        }
        try { return key is RSA rsa ? leaf.CopyWithPrivateKey(rsa) : leaf.CopyWithPrivateKey((ECDsa)key); }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            throw new InvalidDataException($"--tls-key {files.KeyPath} does not match the certificate in --tls-cert {files.CertPath} ({leaf.Subject}): it is the private key of another certificate", e);
        }
    }
}

/// <summary>Checks the certificate files every <see cref="TlsFiles.ReloadCheck"/> and says what became of a change.</summary>
internal sealed partial class CertificateReloader(ServerCertificate certificate, ILogger<CertificateReloader> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(certificate.Files.ReloadCheck);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                switch (certificate.CheckFiles())
                {
                    case { Reloaded: true }:
                        var c = certificate.Certificate;
                        Reloaded(certificate.Files.CertPath, c.Subject, c.Thumbprint, c.NotAfter.ToUniversalTime());
                        break;
                    case { Error: { } error }:
                        Rejected(certificate.Certificate.Thumbprint, error);
                        break;
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "TLS certificate reloaded from {Path}: {Subject}, thumbprint {Thumbprint}, valid until {NotAfter:u}")]
    partial void Reloaded(string path, string subject, string thumbprint, DateTime notAfter);

    [LoggerMessage(Level = LogLevel.Error, Message = "TLS certificate files changed but were not loaded; still serving thumbprint {Thumbprint}: {Reason}")]
    partial void Rejected(string thumbprint, string reason);
}
