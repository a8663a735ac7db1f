using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using SeaLion.Contracts.V1;
using SeaLion.Silo;

namespace SeaLion.Gateway.Tests;

/// <summary>Chat and sessions through the all-in-one host (TorchSharp engine, tiny model, fp32).</summary>
[Collection("server")]
public sealed class ChatTests(ServerFixture server)
{
    static async Task<List<GenerateResponse>> Collect(AsyncServerStreamingCall<GenerateResponse> call)
    {
        var list = new List<GenerateResponse>();
        await foreach (var r in call.ResponseStream.ReadAllAsync()) list.Add(r);
        return list;
    }

    static ChatRequest Turn(string session, string user, int maxTokens = 6)
    {
        var r = new ChatRequest { SessionId = session, Sampling = new SamplingParams { Temperature = 0, MaxTokens = maxTokens, IgnoreEos = true } };
        r.Messages.Add(new ChatMessage { Role = "user", Content = user });
        return r;
    }

    static Metadata Tenant(string t) => new() { { InferenceService.TenantHeader, t } };

    [Fact]
    public async Task Turn_two_renders_the_whole_history_and_reuses_turn_one_from_the_prefix_cache()
    {
        string id = "chat-" + Guid.NewGuid().ToString("N");
        string first = "Apa kabar? " + string.Join(" ", Enumerable.Repeat("Saya ingin belajar bahasa Thai dan Vietnam.", 8));
        var t1 = await Collect(server.Client.Chat(Turn(id, first)));
        string reply1 = string.Concat(t1.Select(r => r.Text));
        var t2 = await Collect(server.Client.Chat(Turn(id, "Terima kasih.")));

        // Independent of the session grain: the same greedy tokens as Generate over the template rendered by hand.
        var host = server.App.Services.GetRequiredService<EngineHost>();
        var history = new List<SeaLion.Templates.ChatMessage> { new("user", first), new("assistant", reply1), new("user", "Terima kasih.") };
        var prompt = new GenerateRequest { TokenIds = new TokenIds(), Sampling = new SamplingParams { Temperature = 0, MaxTokens = 6, IgnoreEos = true } };
        prompt.TokenIds.Ids.AddRange(host.Tokenizer.Encode(host.Template.Render(history, addGenerationPrompt: true), addBos: false));
        var direct = await Collect(server.Client.Generate(prompt));
        Assert.Equal(direct.SelectMany(r => r.TokenIds), t2.SelectMany(r => r.TokenIds));
        Assert.Equal(prompt.TokenIds.Ids.Count, t2[^1].Usage.PromptTokens);

        // Turn 1's prompt is a prefix of turn 2's: its full blocks come from the cache.
        int blockSize = new SeaLion.Engine.SchedulerOptions().BlockSize;
        int turn1Prompt = t1[^1].Usage.PromptTokens;
        Assert.True(t2[^1].Usage.CachedTokens >= turn1Prompt / blockSize * blockSize && t2[^1].Usage.CachedTokens > 0,
            $"turn 2 cached {t2[^1].Usage.CachedTokens} tokens; turn 1's prompt had {turn1Prompt}");

        var session = await server.Client.GetSessionAsync(new GetSessionRequest { SessionId = id });
        Assert.Equal(["user", "assistant", "user", "assistant"], session.Messages.Select(m => m.Role));
        Assert.Equal(reply1, session.Messages[1].Content);
        Assert.Equal(string.Concat(t2.Select(r => r.Text)), session.Messages[3].Content);

        Assert.True((await server.Client.DeleteSessionAsync(new DeleteSessionRequest { SessionId = id })).Deleted);
        var gone = await Assert.ThrowsAsync<RpcException>(() => server.Client.GetSessionAsync(new GetSessionRequest { SessionId = id }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, gone.StatusCode);
        Assert.False((await server.Client.DeleteSessionAsync(new DeleteSessionRequest { SessionId = id })).Deleted);
    }

    [Fact]
    public async Task Sessions_of_different_tenants_do_not_mix()
    {
        string id = "shared-name";
        await Collect(server.Client.Chat(Turn(id, "Saya dari tim A."), Tenant("team-a")));
        await Collect(server.Client.Chat(Turn(id, "Saya dari tim B."), Tenant("team-b")));
        var a = await server.Client.GetSessionAsync(new GetSessionRequest { SessionId = id }, Tenant("team-a"));
        var b = await server.Client.GetSessionAsync(new GetSessionRequest { SessionId = id }, Tenant("team-b"));
        Assert.Equal("Saya dari tim A.", a.Messages[0].Content);
        Assert.Equal("Saya dari tim B.", b.Messages[0].Content);
        var none = await Assert.ThrowsAsync<RpcException>(() => server.Client.GetSessionAsync(new GetSessionRequest { SessionId = id }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, none.StatusCode);
    }

    public static TheoryData<string, string, string, int, string> BadTurns => new()
    {
        { "", "user", "Halo", 4, "session_id is empty" },
        { "a/b", "user", "Halo", 4, "session_id" },
        { "ok", "robot", "Halo", 4, "messages[0].role is 'robot'" },
        { "ok", "user", "Halo", 9000, "exceeds the context length of 8192" },
        { "ok", "user", "Halo", -3, "max_tokens" },
        { "ok", "user", new string('x', (1 << 20) + 1), 4, "messages[0].content has 1048577 characters" },
    };

    [Theory, MemberData(nameof(BadTurns))]
    public async Task Bad_turns_get_invalid_argument_and_change_nothing(string session, string role, string content, int maxTokens, string mention)
    {
        string id = "bad-" + Guid.NewGuid().ToString("N");
        await Collect(server.Client.Chat(Turn(id, "Halo")));
        var req = new ChatRequest { SessionId = session == "ok" ? id : session, Sampling = new SamplingParams { MaxTokens = maxTokens } };
        req.Messages.Add(new ChatMessage { Role = role, Content = content });
        var e = await Assert.ThrowsAsync<RpcException>(() => Collect(server.Client.Chat(req)));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains(mention, e.Status.Detail);
        var s = await server.Client.GetSessionAsync(new GetSessionRequest { SessionId = id });
        Assert.Equal(2, s.Messages.Count);
        var next = await Collect(server.Client.Chat(Turn(id, "Masih di sini?")));
        Assert.Equal(6, next.Sum(r => r.TokenIds.Count));
    }

    [Fact]
    public async Task A_second_turn_while_one_runs_is_aborted_and_the_first_goes_on()
    {
        string id = "busy-" + Guid.NewGuid().ToString("N");
        // Long enough to outlast the second turn's wait (a new turn waits up to 5 s for one winding down).
        using var first = server.Client.Chat(Turn(id, "Ceritakan panjang lebar.", maxTokens: 1500));
        Assert.True(await first.ResponseStream.MoveNext(CancellationToken.None));
        var e = await Assert.ThrowsAsync<RpcException>(() => Collect(server.Client.Chat(Turn(id, "Dan lagi?"))));
        Assert.Equal(StatusCode.Aborted, e.StatusCode);
        Assert.Contains("turn in progress", e.Status.Detail);
        int tokens = first.ResponseStream.Current.TokenIds.Count;
        while (await first.ResponseStream.MoveNext(CancellationToken.None)) tokens += first.ResponseStream.Current.TokenIds.Count;
        Assert.Equal(1500, tokens);
        Assert.Equal(2, (await server.Client.GetSessionAsync(new GetSessionRequest { SessionId = id })).Messages.Count);
    }

    [Fact]
    public async Task A_cancelled_turn_leaves_the_history_as_it_was()
    {
        string id = "cancel-" + Guid.NewGuid().ToString("N");
        await Collect(server.Client.Chat(Turn(id, "Halo")));
        using var cts = new CancellationTokenSource();
        var call = server.Client.Chat(Turn(id, "Ceritakan panjang lebar.", maxTokens: 2000), cancellationToken: cts.Token);
        int seen = 0;
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await foreach (var _ in call.ResponseStream.ReadAllAsync(cts.Token))
                if (++seen == 2) cts.Cancel();
        });
        var s = await server.Client.GetSessionAsync(new GetSessionRequest { SessionId = id });
        Assert.Equal(2, s.Messages.Count);
        // The session frees itself once the cancelled stream is disposed (ABORTED "turn in progress" until then).
        var deadline = DateTime.UtcNow.AddSeconds(10);
        List<GenerateResponse>? next = null;
        while (next is null)
        {
            try { next = await Collect(server.Client.Chat(Turn(id, "Singkat saja."))); }
            catch (RpcException e) when (e.StatusCode == StatusCode.Aborted && DateTime.UtcNow < deadline) { await Task.Delay(20); }
        }
        Assert.Equal(6, next.Sum(r => r.TokenIds.Count));
        Assert.Equal(4, (await server.Client.GetSessionAsync(new GetSessionRequest { SessionId = id })).Messages.Count);
    }
}
