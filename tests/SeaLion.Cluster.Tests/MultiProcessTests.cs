using SeaLion.Cli;
using SeaLion.Cli.Commands;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Grpc.Core;
using Grpc.Net.Client;
using SeaLion.Contracts.V1;
using SeaLion.Model.Tests;

namespace SeaLion.Cluster.Tests;

/// <summary>One `sealion silo` or `sealion gateway` process, its output kept for failure messages.</summary>
sealed class SealionProcess : IDisposable
{
    readonly Process _p;
    readonly ConcurrentQueue<string> _lines = new();
    public string Name { get; }
    public int HttpPort { get; }

    public SealionProcess(string name, int httpPort, string args)
    {
        Name = name;
        HttpPort = httpPort;
        string cli = Path.Combine(AppContext.BaseDirectory, "sealion.dll");
        var psi = new ProcessStartInfo("dotnet", $"\"{cli}\" {args}") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        _p = Process.Start(psi)!;
        _p.OutputDataReceived += (_, e) => { if (e.Data is not null) _lines.Enqueue(e.Data); };
        _p.ErrorDataReceived += (_, e) => { if (e.Data is not null) _lines.Enqueue(e.Data); };
        _p.BeginOutputReadLine();
        _p.BeginErrorReadLine();
    }

    public bool Exited => _p.HasExited;
    public string Output => $"--- {Name} ---\n" + string.Join("\n", _lines.TakeLast(40));

    public async Task WaitHealthyAsync(TimeSpan timeout)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_p.HasExited) throw new InvalidOperationException($"{Name} exited with {_p.ExitCode}\n{Output}");
            try { if ((await http.GetAsync($"http://127.0.0.1:{HttpPort}/healthz")).IsSuccessStatusCode) return; }
            catch (HttpRequestException) { } catch (TaskCanceledException) { }
            await Task.Delay(200);
        }
        throw new TimeoutException($"{Name} not healthy after {timeout}\n{Output}");
    }

    /// <summary>SIGTERM, as Ctrl-C or Kubernetes would stop it; true when it exited by itself within the timeout.</summary>
    public bool Terminate(TimeSpan timeout)
    {
        if (_p.HasExited) return true;
        Process.Start("kill", $"-TERM {_p.Id}")!.WaitForExit();
        if (_p.WaitForExit(timeout)) return true;
        _p.Kill(entireProcessTree: true);
        return false;
    }

    /// <summary>SIGKILL: the host is gone at once, mid-whatever.</summary>
    public void Kill()
    {
        _p.Kill();
        _p.WaitForExit(10_000);
    }

    public void Dispose()
    {
        Terminate(TimeSpan.FromSeconds(15));
        _p.Dispose();
    }
}

/// <summary>redis-server, three `sealion silo` processes (simulated engines) and a `sealion gateway`, on loopback.</summary>
public class MultiProcessFixture : IAsyncLifetime
{
    /// <summary>Wall seconds per simulated second of the engines (0.05: a 4,000-token reply in a couple of seconds).</summary>
    protected virtual double SimTimeScale => 0.05;
    /// <summary>More options for the gateway.</summary>
    protected virtual string GatewayArgs => "";
    /// <summary>How many gateways (each its own process) front the silos.</summary>
    protected virtual int GatewayCount => 1;
    internal List<SealionProcess> Gateways { get; } = [];
    public List<int> GrpcPorts { get; } = [];

