using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Orleans;
using Orleans.Runtime;
using SeaLion.Cli;
using SeaLion.Contracts.V1;
using SeaLion.Gateway;
using SeaLion.Gateway.Auth;
using SeaLion.Hosting;
using SeaLion.Model.Tests;
using SeaLion.Silo;

namespace SeaLion.Cluster.Tests;

/// <summary>A test CA and the certificates it issues, as PEM files in a folder of their own (no system trust touched).</summary>
public sealed class TestCa : IDisposable
{
    public const string ServerAuth = "1.3.6.1.5.5.7.3.1", ClientAuth = "1.3.6.1.5.5.7.3.2";
    readonly X509Certificate2 _ca;
    public string Dir { get; } = Directory.CreateTempSubdirectory("sealion-cluster-tls-").FullName;
    public string Name { get; }
    /// <summary>The CA's own certificate, PEM: what --cluster-tls-ca is given.</summary>
    public string CaPath { get; }

    public TestCa(string name)
    {
        Name = name;
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        _ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        CaPath = Path.Combine(Dir, "ca.crt");
        File.WriteAllText(CaPath, _ca.ExportCertificatePem() + "\n");
    }

    /// <summary>A certificate this CA issues to NAME (DIR/NAME.crt, DIR/NAME.key); both usages unless told otherwise.</summary>
    public ClusterTlsFiles Issue(string name, string[]? usages = null, string? caPath = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([.. (usages ?? [ServerAuth, ClientAuth]).Select(u => new Oid(u))], critical: false));
        var serial = RandomNumberGenerator.GetBytes(12);
        using var issued = request.Create(_ca, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(7), serial);
        var files = new ClusterTlsFiles(Path.Combine(Dir, name + ".crt"), Path.Combine(Dir, name + ".key"), caPath ?? CaPath);
        File.WriteAllText(files.CertPath, issued.ExportCertificatePem() + "\n");
        File.WriteAllText(files.KeyPath, key.ExportPkcs8PrivateKeyPem());
        return files;
    }

    public void Dispose()
    {
        _ca.Dispose();
        Directory.Delete(Dir, recursive: true);
    }
}

/// <summary>
/// A silo (SiloHost, as `sealion silo` builds it; simulated engine, Redis membership on a real redis-server) and a
/// gateway (GatewayHost, as `sealion gateway` builds it), both in this process, with mutual TLS on Orleans'
/// connections from certificates of one test CA.
/// </summary>
public sealed class ClusterTlsFixture : IAsyncLifetime
{
    public RedisServer Redis { get; } = new();
    public TestCa Ca { get; } = new("SeaLion Test Cluster CA");
    public TestCa OtherCa { get; } = new("Some Other CA");
    public string Cluster { get; } = "tls-" + Guid.NewGuid().ToString("N")[..8];
    public string ModelDir { get; } = TestModels.Get();
    public ClusterTls SiloTls { get; private set; } = null!;
    public WebApplication Silo { get; private set; } = null!;
    public WebApplication Gateway { get; private set; } = null!;
    public int SiloPort { get; } = Ports.Free();
    public int OrleansGatewayPort { get; } = Ports.Free();
    public int GrpcPort { get; private set; }
    public List<WebApplication> Extra { get; } = [];

    public RedisClusterOptions RedisOptions => new(Redis.Connection, Cluster, Cluster);

    public WebApplication BuildSilo(ClusterTls? tls, int siloPort, int gatewayPort) => SiloHost.Build(new SiloHostOptions
    {
        ModelDir = ModelDir, Redis = RedisOptions, SiloPort = siloPort, OrleansGatewayPort = gatewayPort, HttpPort = Ports.Free(),
        Simulated = true, SimulatedTimeScale = 0.01, DrainTimeout = TimeSpan.Zero, ClusterTls = tls,
    });

    /// <summary>A gateway host on free ports (gRPC port out), its Orleans client with <paramref name="tls"/>.</summary>
    public WebApplication BuildGateway(ClusterTls? tls, out int grpcPort)
    {
        grpcPort = Ports.Free();
        return GatewayHost.Build(ModelCatalog.FromDirectory(ModelDir, "sea-lion-v2"), RedisOptions, new GatewayEndpoints("127.0.0.1", grpcPort, Ports.Free()),
            AuthOptions.Anonymous, clusterTls: tls);
    }

    public async Task InitializeAsync()
    {
        SiloTls = ClusterTls.Load(Ca.Issue("silo-0"), ClusterRole.Silo);
        Silo = BuildSilo(SiloTls, SiloPort, OrleansGatewayPort);
        await Silo.StartAsync();
        Gateway = BuildGateway(ClusterTls.Load(Ca.Issue("gateway", [TestCa.ClientAuth]), ClusterRole.Gateway), out int grpc);
        GrpcPort = grpc;
        await Gateway.StartAsync();
    }

