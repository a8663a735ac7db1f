using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using SeaLion.Cli;
using SeaLion.Contracts.V1;
using SeaLion.Gateway.Transport;

namespace SeaLion.Gateway.Tests;

/// <summary>A simulated host with short client timeouts (headers 3 s, idle 4 s, body rate after 2 s) and an 8 KiB header limit.</summary>
public sealed class GuardedServerFixture : HostFixture
{
    public static readonly ConnectionLimits Limits = new()
    {
        RequestHeadersTimeout = TimeSpan.FromSeconds(3), KeepAliveTimeout = TimeSpan.FromSeconds(4),
        MinRequestBodyGrace = TimeSpan.FromSeconds(2), MaxRequestHeadersBytes = 8 * 1024,
    };

    protected override AllInOneOptions Configure(AllInOneOptions o) => o with { Simulated = true, SimulatedTimeScale = 0.01, Limits = Limits };
}

/// <summary>A simulated host that takes 4 connections per port.</summary>
public sealed class ConnectionCapFixture : HostFixture
{
    protected override AllInOneOptions Configure(AllInOneOptions o) => o with { Simulated = true, SimulatedTimeScale = 0.01, Limits = new ConnectionLimits { MaxConnections = 4 } };
}

[CollectionDefinition("guarded-server", DisableParallelization = true)]
public sealed class GuardedServerCollection : ICollectionFixture<GuardedServerFixture>;

[CollectionDefinition("capped-server", DisableParallelization = true)]
public sealed class ConnectionCapCollection : ICollectionFixture<ConnectionCapFixture>;

/// <summary>Raw sockets that behave as attackers do, and what the server does with them.</summary>
static class RawClient
{
    /// <summary>
    /// Sends <paramref name="head"/> at once, then <paramref name="slow"/> (cycled) one byte per <paramref name="every"/>
    /// until the server closes the connection or <paramref name="giveUp"/> passes. Returns when it was closed (null:
    /// not within <paramref name="giveUp"/>) and everything the server sent.
    /// </summary>
    public static async Task<(TimeSpan? ClosedAfter, string Answer)> Trickle(int port, string head, string slow, TimeSpan every, TimeSpan giveUp)
    {
        using var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        var stream = tcp.GetStream();
        var clock = Stopwatch.StartNew();
        using var cts = new CancellationTokenSource(giveUp);
        var answer = new StringBuilder();
        var reading = Task.Run(async () =>
        {
            var buffer = new byte[4096];
            try
            {
                for (int n; (n = await stream.ReadAsync(buffer, cts.Token)) > 0;) answer.Append(Encoding.ASCII.GetString(buffer, 0, n));
            }
            catch (IOException) { }   // reset by the server
            catch (OperationCanceledException) { return (TimeSpan?)null; }
            return clock.Elapsed;
        });
        var bytes = Encoding.ASCII.GetBytes(slow);
        try
        {
            if (head.Length > 0) await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
            for (int i = 0; !reading.IsCompleted; i++)
            {
                await stream.WriteAsync(bytes.AsMemory(i % bytes.Length, 1));
                await Task.WhenAny(reading, Task.Delay(every));
            }
        }
        catch (IOException) { }   // the server closed under the write
        var closed = await reading;
        return (closed, answer.ToString());
    }

    /// <summary>One complete GET /livez on an open connection; the answer, or "" if the server closed it first.</summary>
    public static async Task<string> Livez(NetworkStream stream)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var answer = new StringBuilder();
        var buffer = new byte[4096];
        try
        {
            await stream.WriteAsync("GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"u8.ToArray(), cts.Token);
            for (int n; !answer.ToString().EndsWith("alive", StringComparison.Ordinal) && (n = await stream.ReadAsync(buffer, cts.Token)) > 0;)
                answer.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }
        catch (IOException) { }
        return answer.ToString();
    }
}

