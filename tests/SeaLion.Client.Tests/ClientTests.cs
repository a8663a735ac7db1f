using SeaLion.Cli;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using SeaLion.Silo;

namespace SeaLion.Client.Tests;

/// <summary>The SDK against the real all-in-one host: every typed call, errors, cancellation, deadlines, retries, headers, DI.</summary>
[Collection("cluster")]
public sealed class ClientTests(ClusterFixture cluster) : IDisposable
{
    const string Prompt = "Halo dunia, apa kabar hari ini?";
    readonly SeaLionClient client = cluster.NewClient();

    public void Dispose() => client.Dispose();

    static string NewId(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N");

    static async Task<List<GenerationChunk>> Collect(IAsyncEnumerable<GenerationChunk> stream)
    {
        var list = new List<GenerationChunk>();
        await foreach (var c in stream) list.Add(c);
        return list;
    }

    [Fact]
    public async Task Generate_streams_tokens_with_finish_reason_and_usage()
    {
        var options = new GenerationOptions { Seed = 7, MaxTokens = 12, IgnoreEos = true, RequestId = "sdk-req-1" };
        var chunks = await Collect(client.GenerateAsync(Prompt, options));
        var promptIds = await client.TokenizeAsync(Prompt);

        Assert.Equal(12, chunks.Sum(c => c.TokenIds.Count));
        Assert.All(chunks, c => Assert.Equal("sdk-req-1", c.RequestId));
        Assert.All(chunks[..^1], c => { Assert.Null(c.FinishReason); Assert.Null(c.Usage); });
        Assert.Equal(FinishReason.Length, chunks[^1].FinishReason);
        Assert.Equal(new TokenUsage(promptIds.Count, chunks[^1].Usage!.CachedTokens, 12), chunks[^1].Usage);

        // Same seed, same prompt given as ids: the same tokens.
        var byIds = await Collect(client.GenerateAsync(promptIds, options with { RequestId = null }));
        Assert.Equal(chunks.SelectMany(c => c.TokenIds), byIds.SelectMany(c => c.TokenIds));
        Assert.NotEqual("sdk-req-1", byIds[0].RequestId);
    }

    [Fact]
    public async Task GenerateText_collects_the_same_stream()
    {
        var options = new GenerationOptions { Seed = 11, MaxTokens = 9, IgnoreEos = true };
        var chunks = await Collect(client.GenerateAsync(Prompt, options));
        var result = await client.GenerateTextAsync(Prompt, options);
        Assert.Equal(string.Concat(chunks.Select(c => c.Text)), result.Text);
        Assert.Equal(chunks.SelectMany(c => c.TokenIds), result.TokenIds);
        Assert.Equal(FinishReason.Length, result.FinishReason);
        Assert.Equal(9, result.Usage.GeneratedTokens);
        Assert.Equal(result.Usage.PromptTokens, (await client.TokenizeAsync(Prompt)).Count);

        var fromIds = await client.GenerateTextAsync(await client.TokenizeAsync(Prompt), options);
        Assert.Equal(result.TokenIds, fromIds.TokenIds);
    }

    [Fact]
    public async Task Chat_two_turns_reuse_the_cache_and_the_session_holds_four_messages()
    {
        string id = NewId("sdk-chat");
        string first = "Apa kabar? " + string.Join(" ", Enumerable.Repeat("Saya ingin belajar bahasa Thai dan Vietnam.", 10));
        Assert.True((await client.TokenizeAsync(first)).Count >= 100);
        var greedy = new GenerationOptions { Temperature = 0, MaxTokens = 6, IgnoreEos = true };

        var turn1 = await Collect(client.ChatAsync(id, [ChatMessage.User(first)], greedy));
        Assert.Equal(6, turn1.Sum(c => c.TokenIds.Count));
        var turn2 = await client.ChatTextAsync(id, "Terima kasih.", greedy);
        Assert.Equal(6, turn2.Usage.GeneratedTokens);
        Assert.True(turn2.Usage.PromptTokens > turn1[^1].Usage!.PromptTokens);
        Assert.True(turn2.Usage.CachedTokens > 0, $"turn 2 cached {turn2.Usage.CachedTokens} of {turn2.Usage.PromptTokens} prompt tokens");

        var session = await client.GetSessionAsync(id);
        Assert.NotNull(session);
        Assert.Equal(id, session.SessionId);
        Assert.Equal(["user", "assistant", "user", "assistant"], session.Messages.Select(m => m.Role));
        Assert.Equal(ChatMessage.User(first), session.Messages[0]);
        Assert.Equal(ChatMessage.Assistant(string.Concat(turn1.Select(c => c.Text))), session.Messages[1]);
        Assert.Equal(turn2.Text, session.Messages[3].Content);

        Assert.True(await client.DeleteSessionAsync(id));
        Assert.Null(await client.GetSessionAsync(id));
        Assert.False(await client.DeleteSessionAsync(id));
    }

    [Fact]
    public async Task Chat_accepts_a_system_message_and_history_in_one_turn()
    {
        string id = NewId("sdk-sys");
        var r = await client.ChatTextAsync(id, [ChatMessage.System("Jawab singkat."), ChatMessage.User("Halo")], new GenerationOptions { MaxTokens = 3, IgnoreEos = true });
        Assert.Equal(3, r.TokenIds.Count);
        Assert.Equal(["system", "user", "assistant"], (await client.GetSessionAsync(id))!.Messages.Select(m => m.Role));
        Assert.True(await client.DeleteSessionAsync(id));
    }

    [Fact]
    public async Task Tokenize_and_detokenize_round_trip_and_list_models()
    {
        string text = "Selamat pagi! สวัสดี Xin chào 👋";
        var ids = await client.TokenizeAsync(text);
        Assert.NotEmpty(ids);
        Assert.Equal(text, await client.DetokenizeAsync(ids));
        var withBos = await client.TokenizeAsync(text, addBos: true);
        Assert.Equal(128000, withBos[0]);
        Assert.Equal(ids, withBos.Skip(1));
        Assert.Equal(text, await client.DetokenizeAsync(withBos, skipSpecialTokens: true));

        var models = await client.ListModelsAsync();
        var m = Assert.Single(models);
        Assert.Equal(new ModelInfo("sea-lion-v2", 8192, 128256), m);
    }

    [Fact]
    public async Task Bad_input_surfaces_as_SeaLionException_naming_the_field()
    {
        var over = await Assert.ThrowsAsync<SeaLionException>(() => client.GenerateTextAsync(Prompt, new GenerationOptions { MaxTokens = 9000 }));
        Assert.Equal(SeaLionStatusCode.InvalidArgument, over.StatusCode);
        Assert.Contains("8192", over.Detail);
        Assert.Contains("8192", over.Message);
        Assert.False(over.AfterFirstToken);
        Assert.Equal(1, over.Attempts);

        var temp = await Assert.ThrowsAsync<SeaLionException>(() => Collect(client.GenerateAsync(Prompt, new GenerationOptions { Temperature = -1 })));
        Assert.Equal(SeaLionStatusCode.InvalidArgument, temp.StatusCode);
        Assert.Contains("temperature", temp.Detail);

        var role = await Assert.ThrowsAsync<SeaLionException>(() => client.ChatTextAsync(NewId("sdk-bad"), [new ChatMessage("robot", "Halo")]));
        Assert.Contains("messages[0].role", role.Detail);

        var model = await Assert.ThrowsAsync<SeaLionException>(() => client.GenerateTextAsync(Prompt, new GenerationOptions { Model = "no-such-model" }));
        Assert.Equal(SeaLionStatusCode.NotFound, model.StatusCode);
        var detok = await Assert.ThrowsAsync<SeaLionException>(() => client.DetokenizeAsync([-5]));
        Assert.Equal(SeaLionStatusCode.InvalidArgument, detok.StatusCode);

        // The server still serves.
        Assert.Equal(3, (await client.GenerateTextAsync(Prompt, new GenerationOptions { MaxTokens = 3, IgnoreEos = true })).TokenIds.Count);
    }

    [Fact]
    public async Task A_second_turn_while_one_runs_is_aborted_not_retried()
    {
        string id = NewId("sdk-busy");
        await using var first = client.ChatAsync(id, "Ceritakan panjang lebar.", new GenerationOptions { MaxTokens = 1500, IgnoreEos = true }).GetAsyncEnumerator();
        Assert.True(await first.MoveNextAsync());
        var e = await Assert.ThrowsAsync<SeaLionException>(() => client.ChatTextAsync(id, "Dan lagi?"));
        Assert.Equal(SeaLionStatusCode.Aborted, e.StatusCode);
        Assert.Equal(1, e.Attempts);
        int tokens = first.Current.TokenIds.Count;
        while (await first.MoveNextAsync()) tokens += first.Current.TokenIds.Count;
        Assert.Equal(1500, tokens);
        Assert.Equal(2, (await client.GetSessionAsync(id))!.Messages.Count);
    }

    [Fact]
    public async Task Cancelling_mid_stream_throws_OperationCanceled_and_stops_the_engine()
    {
        using var cts = new CancellationTokenSource();
        int seen = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in client.GenerateAsync(Prompt, new GenerationOptions { MaxTokens = 8000, IgnoreEos = true }, cts.Token))
                if (++seen == 3) cts.Cancel();
        });
        Assert.Equal(3, seen);
        await AssertEngineIdle();

        // WithCancellation works the same.
        using var cts2 = new CancellationTokenSource();
        seen = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in client.GenerateAsync(Prompt, new GenerationOptions { MaxTokens = 8000, IgnoreEos = true }).WithCancellation(cts2.Token))
                if (++seen == 2) cts2.Cancel();
        });
        Assert.Equal(2, seen);
        await AssertEngineIdle();
    }

    [Fact]
    public async Task Leaving_the_loop_early_ends_the_server_stream()
    {
        await foreach (var c in client.GenerateAsync(Prompt, new GenerationOptions { MaxTokens = 8000, IgnoreEos = true }))
            break;
        await AssertEngineIdle();
    }

    async Task AssertEngineIdle()
    {
        var engine = cluster.App.Services.GetRequiredService<EngineHost>().Engine;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (engine.Load.Running + engine.Load.Waiting > 0 && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.Equal(0, engine.Load.Running + engine.Load.Waiting);
    }

    [Fact]
    public async Task A_deadline_that_expires_surfaces_DeadlineExceeded()
    {
        var sw = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<SeaLionException>(() =>
            client.GenerateTextAsync(Prompt, new GenerationOptions { MaxTokens = 8000, IgnoreEos = true, Deadline = TimeSpan.FromMilliseconds(300) }));
        Assert.Equal(SeaLionStatusCode.DeadlineExceeded, e.StatusCode);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"took {sw.Elapsed}");

        using var bounded = cluster.NewClient(o => o.DefaultDeadline = TimeSpan.FromMilliseconds(300));
        var d = await Assert.ThrowsAsync<SeaLionException>(() => Collect(bounded.GenerateAsync(Prompt, new GenerationOptions { MaxTokens = 8000, IgnoreEos = true })));
        Assert.Equal(SeaLionStatusCode.DeadlineExceeded, d.StatusCode);
        // A per-call deadline overrides the client's default; short calls fit.
        Assert.Equal(4, (await bounded.GenerateTextAsync(Prompt, new GenerationOptions { MaxTokens = 4, IgnoreEos = true, Deadline = TimeSpan.FromSeconds(30) })).TokenIds.Count);
        Assert.Single(await bounded.ListModelsAsync());
        await AssertEngineIdle();
    }

    [Fact]
    public async Task Unavailable_before_the_first_token_is_retried_until_it_works()
    {
        string tenant = NewId("flaky");
        using var flaky = cluster.NewClient(o => o.Tenant = tenant);
        var r = await flaky.GenerateTextAsync(Prompt, new GenerationOptions { MaxTokens = 5, IgnoreEos = true });
        Assert.Equal(5, r.TokenIds.Count);
        Assert.Equal(3, cluster.CallsFor(tenant));   // two UNAVAILABLE, then served

        string unaryTenant = NewId("flaky");
        using var flakyUnary = cluster.NewClient(o => o.Tenant = unaryTenant);
        Assert.Single(await flakyUnary.ListModelsAsync());
        Assert.Equal(3, cluster.CallsFor(unaryTenant));

        string fewTenant = NewId("flaky");
        using var few = cluster.NewClient(o => { o.Tenant = fewTenant; o.MaxRetries = 1; });
        var e = await Assert.ThrowsAsync<SeaLionException>(() => few.GenerateTextAsync(Prompt, new GenerationOptions { MaxTokens = 5 }));
        Assert.Equal(SeaLionStatusCode.Unavailable, e.StatusCode);
        Assert.Equal(2, e.Attempts);
        Assert.False(e.AfterFirstToken);
        Assert.Equal(2, cluster.CallsFor(fewTenant));
    }

    [Fact]
    public async Task A_failure_after_the_first_token_is_surfaced_when_resumption_is_off()
    {
        string tenant = NewId("cut");
        using var cut = cluster.NewClient(o => { o.Tenant = tenant; o.ResumeStreams = false; });
        int tokens = 0;
        var e = await Assert.ThrowsAsync<SeaLionException>(async () =>
        {
            await foreach (var c in cut.GenerateAsync(Prompt, new GenerationOptions { MaxTokens = 8000, IgnoreEos = true }))
                tokens += c.TokenIds.Count;
        });
        Assert.True(e.AfterFirstToken);
        Assert.True(tokens > 0);
        Assert.True(tokens < 8000);
        Assert.NotEqual(SeaLionStatusCode.OK, e.StatusCode);
        Assert.Equal(1, cluster.CallsFor(tenant));
        await AssertEngineIdle();
    }

    [Fact]
    public async Task A_stream_cut_every_time_is_resumed_MaxRetries_times_then_surfaced()
    {
        string tenant = NewId("cut");
        using var cut = cluster.NewClient(o => { o.Tenant = tenant; o.MaxRetries = 2; });
        int tokens = 0;
        var e = await Assert.ThrowsAsync<SeaLionException>(async () =>
        {
            await foreach (var c in cut.GenerateAsync(Prompt, new GenerationOptions { MaxTokens = 8000, IgnoreEos = true }))
                tokens += c.TokenIds.Count;
        });
        Assert.True(e.AfterFirstToken);
        Assert.Equal(3, cluster.CallsFor(tenant));   // the first call and two resumptions, each cut 200 ms in
        Assert.True(tokens is > 0 and < 8000);
        await AssertEngineIdle();
    }

    [Fact]
    public async Task Nothing_listening_gives_Unavailable_after_MaxRetries_with_backoff()
    {
        var dead = new Uri($"http://127.0.0.1:{Ports.Free()}");
        using var down = new SeaLionClient(new SeaLionClientOptions { Address = dead, MaxRetries = 3 });
        var sw = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<SeaLionException>(() => down.GenerateTextAsync(Prompt));
        Assert.Equal(SeaLionStatusCode.Unavailable, e.StatusCode);
        Assert.Equal(4, e.Attempts);
        // Backoff with jitter: at least 50 + 100 + 200 ms between the four attempts.
        Assert.True(sw.Elapsed >= TimeSpan.FromMilliseconds(350), $"took {sw.Elapsed}");

        sw.Restart();
        var u = await Assert.ThrowsAsync<SeaLionException>(() => down.ListModelsAsync());
        Assert.Equal(SeaLionStatusCode.Unavailable, u.StatusCode);
        Assert.Equal(4, u.Attempts);
        Assert.True(sw.Elapsed >= TimeSpan.FromMilliseconds(350), $"took {sw.Elapsed}");

        using var noRetry = new SeaLionClient(new SeaLionClientOptions { Address = dead, MaxRetries = 0 });
        Assert.Equal(1, (await Assert.ThrowsAsync<SeaLionException>(() => noRetry.ListModelsAsync())).Attempts);
    }

    [Fact]
    public async Task Api_key_and_tenant_headers_reach_the_server()
    {
        string key = NewId("sk-test");
        using var keyed = cluster.NewClient(o => { o.ApiKey = key; o.Tenant = "team-a"; });
        await keyed.ListModelsAsync();
        await keyed.GenerateTextAsync(Prompt, new GenerationOptions { MaxTokens = 2 });
        var seen = cluster.Seen.Where(s => s.Authorization == "Bearer " + key).ToArray();
        Assert.Equal(["/sealion.v1.Inference/ListModels", "/sealion.v1.Inference/Generate"], seen.Select(s => s.Path));
        Assert.All(seen, s => Assert.Equal("team-a", s.Tenant));

        // Without options set, neither header is sent.
        string text = NewId("plain");
        await client.TokenizeAsync(text);
        Assert.Contains(cluster.Seen, s => s.Path == "/sealion.v1.Inference/Tokenize" && s.Authorization is null && s.Tenant is null);

        // The tenant scopes sessions on the server.
        string id = NewId("sdk-tenant");
        using var teamB = cluster.NewClient(o => o.Tenant = "team-b");
        await keyed.ChatTextAsync(id, "Saya dari tim A.", new GenerationOptions { MaxTokens = 2 });
        Assert.Null(await teamB.GetSessionAsync(id));
        Assert.Null(await client.GetSessionAsync(id));
        Assert.Equal("Saya dari tim A.", (await keyed.GetSessionAsync(id))!.Messages[0].Content);
        Assert.False(await teamB.DeleteSessionAsync(id));
        Assert.True(await keyed.DeleteSessionAsync(id));
    }

    [Fact]
    public async Task AddSeaLionClient_resolves_one_working_client()
    {
        var services = new ServiceCollection();
        services.AddSeaLionClient(o => { o.Address = cluster.Address; o.Tenant = "di-tenant"; o.MaxRetries = 1; });
        await using var provider = services.BuildServiceProvider();
        var a = provider.GetRequiredService<SeaLionClient>();
        Assert.Same(a, provider.GetRequiredService<SeaLionClient>());
        var options = provider.GetRequiredService<IOptions<SeaLionClientOptions>>().Value;
        Assert.Equal(cluster.Address, options.Address);
        Assert.Equal("di-tenant", a.Options.Tenant);
        Assert.Equal(1, a.Options.MaxRetries);
        Assert.Equal("sea-lion-v2", Assert.Single(await a.ListModelsAsync()).Name);
        Assert.Equal(3, (await a.GenerateTextAsync(Prompt, new GenerationOptions { MaxTokens = 3, IgnoreEos = true })).TokenIds.Count);
    }
}