    public RedisServer Redis { get; } = new();
    internal List<SealionProcess> Silos { get; } = [];
    internal SealionProcess Gateway { get; private set; } = null!;
    public GrpcChannel Channel { get; private set; } = null!;
    public Inference.InferenceClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        string model = TestModels.Get(), cluster = "mp-" + Guid.NewGuid().ToString("N")[..8];
        string common = $"--redis {Redis.Connection} --cluster-id {cluster} --model \"{model}\"";
        for (int i = 0; i < 3; i++)
        {
            int http = Ports.Free();
            Silos.Add(new SealionProcess($"silo{i}", http,
                $"silo {common} --engine sim --sim-time-scale {SimTimeScale.ToString(System.Globalization.CultureInfo.InvariantCulture)} --silo-port {Ports.Free()} --gateway-port {Ports.Free()} --http-port {http}"));
        }
        foreach (var s in Silos) await s.WaitHealthyAsync(TimeSpan.FromMinutes(2));
        for (int g = 0; g < GatewayCount; g++)
        {
            int port = Ports.Free(), gwHttp = Ports.Free();
            Gateways.Add(new SealionProcess(g == 0 ? "gateway" : $"gateway{g}", gwHttp, $"gateway {common} --grpc-port {port} --http-port {gwHttp} --no-auth {GatewayArgs}"));
            GrpcPorts.Add(port);
        }
        foreach (var g in Gateways) await g.WaitHealthyAsync(TimeSpan.FromMinutes(2));
        Gateway = Gateways[0];
        Channel = GrpcChannel.ForAddress($"http://127.0.0.1:{GrpcPorts[0]}");
        Client = new Inference.InferenceClient(Channel);
    }

    public Task DisposeAsync()
    {
        Channel?.Dispose();
        foreach (var g in Gateways) g.Dispose();
        foreach (var s in Silos) s.Dispose();
        Redis.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>How many keys the Redis server holds (sessions and the membership table live there).</summary>
    public int RedisKeys()
    {
        using var c = new TcpClient("127.0.0.1", Redis.Port);
        var s = c.GetStream();
        s.Write("DBSIZE\r\n"u8);
        var buf = new byte[64];
        int n = s.Read(buf);
        return int.Parse(Encoding.ASCII.GetString(buf, 0, n).TrimStart(':').Trim());
    }
}

public sealed class MultiProcessTests : IClassFixture<MultiProcessFixture>
{
    readonly MultiProcessFixture f;
    public MultiProcessTests(MultiProcessFixture f) => this.f = f;

    static async Task<List<GenerateResponse>> Collect(AsyncServerStreamingCall<GenerateResponse> call)
    {
        var list = new List<GenerateResponse>();
        await foreach (var r in call.ResponseStream.ReadAllAsync()) list.Add(r);
        return list;
    }

    static ChatRequest Turn(string session, string user)
    {
        var r = new ChatRequest { SessionId = session, Sampling = new SamplingParams { Temperature = 0, MaxTokens = 5, IgnoreEos = true } };
        r.Messages.Add(new ChatMessage { Role = "user", Content = user });
        return r;
    }

    [Fact]
    public async Task Sessions_live_in_redis_follow_their_engine_and_survive_a_silo_stopped_with_sigterm()
    {
        int keysBefore = f.RedisKeys();
        var ids = Enumerable.Range(0, 12).Select(i => $"mp-{i}").ToArray();
        var t1 = await Task.WhenAll(ids.Select(id => Collect(f.Client.Chat(Turn(id, Sessions.Long($"Sesi {id}."))))));
        Assert.True(f.RedisKeys() >= keysBefore + ids.Length, $"{f.RedisKeys()} keys in Redis after {ids.Length} sessions (was {keysBefore})");
        var t2 = await Task.WhenAll(ids.Select(id => Collect(f.Client.Chat(Turn(id, "Lanjut.")))));
        for (int i = 0; i < ids.Length; i++)
            Assert.True(t2[i][^1].Usage.CachedTokens >= t1[i][^1].Usage.PromptTokens / 16 * 16,
                $"{ids[i]}: turn 2 cached {t2[i][^1].Usage.CachedTokens}, turn 1 prompt {t1[i][^1].Usage.PromptTokens}");

        // Stop one silo as an operator would; every session keeps its history and goes on elsewhere.
        Assert.True(f.Silos[1].Terminate(TimeSpan.FromSeconds(30)), "the silo did not stop within 30 s of SIGTERM\n" + f.Silos[1].Output);
        foreach (var id in ids)
        {
            var s = await f.Client.GetSessionAsync(new GetSessionRequest { SessionId = id });
            Assert.Equal(["user", "assistant", "user", "assistant"], s.Messages.Select(m => m.Role));
        }
        var t3 = await Task.WhenAll(ids.Select(id => Collect(f.Client.Chat(Turn(id, "Sekali lagi.")))));
        Assert.All(t3, t => Assert.Equal(5, t.Sum(r => r.TokenIds.Count)));
        var after = await f.Client.GetSessionAsync(new GetSessionRequest { SessionId = ids[0] });
        Assert.Equal(6, after.Messages.Count);
    }

