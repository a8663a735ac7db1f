using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using SeaLion.Cli;
using SeaLion.Contracts.V1;
using SeaLion.Model.Generation;
using SeaLion.Model.Llama;
using SeaLion.Model.Tests;
using SeaLion.Silo;
using SeaLion.Tokenization;
using static TorchSharp.torch;

namespace SeaLion.Gateway.Tests;

/// <summary>The TorchSharp engine on the tiny test model, fp32.</summary>
public sealed class ServerFixture : HostFixture
{
    protected override AllInOneOptions Configure(AllInOneOptions o) => o with
    {
        Model = new ModelOptions { DType = ScalarType.Float32, TensorParallel = 1 },
        Engine = new SeaLion.Engine.EngineOptions { NumBlocks = 128 },
    };
}

[CollectionDefinition("server", DisableParallelization = true)]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>;

[Collection("server")]
public sealed class GatewayTests(ServerFixture server)
{
    static async Task<List<GenerateResponse>> Collect(AsyncServerStreamingCall<GenerateResponse> call)
    {
        var list = new List<GenerateResponse>();
        await foreach (var r in call.ResponseStream.ReadAllAsync()) list.Add(r);
        return list;
    }

    [Fact]
    public async Task Generate_streams_the_same_greedy_tokens_as_the_model_alone()
    {
        int[] prompt = [128000, 9906, 11, 1917, 0];
        var req = new GenerateRequest { TokenIds = new TokenIds(), Sampling = new SamplingParams { Temperature = 0, MaxTokens = 8, IgnoreEos = true } };
        req.TokenIds.Ids.AddRange(prompt);
        var outs = await Collect(server.Client.Generate(req));
        var tokens = outs.SelectMany(o => o.TokenIds).ToArray();
        Assert.Equal(FinishReason.Length, outs[^1].FinishReason);
        Assert.Equal(new Usage { PromptTokens = 5, CachedTokens = 0, GeneratedTokens = 8 }, outs[^1].Usage);
        Assert.All(outs[..^1], o => Assert.Equal(FinishReason.Unspecified, o.FinishReason));

        using var model = LlamaModel.Load(server.ModelDir, new ModelOptions { DType = ScalarType.Float32, TensorParallel = 1 });
        var alone = SequenceGenerator.Generate(model, BpeTokenizer.FromDirectory(server.ModelDir), prompt,
            new Model.Sampling.SamplingParams { Temperature = 0, MaxTokens = 8, IgnoreEos = true }).Select(s => s.TokenId).ToArray();
        Assert.Equal(alone, tokens);
    }

    [Fact]
    public async Task Health_is_serving_at_once_and_metrics_are_exposed()
    {
        var health = new Grpc.Health.V1.Health.HealthClient(server.Channel);
        var status = await health.CheckAsync(new Grpc.Health.V1.HealthCheckRequest());
        Assert.Equal(Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving, status.Status);
        await Collect(server.Client.Generate(new GenerateRequest { Text = "Halo", Sampling = new SamplingParams { MaxTokens = 2 } }));
        var chat = new ChatRequest { SessionId = "metrics-" + Guid.NewGuid().ToString("N"), Sampling = new SamplingParams { MaxTokens = 2 } };
        chat.Messages.Add(new ChatMessage { Role = "user", Content = "Halo" });
        await Collect(server.Client.Chat(chat));
        using var http = new HttpClient();
        Assert.Equal("ok", await http.GetStringAsync($"http://127.0.0.1:{server.HttpPort}/healthz"));
        string metrics = await http.GetStringAsync($"http://127.0.0.1:{server.HttpPort}/metrics");
        Assert.Contains("sealion_generation_tokens_total{engine=\"engine-0\"}", metrics);
        Assert.Contains("sealion_time_to_first_token_seconds_bucket", metrics);
    }

    [Fact]
    public async Task Live_metrics_pass_promtool_and_carry_the_gateway_and_engine_series()
    {
        await Collect(server.Client.Generate(new GenerateRequest { Text = "Halo", Sampling = new SamplingParams { MaxTokens = 2 } }));
        var chat = new ChatRequest { SessionId = "metrics-" + Guid.NewGuid().ToString("N"), Sampling = new SamplingParams { MaxTokens = 2 } };
        chat.Messages.Add(new ChatMessage { Role = "user", Content = "Halo" });
        await Collect(server.Client.Chat(chat));
        using var http = new HttpClient();
        string text = await http.GetStringAsync($"http://127.0.0.1:{server.HttpPort}/metrics");
        foreach (var series in new[] { "sealion_gateway_requests_total", "sealion_gateway_request_duration_seconds_bucket", "sealion_routing_decisions_total",
                     "sealion_num_requests_running", "sealion_kv_cache_usage_perc", "sealion_time_to_first_token_seconds_bucket", "sealion_session_placements_total",
                     "sealion_gc_live_bytes", "sealion_gc_committed_bytes", "sealion_gc_pause_seconds_total", "sealion_gc_last_pause_seconds{kind=\"full_blocking\"}" })
            Assert.Contains(series, text);
        var psi = new System.Diagnostics.ProcessStartInfo("promtool", "check metrics") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = System.Diagnostics.Process.Start(psi)!;   // promtool: Debian package prometheus (./sealion test installs it)
        await p.StandardInput.WriteAsync(text);
        p.StandardInput.Close();
        string output = await p.StandardOutput.ReadToEndAsync() + await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.True(p.ExitCode == 0, "promtool check metrics: " + output);
    }

