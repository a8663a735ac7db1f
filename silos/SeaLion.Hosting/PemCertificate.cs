using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace SeaLion.Hosting;

/// <summary>
/// A certificate and its private key from PEM files, as the processes' TLS options take them (the gateway's
/// --tls-cert/--tls-key, the cluster's --cluster-tls-cert/--cluster-tls-key/--cluster-tls-ca). The certificate file
/// holds the certificate first, then any intermediates (a "fullchain" file); the key file its unencrypted private key
/// (PKCS#8 "PRIVATE KEY", "RSA PRIVATE KEY" or "EC PRIVATE KEY"). Every failure is an <see cref="InvalidDataException"/>
/// whose message names the flag and the file.
/// </summary>
public static class PemCertificate
{
    const string RsaOid = "1.2.840.113549.1.1.1", EcOid = "1.2.840.10045.2.1";

    /// <summary>An extended key usage a certificate must allow: its OID, and what to call it in a message.</summary>
    public sealed record Usage(string Oid, string Purpose, string Name);

    public static readonly Usage ServerAuth = new("1.3.6.1.5.5.7.3.1", "server authentication", "serverAuth");
    public static readonly Usage ClientAuth = new("1.3.6.1.5.5.7.3.2", "client authentication", "clientAuth");

    /// <summary>A file's bytes, or an <see cref="InvalidDataException"/> naming the flag when it cannot be read.</summary>
    public static byte[] ReadFile(string flag, string path)
    {
        try { return File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new InvalidDataException($"{flag} {path}: cannot be read: {e.Message}", e); }
    }

    /// <summary>Every certificate in a PEM file (at least one), in file order.</summary>
    public static X509Certificate2Collection ReadCertificates(string flag, string path, byte[] bytes)
    {
        var all = new X509Certificate2Collection();
        try { all.ImportFromPem(System.Text.Encoding.ASCII.GetString(bytes)); }
        catch (CryptographicException e) { throw new InvalidDataException($"{flag} {path}: the PEM block is not a valid certificate: {e.Message}", e); }
        if (all.Count == 0) throw new InvalidDataException($"{flag} {path}: no readable PEM certificate in it (expected a '-----BEGIN CERTIFICATE-----' block of base64)");
        return all;
    }

    /// <summary>
    /// The certificate file's first certificate with the key file's key attached, and the certificates after it
    /// (intermediates). Refused: no PEM certificate, an expired one, one whose extended key usage lacks one of
    /// <paramref name="usages"/>, a key that is encrypted, of another algorithm or of another certificate.
    /// </summary>
    public static (X509Certificate2 Leaf, X509Certificate2Collection Intermediates) Load(
        (string Flag, string Path, byte[] Bytes) cert, (string Flag, string Path, byte[] Bytes) key, params Usage[] usages)
    {
        var chain = ReadCertificates(cert.Flag, cert.Path, cert.Bytes);
        var leaf = chain[0];
        if (DateTime.UtcNow > leaf.NotAfter.ToUniversalTime())
            throw new InvalidDataException($"{cert.Flag} {cert.Path}: the certificate ({leaf.Subject}) expired on {leaf.NotAfter.ToUniversalTime():yyyy-MM-dd HH:mm:ss} UTC");
        if (leaf.Extensions.OfType<X509EnhancedKeyUsageExtension>().FirstOrDefault() is { } eku)
            foreach (var u in usages)
                if (!eku.EnhancedKeyUsages.Cast<Oid>().Any(o => o.Value == u.Oid))
                    throw new InvalidDataException($"{cert.Flag} {cert.Path}: the certificate ({leaf.Subject}) is not for {u.Purpose} (its extended key usage lacks {u.Name}, {u.Oid})");

        var withKey = AttachKey(cert.Flag, cert.Path, key.Flag, key.Path, leaf, System.Text.Encoding.ASCII.GetString(key.Bytes));
        var intermediates = new X509Certificate2Collection();
        for (int i = 1; i < chain.Count; i++) intermediates.Add(chain[i]);
        return (withKey, intermediates);
    }

    static X509Certificate2 AttachKey(string certFlag, string certPath, string keyFlag, string keyPath, X509Certificate2 leaf, string keyPem)
    {
        string algorithm = leaf.GetKeyAlgorithm();
        using AsymmetricAlgorithm key = algorithm switch
        {
            RsaOid => RSA.Create(),
            EcOid => ECDsa.Create(),
            _ => throw new InvalidDataException($"{certFlag} {certPath}: the certificate's key algorithm ({algorithm}) is not supported: use RSA or ECDSA"),
        };
        string kind = key is RSA ? "RSA" : "EC";
        if (keyPem.Contains("-----BEGIN ENCRYPTED PRIVATE KEY-----", StringComparison.Ordinal))
            throw new InvalidDataException($"{keyFlag} {keyPath}: the private key is encrypted; give it unencrypted (e.g. 'openssl pkey -in KEY -out PLAIN'), readable only by the process's user");
        try { key.ImportFromPem(keyPem); }
        catch (ArgumentException e)   // no PEM key block at all
        {
            throw new InvalidDataException($"{keyFlag} {keyPath}: no {kind} private key in it, as the certificate in {certFlag} {certPath} needs " +
                "(expected an unencrypted PEM 'PRIVATE KEY', 'RSA PRIVATE KEY' or 'EC PRIVATE KEY' block)", e);
        }
        catch (CryptographicException e)   // a key block, of another algorithm or damaged
        {
            throw new InvalidDataException($"{keyFlag} {keyPath}: no {kind} private key in it, as the certificate in {certFlag} {certPath} needs " +
                $"(the key block there does not read as one: {e.Message})", e);
        }
        try { return key is RSA rsa ? leaf.CopyWithPrivateKey(rsa) : leaf.CopyWithPrivateKey((ECDsa)key); }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            throw new InvalidDataException($"{keyFlag} {keyPath} does not match the certificate in {certFlag} {certPath} ({leaf.Subject}): it is the private key of another certificate", e);
        }
    }
}