    async Task<List<GenerateResponse>> CollectOrExplain(AsyncServerStreamingCall<GenerateResponse> call)
    {
        try { return await Collect(call); }
        catch (RpcException e) { throw new Xunit.Sdk.XunitException($"a request during the drain failed: {e.Status}\n{f.Gateway.Output}"); }
    }

    [Fact]
    public async Task A_silo_drained_with_sigterm_finishes_its_streams_and_no_request_fails()
    {
        // Long streams across the silos (the router spreads them), then SIGTERM to one silo mid-way.
        var streams = new List<Task<List<GenerateResponse>>>();
        void StartStreams(int n)
        {
            for (int i = 0; i < n; i++)
                streams.Add(Collect(f.Client.Generate(new GenerateRequest
                {
                    Text = $"Cerita panjang nomor {streams.Count}.", Sampling = new SamplingParams { MaxTokens = 6000, IgnoreEos = true, Temperature = 0 },
                })));
        }
        // The victim: a live silo whose engine is running (or queueing) some of them right now, read from its own
        // /metrics; a cold silo process may take a moment to admit its first requests. The router breaks load ties
        // at random from a view refreshed every 100 ms, so a burst can all land on the first silo (which is kept:
        // the other tests' sessions may live there): then another burst goes out, up to three.
        SealionProcess? victim = null;
        var seen = new List<string>();
        using (var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) })
        {
            for (int round = 0; round < 3 && victim is null; round++)
            {
                StartStreams(12);
                await Task.Delay(300);
                var until = DateTime.UtcNow.AddSeconds(10);
                while (victim is null && DateTime.UtcNow < until)
                {
                    foreach (var silo in f.Silos.Where(x => !x.Exited).Skip(1))
                    {
                        try
                        {
                            string m = await http.GetStringAsync($"http://127.0.0.1:{silo.HttpPort}/metrics");
                            double busy = m.Split('\n').Where(l => l.StartsWith("sealion_num_requests_running{") || l.StartsWith("sealion_num_requests_waiting{"))
                                .Sum(l => double.Parse(l.Split(' ')[^1], System.Globalization.CultureInfo.InvariantCulture));
                            if (busy > 0) { victim = silo; break; }
                            seen.Add($"round {round}: {silo.Name} idle");
                        }
                        catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { seen.Add($"round {round}: {silo.Name} {e.GetType().Name}"); }
                    }
                    if (victim is null) await Task.Delay(100);
                }
            }
        }
        Assert.True(victim is not null, $"no silo but the first was running any of {streams.Count} streams; last polls: "
            + string.Join("; ", seen.TakeLast(6)) + "\n" + f.Gateway.Output);
        var stop = Task.Run(() => victim.Terminate(TimeSpan.FromSeconds(60)));
        // While it drains, new requests are served (elsewhere, or by it before it stops taking them).
        for (int i = 0; i < 6; i++)
        {
            var r = await CollectOrExplain(f.Client.Generate(new GenerateRequest { Text = "Halo", Sampling = new SamplingParams { MaxTokens = 4, IgnoreEos = true } }));
            Assert.Equal(4, r.Sum(x => x.TokenIds.Count));
            await Task.Delay(50);
        }
        List<GenerateResponse>[] done;
        try { done = await Task.WhenAll(streams); }
        catch (RpcException e) { throw new Xunit.Sdk.XunitException($"a stream failed: {e.Status}\n{f.Gateway.Output}"); }
        Assert.All(done, d => { Assert.Equal(6000, d.Sum(x => x.TokenIds.Count)); Assert.Equal(FinishReason.Length, d[^1].FinishReason); });
        Assert.True(await stop, "the drained silo did not exit within 60 s of SIGTERM\n" + victim.Output);
        Assert.Contains("draining: waiting up to", victim.Output);   // it had streams when SIGTERM came
        Assert.Contains("drained in", victim.Output);
    }

    [Fact]
    public async Task The_gateway_routes_a_shared_prefix_to_the_engine_that_holds_it()
    {
        var rng = new Random(7);
        int[] prefix = Enumerable.Range(0, 640).Select(_ => rng.Next(1000, 100_000)).ToArray();
        async Task<Usage> Send(int[] suffix)
        {
            var req = new GenerateRequest { TokenIds = new TokenIds(), Sampling = new SamplingParams { MaxTokens = 2, IgnoreEos = true } };
            req.TokenIds.Ids.AddRange(prefix);
            req.TokenIds.Ids.AddRange(suffix);
            return (await Collect(f.Client.Generate(req)))[^1].Usage;
        }
        Assert.Equal(0, (await Send([5, 6, 7])).CachedTokens);
        // With three engines, load-only routing would find the prefix one time in three; each of these must.
        for (int i = 0; i < 4; i++)
            Assert.Equal(640, (await Send([8 + i, 9, 10, 11])).CachedTokens);
    }

    [Fact]
    public async Task A_silo_serves_liveness_readiness_and_the_autoscaling_and_inference_extension_metrics()
    {
        using var http = new HttpClient();
        var silo = f.Silos[0];
        Assert.Equal("alive", await http.GetStringAsync($"http://127.0.0.1:{silo.HttpPort}/livez"));
        Assert.Equal("ok", await http.GetStringAsync($"http://127.0.0.1:{silo.HttpPort}/healthz"));
        string metrics = await http.GetStringAsync($"http://127.0.0.1:{silo.HttpPort}/metrics");
        // The series the HPA scales on (ops/k8s/autoscaling/hpa) and the names the Inference Extension's picker reads.
        foreach (var series in new[] { "sealion_num_requests_waiting{", "sealion_kv_cache_usage_perc{", "vllm:num_requests_waiting{model_name=\"sea-lion-v2\"}",
                     "vllm:num_requests_running{", "vllm:kv_cache_usage_perc{", "vllm:gpu_cache_usage_perc{" })
            Assert.Contains(series, metrics);
        // The rest passes promtool; the vllm: aliases carry the recording-rule colon on purpose (their own lint finding).
        string lint = string.Join("\n", metrics.Split('\n').Where(l => !l.Contains("vllm:", StringComparison.Ordinal)));
        var psi = new ProcessStartInfo("promtool", "check metrics") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        await p.StandardInput.WriteAsync(lint);
        p.StandardInput.Close();
        string output = await p.StandardOutput.ReadToEndAsync() + await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.True(p.ExitCode == 0, "promtool check metrics: " + output);
        Assert.Equal("alive", await http.GetStringAsync($"http://127.0.0.1:{f.Gateway.HttpPort}/livez"));
    }

    [Fact]
    public async Task The_gateway_serves_generate_and_rejects_bad_input_while_staying_up()
    {
        var e = await Assert.ThrowsAsync<RpcException>(() => Collect(f.Client.Generate(new GenerateRequest { Text = "Halo", Sampling = new SamplingParams { MaxTokens = 9000 } })));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("8192", e.Status.Detail);
        var outs = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Collect(f.Client.Generate(new GenerateRequest { Text = "Halo", Sampling = new SamplingParams { MaxTokens = 4, IgnoreEos = true } }))));
        Assert.All(outs, o => Assert.Equal(4, o.Sum(r => r.TokenIds.Count)));
        Assert.False(f.Gateway.Exited);
    }
}

