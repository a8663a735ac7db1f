using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Grpc.Core;
using Grpc.Net.Client;
using SeaLion.Cli;
using SeaLion.Contracts.V1;
using SeaLion.Gateway.Transport;

namespace SeaLion.Gateway.Tests;

/// <summary>A simulated host serving both ports over TLS with a certificate made for the test; <see cref="HostFixture.Client"/> pins it.</summary>
public class TlsServerFixture : HostFixture
{
    public string Dir { get; } = Directory.CreateTempSubdirectory("sealion-tls-").FullName;
    public X509Certificate2 First { get; } = TestCertificates.SelfSigned("sealion-test-first");
    public TlsFiles Files { get; }

    public TlsServerFixture() => Files = TestCertificates.Write(First, Dir);

    protected override AllInOneOptions Configure(AllInOneOptions o) => o with { Simulated = true, SimulatedTimeScale = 0.01, Tls = Files };

    protected override GrpcChannel OpenChannel() => TestCertificates.PinnedChannel(GrpcPort, First);

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Directory.Delete(Dir, recursive: true);
    }
}

/// <summary>The same, a host of its own: its certificate files get rewritten.</summary>
public sealed class TlsReloadFixture : TlsServerFixture;

[CollectionDefinition("tls-server", DisableParallelization = true)]
public sealed class TlsServerCollection : ICollectionFixture<TlsServerFixture>;

[CollectionDefinition("tls-reload", DisableParallelization = true)]
public sealed class TlsReloadCollection : ICollectionFixture<TlsReloadFixture>;

[Collection("tls-server")]
public sealed class TlsTests(TlsServerFixture f)
{
    const string Chat = """{"model":"sea-lion-v2","messages":[{"role":"user","content":"Halo"}],"max_tokens":3}""";

    [Fact]
    public async Task Rest_and_grpc_are_served_over_tls_with_the_certificate_from_the_pem_files()
    {
        using var http = new HttpClient(TestCertificates.Pinned(f.First)) { BaseAddress = new Uri($"https://127.0.0.1:{f.HttpPort}"), Timeout = TimeSpan.FromSeconds(30) };
        var chat = await http.PostAsync("/v1/chat/completions", new StringContent(Chat, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
        Assert.Contains("\"chat.completion\"", await chat.Content.ReadAsStringAsync());

        // ALPN: the REST port speaks HTTP/2 as well over TLS, and gRPC gets HTTP/2 on its port.
        var h2 = await http.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/v1/models") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact });
        Assert.Equal(HttpVersion.Version20, h2.Version);
        Assert.Contains("sea-lion-v2", await h2.Content.ReadAsStringAsync());
        foreach (int port in new[] { f.GrpcPort, f.HttpPort })
        {
            var (thumbprint, protocol) = await TestCertificates.Handshake(port);
            Assert.Equal(f.First.Thumbprint, thumbprint);
            Assert.Equal(SslApplicationProtocol.Http2, protocol);
        }

        var tokens = await f.Client.TokenizeAsync(new TokenizeRequest { Text = "Hello, world!" });
        Assert.Equal(new[] { 9906, 11, 1917, 0 }, tokens.TokenIds);
        var generated = new List<int>();
        await foreach (var r in f.Client.Generate(new GenerateRequest { Text = "Halo", Sampling = new SamplingParams { MaxTokens = 4 } }).ResponseStream.ReadAllAsync())
            generated.AddRange(r.TokenIds);
        Assert.Equal(4, generated.Count);

        // A client that trusts only what the system trusts refuses the self-signed certificate: the pin is what lets it in.
        using var unpinned = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => unpinned.GetAsync($"https://127.0.0.1:{f.HttpPort}/livez"));
        Assert.IsType<System.Security.Authentication.AuthenticationException>(refused.InnerException);
    }

    [Fact]
    public async Task Plain_http_to_either_tls_port_fails()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync($"http://127.0.0.1:{f.HttpPort}/livez"));
        using var h2c = GrpcChannel.ForAddress($"http://127.0.0.1:{f.GrpcPort}");
        var e = await Assert.ThrowsAsync<RpcException>(() => new Inference.InferenceClient(h2c).TokenizeAsync(new TokenizeRequest { Text = "x" }, deadline: DateTime.UtcNow.AddSeconds(30)).ResponseAsync);
        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
        // The TLS side is unaffected.
        using var https = new HttpClient(TestCertificates.Pinned(f.First)) { Timeout = TimeSpan.FromSeconds(30) };
        Assert.Equal("alive", await https.GetStringAsync($"https://127.0.0.1:{f.HttpPort}/livez"));
    }
}

[Collection("tls-reload")]
public sealed class TlsReloadTests(TlsReloadFixture f, Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>New handshakes on both ports until each presents <paramref name="expected"/>; false if not within 20 s.</summary>
    async Task<bool> ServedOnBothPorts(X509Certificate2 expected)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            if ((await TestCertificates.Handshake(f.GrpcPort)).Thumbprint == expected.Thumbprint
                && (await TestCertificates.Handshake(f.HttpPort)).Thumbprint == expected.Thumbprint) return true;
            await Task.Delay(250);
        }
        return false;
    }

    [Fact]
    public async Task Rewritten_pem_files_are_served_to_new_connections_without_a_restart_and_bad_ones_are_not()
    {
        Assert.True(await ServedOnBothPorts(f.First));
        var second = TestCertificates.SelfSigned("sealion-test-second", rsa: true);
        TestCertificates.Write(second, f.Dir);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Assert.True(await ServedOnBothPorts(second), "the rewritten certificate was not served within 20 s");
        output.WriteLine($"the rewritten certificate was served on both ports {clock.Elapsed.TotalSeconds:F1} s after the files were written");

        // New connections that pin only the second certificate are served, REST and gRPC.
        using var http = new HttpClient(TestCertificates.Pinned(second)) { Timeout = TimeSpan.FromSeconds(30) };
        Assert.Equal("alive", await http.GetStringAsync($"https://127.0.0.1:{f.HttpPort}/livez"));
        using var channel = TestCertificates.PinnedChannel(f.GrpcPort, second);
        Assert.NotEmpty((await new Inference.InferenceClient(channel).TokenizeAsync(new TokenizeRequest { Text = "Halo" })).TokenIds);

        // A key that belongs to another certificate, then a certificate file that is not PEM: the second stays served.
        File.WriteAllText(f.Files.KeyPath, TestCertificates.KeyPem(TestCertificates.SelfSigned("sealion-test-other")));
        File.WriteAllText(f.Files.CertPath, "not a certificate");
        await Task.Delay(3 * f.Files.ReloadCheck);
        Assert.Equal(second.Thumbprint, (await TestCertificates.Handshake(f.HttpPort)).Thumbprint);
        Assert.Equal("alive", await http.GetStringAsync($"https://127.0.0.1:{f.HttpPort}/livez"));

        TestCertificates.Write(f.First, f.Dir);
        Assert.True(await ServedOnBothPorts(f.First), "the first certificate, written back, was not served within 20 s");
    }
}
