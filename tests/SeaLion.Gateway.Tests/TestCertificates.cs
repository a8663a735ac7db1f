using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Net.Client;
using SeaLion.Gateway.Transport;

namespace SeaLion.Gateway.Tests;

/// <summary>Self-signed certificates made in the test (no file shipped, no system trust touched) and clients that pin them.</summary>
public static class TestCertificates
{
    public const string ServerAuth = "1.3.6.1.5.5.7.3.1", ClientAuth = "1.3.6.1.5.5.7.3.2";

    /// <summary>A certificate for localhost and 127.0.0.1 with its private key; ECDSA P-256 unless <paramref name="rsa"/>.</summary>
    public static X509Certificate2 SelfSigned(string name, bool rsa = false, string usage = ServerAuth, int validDays = 30)
    {
        using AsymmetricAlgorithm key = rsa ? RSA.Create(2048) : ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = key is RSA r
            ? new CertificateRequest($"CN={name}", r, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            : new CertificateRequest($"CN={name}", (ECDsa)key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(usage)], critical: false));
        var now = DateTimeOffset.UtcNow;
        // An expired one (validDays < 0) was valid for a day that has passed.
        return validDays > 0 ? request.CreateSelfSigned(now.AddDays(-1), now.AddDays(validDays)) : request.CreateSelfSigned(now.AddDays(validDays - 1), now.AddDays(validDays));
    }

    public static string CertificatePem(X509Certificate2 c) => c.ExportCertificatePem();

    public static string KeyPem(X509Certificate2 c) =>
        ((AsymmetricAlgorithm?)c.GetECDsaPrivateKey() ?? c.GetRSAPrivateKey() ?? throw new ArgumentException("no private key", nameof(c))).ExportPkcs8PrivateKeyPem();

    /// <summary>Writes (or overwrites) DIR/NAME.crt and DIR/NAME.key.</summary>
    public static TlsFiles Write(X509Certificate2 c, string dir, string name = "server")
    {
        var files = new TlsFiles(Path.Combine(dir, name + ".crt"), Path.Combine(dir, name + ".key"));
        File.WriteAllText(files.KeyPath, KeyPem(c));
        File.WriteAllText(files.CertPath, CertificatePem(c));
        return files;
    }

    /// <summary>A handler that accepts exactly these certificates (whatever the system trusts) and nothing else.</summary>
    public static SocketsHttpHandler Pinned(params X509Certificate2[] trusted) => new()
    {
        SslOptions = { RemoteCertificateValidationCallback = (_, presented, _, _) => presented is not null && trusted.Any(t => t.GetCertHashString() == presented.GetCertHashString()) },
    };

    public static GrpcChannel PinnedChannel(int port, params X509Certificate2[] trusted) =>
        GrpcChannel.ForAddress($"https://127.0.0.1:{port}", new GrpcChannelOptions { HttpHandler = Pinned(trusted) });

    /// <summary>One fresh TLS handshake: which certificate the server presented (its thumbprint) and the protocol ALPN chose.</summary>
    public static async Task<(string Thumbprint, SslApplicationProtocol Protocol)> Handshake(int port)
    {
        using var tcp = new TcpClient();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await tcp.ConnectAsync(IPAddress.Loopback, port, timeout.Token);
        await using var tls = new SslStream(tcp.GetStream());
        string? presented = null;
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ApplicationProtocols = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
            // Accepts anything: this only reads what is presented; the pinned clients are the ones that trust.
            RemoteCertificateValidationCallback = (_, c, _, _) => { presented = c?.GetCertHashString(); return true; },
        }, timeout.Token);
        return (presented ?? throw new InvalidOperationException("no certificate presented"), tls.NegotiatedApplicationProtocol);
    }
}