    public async Task DisposeAsync()
    {
        foreach (var app in Extra.Append(Gateway).Append(Silo).Where(a => a is not null))
        {
            try { await app.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token); } catch (Exception) { }
            await app.DisposeAsync();
        }
        Ca.Dispose();
        OtherCa.Dispose();
        Redis.Dispose();
    }
}

/// <summary>
/// Mutual TLS between silos and gateways: a request served end to end over it; a gateway presenting no certificate,
/// or one from another CA, cannot join while the silo goes on serving the good one; a second silo joins the first.
/// </summary>
public sealed class ClusterTlsTests(ClusterTlsFixture f) : IClassFixture<ClusterTlsFixture>
{
    async Task<int> GenerateThroughGateway(int grpcPort)
    {
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{grpcPort}");
        var client = new Inference.InferenceClient(channel);
        using var call = client.Generate(new GenerateRequest { Text = "Halo.", Sampling = new SamplingParams { MaxTokens = 5, IgnoreEos = true, Temperature = 0 } },
            deadline: DateTime.UtcNow.AddSeconds(30));
        int tokens = 0;
        await foreach (var r in call.ResponseStream.ReadAllAsync()) tokens += r.TokenIds.Count;
        return tokens;
    }

    /// <summary>The certificate presented on a port by a TLS handshake that trusts anything (null when the port does not speak TLS).</summary>
    static async Task<string?> Presented(int port)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        await using var tls = new SslStream(tcp.GetStream());
        string? presented = null;
        try
        {
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "silo",
                RemoteCertificateValidationCallback = (_, c, _, _) => { presented = c?.GetCertHashString(); return true; },
            }, new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        }
        catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException or OperationCanceledException) { }
        return presented;
    }

    [Fact]
    public async Task A_silo_and_a_gateway_with_mutual_tls_serve_a_request_end_to_end()
    {
        Assert.Equal(5, await GenerateThroughGateway(f.GrpcPort));
        // Both Orleans ports of the silo speak TLS and present the silo's certificate.
        Assert.Equal(f.SiloTls.Certificate.GetCertHashString(), await Presented(f.SiloPort));
        Assert.Equal(f.SiloTls.Certificate.GetCertHashString(), await Presented(f.OrleansGatewayPort));
    }

    [Fact]
    public async Task A_gateway_with_no_certificate_or_one_from_another_ca_cannot_join_and_the_silo_keeps_serving()
    {
        int refusedBefore = f.SiloTls.Refused;
        // One with a certificate of another CA that itself trusts both CAs (so only the silo's check stops it).
        string bothCas = Path.Combine(f.OtherCa.Dir, "both.crt");
        File.WriteAllText(bothCas, File.ReadAllText(f.Ca.CaPath) + File.ReadAllText(f.OtherCa.CaPath));
        var rogue = ClusterTls.Load(f.OtherCa.Issue("rogue", caPath: bothCas), ClusterRole.Gateway);
        // Orleans' client retries a failed connection (15 times, 1.5 s more each time, as for silos not up yet): neither
        // start completes within 10 s, each attempt is refused, and meanwhile the good gateway is served.
        var starts = new[] { ("cleartext", (ClusterTls?)null), ("another CA's certificate", rogue) }.Select(async g =>
        {
            var app = f.BuildGateway(g.Item2, out _);
            lock (f.Extra) f.Extra.Add(app);
            return (What: g.Item1, Error: await Record.ExceptionAsync(() => app.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token)));
        }).ToArray();
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Equal(5, await GenerateThroughGateway(f.GrpcPort));
        foreach (var (what, e) in await Task.WhenAll(starts))
        {
            Assert.True(e is not null, $"a gateway with {what} joined a cluster that requires mutual TLS");
            Assert.True(e is OperationCanceledException or OrleansException, $"{what}: {e}");   // cancelled while retrying, or a connection failure
        }
        Assert.True(f.SiloTls.Refused > refusedBefore, "the silo's check refused nothing");
        Assert.Equal(5, await GenerateThroughGateway(f.GrpcPort));
    }

    [Fact]
    public async Task Two_silos_with_mutual_tls_form_one_cluster()
    {
        var second = f.BuildSilo(ClusterTls.Load(f.Ca.Issue("silo-1"), ClusterRole.Silo), Ports.Free(), Ports.Free());
        f.Extra.Add(second);
        await second.StartAsync();   // joining validates connectivity to the first silo over silo-to-silo TLS
        var client = f.Gateway.Services.GetRequiredService<IClusterClient>();
        var management = client.GetGrain<IManagementGrain>(0);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        Dictionary<SiloAddress, SiloStatus> hosts;
        while ((hosts = await management.GetHosts(onlyActive: true)).Count < 2 && DateTime.UtcNow < deadline) await Task.Delay(200);
        Assert.Equal(2, hosts.Count);
        // A call that fans out from the silo the gateway reaches to every silo, over silo-to-silo connections.
        var stats = await management.GetRuntimeStatistics([.. hosts.Keys]);
        Assert.Equal(2, stats.Length);
        Assert.Equal(5, await GenerateThroughGateway(f.GrpcPort));
    }
}