[Collection("guarded-server")]
public sealed class SlowClientTests(GuardedServerFixture f, Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task Slow_loris_clients_are_cut_off_while_a_normal_client_is_served_promptly()
    {
        var giveUp = TimeSpan.FromSeconds(25);
        var quarter = TimeSpan.FromMilliseconds(250);
        // Headers that never end; a body trickled at 4 bytes/s (the minimum is 240); an HTTP/2 preface at 1.4 bytes/s.
        var headers = Enumerable.Range(0, 4).Select(_ => RawClient.Trickle(f.HttpPort, "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n", "X-Slow: 1\r\n", quarter, giveUp)).ToArray();
        var bodies = Enumerable.Range(0, 3).Select(_ => RawClient.Trickle(f.HttpPort,
            "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n", " ", quarter, giveUp)).ToArray();
        // 24 bytes at 700 ms each take 16.8 s: only the idle timeout (4 s) can end these before the preface is complete.
        var prefaces = Enumerable.Range(0, 2).Select(_ => RawClient.Trickle(f.GrpcPort, "", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", TimeSpan.FromMilliseconds(700), giveUp)).ToArray();

        var slow = headers.Concat(bodies).Concat(prefaces).ToArray();
        await Task.Delay(1000);
        Assert.DoesNotContain(slow, t => t.IsCompleted);   // all nine are connected while the normal client comes
        var clock = Stopwatch.StartNew();
        using (var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{f.HttpPort}"), Timeout = TimeSpan.FromSeconds(10) })
        {
            var chat = await http.PostAsync("/v1/chat/completions", new StringContent("""{"model":"sea-lion-v2","messages":[{"role":"user","content":"Halo"}],"max_tokens":3}""", Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
        }
        var tokens = await f.Client.TokenizeAsync(new TokenizeRequest { Text = "Halo" }, deadline: DateTime.UtcNow.AddSeconds(10));
        Assert.NotEmpty(tokens.TokenIds);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"the normal client took {clock.Elapsed.TotalSeconds:F1} s among the slow ones");

        foreach (var (kind, clients) in new[] { ("headers", headers), ("body", bodies), ("h2 preface", prefaces) })
            foreach (var (closed, answer) in await Task.WhenAll(clients))
                output.WriteLine($"{kind} trickler: closed after {closed?.TotalSeconds:F1} s, answer '{answer.Split('\r')[0]}'");
        foreach (var (closed, answer) in await Task.WhenAll(headers))
        {
            Assert.True(closed is { } c && c >= TimeSpan.FromSeconds(2) && c < TimeSpan.FromSeconds(15), $"header trickler closed after {closed}: {answer}");
            Assert.StartsWith("HTTP/1.1 408", answer);
        }
        foreach (var (closed, answer) in await Task.WhenAll(bodies))
        {
            Assert.True(closed is { } c && c >= TimeSpan.FromSeconds(1.5) && c < TimeSpan.FromSeconds(15), $"body trickler closed after {closed}: {answer}");
            Assert.StartsWith("HTTP/1.1 408", answer);
        }
        foreach (var (closed, answer) in await Task.WhenAll(prefaces))
            Assert.True(closed is { } c && c >= TimeSpan.FromSeconds(3) && c < TimeSpan.FromSeconds(15), $"HTTP/2 preface trickler closed after {closed}: {answer}");
    }

    [Fact]
    public async Task Request_headers_over_the_configured_size_are_refused_with_431()
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{f.HttpPort}"), Timeout = TimeSpan.FromSeconds(10) };
        var small = new HttpRequestMessage(HttpMethod.Get, "/livez") { Headers = { { "X-Pad", new string('a', 4 * 1024) } } };
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(small)).StatusCode);
        // 12 KiB: under Kestrel's own default (32 KiB), over this host's 8 KiB.
        var big = new HttpRequestMessage(HttpMethod.Get, "/livez") { Headers = { { "X-Pad", new string('a', 12 * 1024) } } };
        Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, (await http.SendAsync(big)).StatusCode);
    }
}

[Collection("capped-server")]
public sealed class ConnectionCapTests(ConnectionCapFixture f)
{
    [Fact]
    public async Task Connections_past_the_limit_are_closed_at_once_and_a_freed_slot_serves_again()
    {
        var held = new List<TcpClient>();
        try
        {
            for (int i = 0; i < 4; i++)
            {
                var c = new TcpClient();
                held.Add(c);
                await c.ConnectAsync(IPAddress.Loopback, f.HttpPort);
                Assert.EndsWith("alive", await RawClient.Livez(c.GetStream()));
            }
            using (var fifth = new TcpClient())
            {
                await fifth.ConnectAsync(IPAddress.Loopback, f.HttpPort);   // the kernel accepts it; Kestrel closes it unserved
                Assert.Empty(await RawClient.Livez(fifth.GetStream()));
            }
            // The limit is per port: gRPC still has its own four.
            Assert.NotEmpty((await f.Client.TokenizeAsync(new TokenizeRequest { Text = "Halo" }, deadline: DateTime.UtcNow.AddSeconds(10))).TokenIds);

            held[0].Dispose();
            held.RemoveAt(0);
            string again = "";
            for (var deadline = DateTime.UtcNow.AddSeconds(10); !again.EndsWith("alive", StringComparison.Ordinal) && DateTime.UtcNow < deadline; await Task.Delay(100))
            {
                using var next = new TcpClient();
                await next.ConnectAsync(IPAddress.Loopback, f.HttpPort);
                again = await RawClient.Livez(next.GetStream());
            }
            Assert.EndsWith("alive", again);
            // The held connections were served all along.
            foreach (var c in held) Assert.EndsWith("alive", await RawClient.Livez(c.GetStream()));
        }
        finally
        {
            foreach (var c in held) c.Dispose();
        }
    }
}
