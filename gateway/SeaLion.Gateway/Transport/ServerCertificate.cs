using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SeaLion.Hosting;
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

    static (byte[] Cert, byte[] Key) Read(TlsFiles files) =>
        (PemCertificate.ReadFile("--tls-cert", files.CertPath), PemCertificate.ReadFile("--tls-key", files.KeyPath));

    static byte[] Stamp(byte[] cert, byte[] key)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        h.AppendData(cert);
        h.AppendData(key);
        return h.GetHashAndReset();
    }

    static Loaded Build(TlsFiles files, byte[] certBytes, byte[] keyBytes)
    {
        var (leaf, intermediates) = PemCertificate.Load(("--tls-cert", files.CertPath, certBytes), ("--tls-key", files.KeyPath, keyBytes), PemCertificate.ServerAuth);
        return new Loaded(leaf, SslStreamCertificateContext.Create(leaf, intermediates, offline: true));
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