/// <summary>The cluster TLS files as the processes read them: what each kind of bad file is refused with.</summary>
public sealed class ClusterTlsFilesTests : IDisposable
{
    readonly TestCa _ca = new("Files CA"), _other = new("Other Files CA");

    public void Dispose()
    {
        _ca.Dispose();
        _other.Dispose();
    }

    static CliArgs Args(params string[] args) => new("silo", args);

    [Fact]
    public void All_three_flags_or_none()
    {
        Assert.Null(ClusterTls.Read(Args(), ClusterRole.Silo));
        var files = _ca.Issue("silo");
        var e = Assert.Throws<UsageException>(() => ClusterTls.Read(Args("--cluster-tls-cert", files.CertPath, "--cluster-tls-key", files.KeyPath), ClusterRole.Silo));
        Assert.Equal($"--cluster-tls-cert {files.CertPath} --cluster-tls-key {files.KeyPath} needs --cluster-tls-ca too: mutual TLS between the cluster's processes takes all three " +
            "of --cluster-tls-cert, --cluster-tls-key and --cluster-tls-ca (PEM files), or none for cleartext", e.Message);
        var missing = Assert.Throws<UsageException>(() => ClusterTls.Read(Args("--cluster-tls-cert", files.CertPath, "--cluster-tls-key", files.KeyPath, "--cluster-tls-ca", "/nonexistent/ca.crt"), ClusterRole.Silo));
        Assert.Equal("--cluster-tls-ca: no such file '/nonexistent/ca.crt'", missing.Message);
        var loaded = ClusterTls.Read(Args("--cluster-tls-cert", files.CertPath, "--cluster-tls-key", files.KeyPath, "--cluster-tls-ca", files.CaPath), ClusterRole.Silo);
        Assert.Equal(files, loaded!.Files);
    }

    [Fact]
    public void A_certificate_the_ca_did_not_issue_is_refused_naming_both_files()
    {
        var files = _other.Issue("stranger", caPath: _ca.CaPath);
        var e = Assert.Throws<InvalidDataException>(() => ClusterTls.Load(files, ClusterRole.Silo));
        Assert.StartsWith($"--cluster-tls-cert {files.CertPath}: the certificate (CN=stranger) is not issued by the CA in --cluster-tls-ca {_ca.CaPath}: ", e.Message);
    }

    [Fact]
    public void A_silo_certificate_needs_both_usages_and_a_gateway_one_client_authentication()
    {
        var serverOnly = _ca.Issue("server-only", [TestCa.ServerAuth]);
        var e = Assert.Throws<InvalidDataException>(() => ClusterTls.Load(serverOnly, ClusterRole.Silo));
        Assert.StartsWith($"--cluster-tls-cert {serverOnly.CertPath}: the certificate (CN=server-only) is not for client authentication (its extended key usage lacks clientAuth", e.Message);
        Assert.Throws<InvalidDataException>(() => ClusterTls.Load(serverOnly, ClusterRole.Gateway));
        var clientOnly = _ca.Issue("client-only", [TestCa.ClientAuth]);
        Assert.StartsWith($"--cluster-tls-cert {clientOnly.CertPath}: the certificate (CN=client-only) is not for server authentication",
            Assert.Throws<InvalidDataException>(() => ClusterTls.Load(clientOnly, ClusterRole.Silo)).Message);
        Assert.NotNull(ClusterTls.Load(clientOnly, ClusterRole.Gateway));
    }

    [Fact]
    public void A_key_of_another_certificate_and_a_ca_file_without_a_root_are_refused()
    {
        var a = _ca.Issue("a");
        var b = _ca.Issue("b");
        var mismatched = a with { KeyPath = b.KeyPath };
        Assert.Equal($"--cluster-tls-key {b.KeyPath} does not match the certificate in --cluster-tls-cert {a.CertPath} (CN=a): it is the private key of another certificate",
            Assert.Throws<InvalidDataException>(() => ClusterTls.Load(mismatched, ClusterRole.Silo)).Message);
        var leafAsCa = a with { CaPath = b.CertPath };
        Assert.StartsWith($"--cluster-tls-ca {b.CertPath}: no CA certificate in it",
            Assert.Throws<InvalidDataException>(() => ClusterTls.Load(leafAsCa, ClusterRole.Silo)).Message);
        string notPem = Path.Combine(_ca.Dir, "not.pem");
        File.WriteAllText(notPem, "hello");
        Assert.StartsWith($"--cluster-tls-ca {notPem}: no readable PEM certificate in it",
            Assert.Throws<InvalidDataException>(() => ClusterTls.Load(a with { CaPath = notPem }, ClusterRole.Silo)).Message);
    }
}