    [Fact]
    public void Malloc_arenas_are_limited_unless_the_environment_says_otherwise()
    {
        // glibc's mallopt answers 1 only for a parameter it knows, so a mistyped constant fails here.
        Assert.Equal(Environment.GetEnvironmentVariable("MALLOC_ARENA_MAX") is not { Length: > 0 }, SeaLion.Hosting.NativeHeap.LimitArenas());
    }

    [Fact]
    public async Task Rest_request_metrics_are_labelled_by_route_never_by_raw_path()
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{server.HttpPort}") };
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await http.GetAsync("/v1/models/no-such-model-7f3a")).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await http.GetAsync("/v1/no-such-route-7f3a")).StatusCode);
        string text = await http.GetStringAsync("/metrics");
        Assert.Contains("method=\"/v1/models/{id}\"", text);
        Assert.Contains("method=\"unmatched\"", text);
        Assert.DoesNotContain("7f3a", text);
    }

    [Fact]
    public async Task Server_reflection_lists_the_inference_and_health_services()
    {
        var reflection = new Grpc.Reflection.V1Alpha.ServerReflection.ServerReflectionClient(server.Channel);
        using var call = reflection.ServerReflectionInfo();
        await call.RequestStream.WriteAsync(new Grpc.Reflection.V1Alpha.ServerReflectionRequest { ListServices = "" });
        await call.RequestStream.CompleteAsync();
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var names = call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToList();
        Assert.Contains("sealion.v1.Inference", names);
        Assert.Contains("grpc.health.v1.Health", names);
    }

    [Fact]
    public async Task Tokenize_detokenize_and_list_models()
    {
        var t = await server.Client.TokenizeAsync(new TokenizeRequest { Text = "Hello, world!<|eot_id|>" });
        Assert.Equal(new[] { 9906, 11, 1917, 0, 128009 }, t.TokenIds);
        var d = await server.Client.DetokenizeAsync(new DetokenizeRequest { TokenIds = { 9906, 11, 1917, 0 } });
        Assert.Equal("Hello, world!", d.Text);
        var m = await server.Client.ListModelsAsync(new ListModelsRequest());
        Assert.Equal(8192, Assert.Single(m.Models).ContextLength);
    }

    [Theory]
    [InlineData("max_tokens", 9000, 1.0, "8192")]
    [InlineData("temperature", 4, -1.0, "temperature")]
    [InlineData("empty", 4, 1.0, "prompt")]
    public async Task Bad_requests_get_invalid_argument_naming_the_problem_and_the_server_keeps_serving(string kind, int maxTokens, double temperature, string mention)
    {
        var req = new GenerateRequest { Sampling = new SamplingParams { MaxTokens = maxTokens, Temperature = temperature } };
        if (kind != "empty") req.Text = "Selamat pagi";
        var e = await Assert.ThrowsAsync<RpcException>(() => Collect(server.Client.Generate(req)));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains(mention, e.Status.Detail);
        var ok = await Collect(server.Client.Generate(new GenerateRequest { Text = "Selamat pagi", Sampling = new SamplingParams { MaxTokens = 3 } }));
        Assert.Equal(3, ok.Sum(o => o.TokenIds.Count));
    }

    [Fact]
    public async Task A_client_that_cancels_stops_the_generation_on_the_engine()
    {
        using var cts = new CancellationTokenSource();
        var call = server.Client.Generate(new GenerateRequest { Text = "Halo", Sampling = new SamplingParams { MaxTokens = 2000, IgnoreEos = true } }, cancellationToken: cts.Token);
        int seen = 0;
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await foreach (var _ in call.ResponseStream.ReadAllAsync(cts.Token))
                if (++seen == 3) cts.Cancel();
        });
        var engine = server.App.Services.GetRequiredService<EngineHost>().Engine;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (engine.Load.Running + engine.Load.Waiting > 0 && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.Equal(0, engine.Load.Running + engine.Load.Waiting);
        Assert.Equal(128, engine.Load.FreeBlocks);
    }
}