/// <summary>A cluster of its own, one of whose silos is killed with SIGKILL under load, early in the streams.</summary>
public sealed class FailoverTests : IClassFixture<MultiProcessFixture>
{
    readonly MultiProcessFixture f;
    public FailoverTests(MultiProcessFixture f) => this.f = f;

    [Fact]
    public async Task A_silo_killed_early_under_32_streamed_chats_loses_no_stream_no_token_and_no_conversation()
    {
        var r = await BenchFailoverCommand.Measure(f.Client, new Metadata(), "chat", 32, 4000, () => f.Silos[1].Kill(), killAfter: 0.4, reference: true);
        string why = $"{System.Text.Json.JsonSerializer.Serialize(r)}\n{f.Gateway.Output}";
        Assert.True(r.Completed == 32 && r.Errors == 0, "streams lost: " + why);
        Assert.True(r.TokenExact == 32, "a resumed stream differs from the uninterrupted one: " + why);
        Assert.True(r.SessionsStored == 32 && r.NextTurns == 32, "a conversation lost its reply or its next turn: " + why);
        // Some were cut and resumed (the kill came mid-stream), as the gateway's metrics count.
        Assert.True(await Failovers(f, "chat") >= 1, "no stream was resumed: " + why);
        // The pause is the loss's detection (a load poll unanswered, then the watchdog), not Orleans' 30 s response timeout.
        Assert.True(r.PauseAtKillMax is null or < 15, "a client waited too long after the kill: " + why);
    }

