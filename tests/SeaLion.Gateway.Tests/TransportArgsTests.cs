using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SeaLion.Gateway.Transport;
using SeaLion.Hosting;

namespace SeaLion.Gateway.Tests;

/// <summary>
/// The TLS and connection-limit options as `serve` and `gateway` read them, on real files: a bad combination or a bad
/// file stops the start with a message naming the flag and the path; a bad file at reload keeps what is served.
/// </summary>
public sealed class TransportArgsTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("sealion-tls-args-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static CliArgs Args(params string[] args) => new("gateway", args);

    string File(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        System.IO.File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void Both_flags_or_neither()
    {
        Assert.Null(TransportArgs.ReadTls(Args()));
        var files = TestCertificates.Write(TestCertificates.SelfSigned("ok"), _dir);
        var onlyCert = Assert.Throws<UsageException>(() => TransportArgs.ReadTls(Args("--tls-cert", files.CertPath)));
        Assert.Equal($"--tls-cert {files.CertPath} needs --tls-key: give the certificate's private key file too (both PEM files, or neither for cleartext)", onlyCert.Message);
        var onlyKey = Assert.Throws<UsageException>(() => TransportArgs.ReadTls(Args("--tls-key", files.KeyPath)));
        Assert.StartsWith($"--tls-key {files.KeyPath} needs --tls-cert", onlyKey.Message);
        Assert.Equal(files, TransportArgs.ReadTls(Args("--tls-cert", files.CertPath, "--tls-key", files.KeyPath)));
    }

    public static TheoryData<string, string> BadFiles => new()
    {
        { "missing-cert", "--tls-cert: no such file '{cert}'" },
        { "missing-key", "--tls-key: no such file '{key}'" },
        { "cert-not-pem", "--tls-cert {cert}: no readable PEM certificate in it (expected a '-----BEGIN CERTIFICATE-----' block of base64)" },
        { "cert-bad-base64", "--tls-cert {cert}: no readable PEM certificate in it" },
        { "cert-not-der", "--tls-cert {cert}: the PEM block is not a valid certificate" },
        { "key-of-another", "--tls-key {key} does not match the certificate in --tls-cert {cert} (CN=ok): it is the private key of another certificate" },
        { "key-is-a-cert", "--tls-key {key}: no EC private key in it, as the certificate in --tls-cert {cert} needs" },
        { "rsa-key-for-ec-cert", "--tls-key {key}: no EC private key in it" },
        { "encrypted-key", "--tls-key {key}: the private key is encrypted" },
        { "expired", "--tls-cert {cert}: the certificate (CN=ok) expired on " },
        { "client-only", "--tls-cert {cert}: the certificate (CN=ok) is not for server authentication" },
    };

    [Theory, MemberData(nameof(BadFiles))]
    public void A_bad_file_stops_the_start_naming_the_flag_and_the_path(string kind, string message)
    {
        var good = TestCertificates.SelfSigned("ok");
        var files = TestCertificates.Write(kind switch
        {
            "expired" => TestCertificates.SelfSigned("ok", validDays: -1),
            "client-only" => TestCertificates.SelfSigned("ok", usage: TestCertificates.ClientAuth),
            _ => good,
        }, _dir);
        switch (kind)
        {
            case "missing-cert": System.IO.File.Delete(files.CertPath); break;
            case "missing-key": System.IO.File.Delete(files.KeyPath); break;
            case "cert-not-pem": File("server.crt", "hello"); break;
            case "cert-bad-base64": File("server.crt", "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n"); break;
            case "cert-not-der": File("server.crt", "-----BEGIN CERTIFICATE-----\nAAECAwQFBgc=\n-----END CERTIFICATE-----\n"); break;
            case "key-of-another": File("server.key", TestCertificates.KeyPem(TestCertificates.SelfSigned("other"))); break;
            case "key-is-a-cert": File("server.key", TestCertificates.CertificatePem(good)); break;
            case "rsa-key-for-ec-cert": File("server.key", TestCertificates.KeyPem(TestCertificates.SelfSigned("rsa", rsa: true))); break;
            case "encrypted-key":
                using (var key = good.GetECDsaPrivateKey()!)
                    File("server.key", key.ExportEncryptedPkcs8PrivateKeyPem("secret", new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 1000)));
                break;
        }
        var e = Assert.ThrowsAny<Exception>(() => TransportArgs.ReadTls(Args("--tls-cert", files.CertPath, "--tls-key", files.KeyPath)));
        Assert.True(e is UsageException or InvalidDataException, e.ToString());
        string expected = message.Replace("{cert}", files.CertPath).Replace("{key}", files.KeyPath);
        Assert.True(e.Message.StartsWith(expected, StringComparison.Ordinal), $"expected a message starting '{expected}', got '{e.Message}'");
    }

    [Fact]
    public void A_bad_rewrite_keeps_the_served_certificate_and_is_reported_once()
    {
        var first = TestCertificates.SelfSigned("first");
        var files = TestCertificates.Write(first, _dir);
        var served = ServerCertificate.Load(files);
        Assert.Equal(first.Thumbprint, served.Certificate.Thumbprint);
        Assert.Null(served.CheckFiles());

        File("server.crt", "-----BEGIN CERTIFICATE-----\ntruncated");
        var bad = served.CheckFiles();
        Assert.NotNull(bad);
        Assert.False(bad.Reloaded);
        Assert.StartsWith($"--tls-cert {files.CertPath}: no readable PEM certificate in it", bad.Error);
        Assert.Null(served.CheckFiles());
        Assert.Equal(first.Thumbprint, served.Certificate.Thumbprint);

        System.IO.File.Delete(files.KeyPath);
        Assert.StartsWith($"--tls-key {files.KeyPath}: cannot be read", served.CheckFiles()!.Error);
        Assert.Null(served.CheckFiles());

        var second = TestCertificates.SelfSigned("second", rsa: true);
        TestCertificates.Write(second, _dir);
        Assert.Equal(new ServerCertificate.Refresh(true, null), served.CheckFiles());
        Assert.Equal(second.Thumbprint, served.Certificate.Thumbprint);
        Assert.True(served.Certificate.HasPrivateKey);
    }

    [Fact]
    public void Limits_default_and_refuse_values_out_of_range_naming_the_option()
    {
        var d = TransportArgs.ReadLimits(Args());
        Assert.Equal(ConnectionLimits.Default, d);
        Assert.Equal((10_000, 10, 130, 32 * 1024, 240), (d.MaxConnections, (int)d.RequestHeadersTimeout.TotalSeconds, (int)d.KeepAliveTimeout.TotalSeconds, d.MaxRequestHeadersBytes, d.MinRequestBodyBytesPerSecond));
        var set = TransportArgs.ReadLimits(Args("--max-connections", "64", "--request-headers-timeout-s", "5", "--keep-alive-timeout-s", "30", "--max-request-headers-kb", "8", "--min-request-body-bytes-per-s", "0"));
        Assert.Equal(new ConnectionLimits { MaxConnections = 64, RequestHeadersTimeout = TimeSpan.FromSeconds(5), KeepAliveTimeout = TimeSpan.FromSeconds(30), MaxRequestHeadersBytes = 8192, MinRequestBodyBytesPerSecond = 0 }, set);
        Assert.Equal("'gateway': --max-connections must be between 1 and 1000000, got 0", Assert.Throws<UsageException>(() => TransportArgs.ReadLimits(Args("--max-connections", "0"))).Message);
        Assert.Equal("'gateway': --request-headers-timeout-s must be between 2 and 300, got 1", Assert.Throws<UsageException>(() => TransportArgs.ReadLimits(Args("--request-headers-timeout-s", "1"))).Message);
        Assert.Equal("'gateway': --max-request-headers-kb must be an integer, got 'lots'", Assert.Throws<UsageException>(() => TransportArgs.ReadLimits(Args("--max-request-headers-kb", "lots"))).Message);
    }
}