    internal static async Task<double> Failovers(MultiProcessFixture f, string kind)
    {
        using var http = new HttpClient();
        string metrics = await http.GetStringAsync($"http://127.0.0.1:{f.Gateway.HttpPort}/metrics");
        var line = metrics.Split('\n').FirstOrDefault(l => l.StartsWith($"sealion_stream_failovers_total{{kind=\"{kind}\"}}", StringComparison.Ordinal));
        return line is null ? 0 : double.Parse(line.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
    }
}

/// <summary>Slower engines (long streams) and a 5 s failover budget: the budget counts from the cut, not from the request's start.</summary>
public sealed class LongStreamFixture : MultiProcessFixture
{
    protected override double SimTimeScale => 0.3;
    protected override string GatewayArgs => "--failover-budget-s 5";
}

public sealed class LateFailoverTests : IClassFixture<LongStreamFixture>
{
    readonly LongStreamFixture f;
    public LateFailoverTests(LongStreamFixture f) => this.f = f;

    [Fact]
    public async Task A_silo_killed_late_in_long_streams_loses_nothing_though_the_streams_ran_past_the_budget()
    {
        // 24 chats and 24 stateless streams of 6,000 tokens (several seconds each); the kill comes 7 s in, past the
        // 5 s budget: a budget counted from the request's start (the defect) would give up on every cut stream.
        var chat = BenchFailoverCommand.Measure(f.Client, new Metadata(), "chat", 24, 6000, () => f.Silos[2].Kill(), killAfter: 7, reference: true);
        var generate = BenchFailoverCommand.Measure(f.Client, new Metadata(), "generate", 24, 6000, null, killAfter: 0, reference: true);
        var both = await Task.WhenAll(chat, generate);
        string why = $"{System.Text.Json.JsonSerializer.Serialize(both)}\n{f.Gateway.Output}";
        Assert.True(both.All(r => !r.Lost && r.Errors == 0), "lost: " + why);
        Assert.True(both[0].KillAt > 5 && both.Max(r => r.Duration) > both[0].KillAt, "the kill did not come late in the streams: " + why);
        Assert.True(await FailoverTests.Failovers(f, "chat") + await FailoverTests.Failovers(f, "generate") >= 1, "no stream was resumed: " + why);
        Assert.True(both.All(r => r.PauseAtKillMax is null or < 15), "a client waited too long after the kill: " + why);
    }
}
