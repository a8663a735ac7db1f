using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Grpc.Core;
using SeaLion.Cli;
using SeaLion.Contracts.V1;
using SeaLion.Gateway.Auth;

namespace SeaLion.Gateway.Tests;

/// <summary>A host with API keys: two user keys of different tenants (one with tight limits) and an admin key.</summary>
public sealed class AuthServerFixture : HostFixture
{
    public string KeyA { get; }
    public string KeyB { get; }
    public string KeyLimited { get; }
    public string Admin { get; }
    readonly ApiKeyEntry[] _entries;

    public AuthServerFixture()
    {
        var a = ApiKeyEntry.Create("tenant-a", "user", TenantLimits.None);
        var b = ApiKeyEntry.Create("tenant-b", "user", TenantLimits.None);
        var l = ApiKeyEntry.Create("tenant-l", "user", new TenantLimits { RequestsPerMinute = 4, ConcurrentStreams = 1 });
        var admin = ApiKeyEntry.Create("ops", "admin", TenantLimits.None);
        (KeyA, KeyB, KeyLimited, Admin) = (a.Key, b.Key, l.Key, admin.Key);
        _entries = [a.Entry, b.Entry, l.Entry, admin.Entry];
    }

    protected override AllInOneOptions Configure(AllInOneOptions o) => o with
    {
        Simulated = true, SimulatedTimeScale = 0.01, Auth = new AuthOptions { Keys = new FileApiKeyStore(_entries) },
    };

    public static Metadata Key(string key, string? tenant = null)
    {
        var m = new Metadata { { "authorization", "Bearer " + key } };
        if (tenant is not null) m.Add(Authenticator.TenantHeader, tenant);
        return m;
    }
}

[CollectionDefinition("auth-server", DisableParallelization = true)]
public sealed class AuthServerCollection : ICollectionFixture<AuthServerFixture>;

[Collection("auth-server")]
public sealed class AuthTests(AuthServerFixture f)
{
    static async Task<List<GenerateResponse>> Collect(AsyncServerStreamingCall<GenerateResponse> call)
    {
        var list = new List<GenerateResponse>();
        await foreach (var r in call.ResponseStream.ReadAllAsync()) list.Add(r);
        return list;
    }

    static ChatRequest Turn(string session, string text)
    {
        var r = new ChatRequest { SessionId = session, Sampling = new SamplingParams { MaxTokens = 3 } };
        r.Messages.Add(new ChatMessage { Role = "user", Content = text });
        return r;
    }

    [Fact]
    public async Task Calls_without_a_valid_key_are_unauthenticated_and_health_stays_open()
    {
        var none = await Assert.ThrowsAsync<RpcException>(() => f.Client.TokenizeAsync(new TokenizeRequest { Text = "x" }).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, none.StatusCode);
        Assert.Contains("Authorization: Bearer", none.Status.Detail);
        var wrong = await Assert.ThrowsAsync<RpcException>(() => f.Client.TokenizeAsync(new TokenizeRequest { Text = "x" }, AuthServerFixture.Key("sk-sealion-wrong")).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, wrong.StatusCode);
        var stream = await Assert.ThrowsAsync<RpcException>(() => Collect(f.Client.Generate(new GenerateRequest { Text = "x" })));
        Assert.Equal(StatusCode.Unauthenticated, stream.StatusCode);
        var health = await new Grpc.Health.V1.Health.HealthClient(f.Channel).CheckAsync(new Grpc.Health.V1.HealthCheckRequest());
        Assert.Equal(Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving, health.Status);
        Assert.NotEmpty((await f.Client.TokenizeAsync(new TokenizeRequest { Text = "Halo" }, AuthServerFixture.Key(f.KeyA))).TokenIds);
    }

    [Fact]
    public async Task No_key_reads_or_continues_another_tenants_session()
    {
        string id = "shared-" + Guid.NewGuid().ToString("N")[..8];
        await Collect(f.Client.Chat(Turn(id, "Rahasia tim A."), AuthServerFixture.Key(f.KeyA)));
        var fromB = await Assert.ThrowsAsync<RpcException>(() => f.Client.GetSessionAsync(new GetSessionRequest { SessionId = id }, AuthServerFixture.Key(f.KeyB)).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, fromB.StatusCode);
        // B naming A's tenant is refused; B's own turn on the same id is B's own session.
        var spoof = await Assert.ThrowsAsync<RpcException>(() => f.Client.GetSessionAsync(new GetSessionRequest { SessionId = id }, AuthServerFixture.Key(f.KeyB, "tenant-a")).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, spoof.StatusCode);
        await Collect(f.Client.Chat(Turn(id, "Halo dari B."), AuthServerFixture.Key(f.KeyB)));
        var b = await f.Client.GetSessionAsync(new GetSessionRequest { SessionId = id }, AuthServerFixture.Key(f.KeyB));
        Assert.Equal("Halo dari B.", b.Messages[0].Content);
        var a = await f.Client.GetSessionAsync(new GetSessionRequest { SessionId = id }, AuthServerFixture.Key(f.KeyA));
        Assert.Equal("Rahasia tim A.", a.Messages[0].Content);
        // An admin key may act for a tenant.
        var asAdmin = await f.Client.GetSessionAsync(new GetSessionRequest { SessionId = id }, AuthServerFixture.Key(f.Admin, "tenant-a"));
        Assert.Equal("Rahasia tim A.", asAdmin.Messages[0].Content);
    }

    [Fact]
    public async Task Limits_answer_resource_exhausted_with_retry_after_and_other_tenants_are_unaffected()
    {
        var key = AuthServerFixture.Key(f.KeyLimited);
        // One stream at a time: a second concurrent stream is refused.
        using var first = f.Client.Generate(new GenerateRequest { Text = "Halo", Sampling = new SamplingParams { MaxTokens = 2000, IgnoreEos = true } }, key);
        Assert.True(await first.ResponseStream.MoveNext(CancellationToken.None));
        var second = await Assert.ThrowsAsync<RpcException>(() => Collect(f.Client.Generate(new GenerateRequest { Text = "Halo", Sampling = new SamplingParams { MaxTokens = 2 } }, key)));
        Assert.Equal(StatusCode.ResourceExhausted, second.StatusCode);
        Assert.Contains("limit is 1", second.Status.Detail);
        first.Dispose();
        // Four requests a minute: the fifth within the minute is refused, with when to retry.
        RpcException? limited = null;
        for (int i = 0; i < 6 && limited is null; i++)
        {
            try { await f.Client.TokenizeAsync(new TokenizeRequest { Text = "x" }, key); }
            catch (RpcException e) { limited = e; }
        }
        Assert.NotNull(limited);
        Assert.Equal(StatusCode.ResourceExhausted, limited.StatusCode);
        Assert.Contains("4 requests per minute", limited.Status.Detail);
        Assert.True(int.Parse(limited.Trailers.GetValue("retry-after")!) is >= 1 and <= 60);
        Assert.NotEmpty((await f.Client.TokenizeAsync(new TokenizeRequest { Text = "Halo" }, AuthServerFixture.Key(f.KeyA))).TokenIds);
    }

    [Fact]
    public async Task The_rest_api_takes_the_same_keys_and_answers_in_openais_error_shape()
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{f.HttpPort}") };
        var body = new StringContent("{\"model\":\"sea-lion-v2\",\"messages\":[{\"role\":\"user\",\"content\":\"Halo\"}],\"max_tokens\":2}", Encoding.UTF8, "application/json");
        var anon = await http.PostAsync("/v1/chat/completions", body);
        Assert.Equal(HttpStatusCode.Unauthorized, anon.StatusCode);
        Assert.Contains("\"code\":\"invalid_api_key\"", await anon.Content.ReadAsStringAsync());

        var req = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = body };
        req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", f.KeyB);
        var ok = await http.SendAsync(req);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);

        var models = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        models.Headers.Authorization = new AuthenticationHeaderValue("Bearer", f.KeyA);
        Assert.Contains("sea-lion-v2", await (await http.SendAsync(models)).Content.ReadAsStringAsync());
    }

    static HttpRequestMessage RestTurn(string key, string session, string text, string? tenant = null)
    {
        var req = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent($"{{\"model\":\"sea-lion-v2\",\"messages\":[{{\"role\":\"user\",\"content\":\"{text}\"}}],\"max_tokens\":2}}", Encoding.UTF8, "application/json"),
        };
        req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        req.Headers.Add("X-SeaLion-Session", session);
        if (tenant is not null) req.Headers.Add(Authenticator.TenantHeader, tenant);
        return req;
    }

    /// <summary>
    /// Every API that names a session, called by tenant B on tenant A's session id: none reads, continues, deletes or
    /// observes A's (each acts on B's own session of that name, or is refused), B naming A's tenant is refused on
    /// each, and only an admin acting for A reaches it. (The metrics carry no tenant or session labels, and requests
    /// are cancelled only by their own caller's stream, so neither is a way across.)
    /// </summary>
    [Fact]
    public async Task Tenant_isolation_holds_on_every_api_that_names_a_session()
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{f.HttpPort}") };
        string id = "iso-" + Guid.NewGuid().ToString("N")[..8];
        await Collect(f.Client.Chat(Turn(id, "Rahasia A."), AuthServerFixture.Key(f.KeyA)));
        async Task<string[]> AHistory() =>
            [.. (await f.Client.GetSessionAsync(new GetSessionRequest { SessionId = id }, AuthServerFixture.Key(f.KeyA))).Messages.Select(m => m.Content)];
        var before = await AHistory();

        // gRPC: B reads, deletes, continues; REST: B continues through X-SeaLion-Session.
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() =>
            f.Client.GetSessionAsync(new GetSessionRequest { SessionId = id }, AuthServerFixture.Key(f.KeyB)).ResponseAsync)).StatusCode);
        var deleted = await f.Client.DeleteSessionAsync(new DeleteSessionRequest { SessionId = id }, AuthServerFixture.Key(f.KeyB));
        Assert.False(deleted.Deleted);
        var bTurn = await Collect(f.Client.Chat(Turn(id, "Dari B."), AuthServerFixture.Key(f.KeyB)));
        Assert.True(bTurn[^1].Usage.PromptTokens < 40, $"B's first turn saw {bTurn[^1].Usage.PromptTokens} prompt tokens: A's history leaked into it");
        var rest = await http.SendAsync(RestTurn(f.KeyB, id, "Lagi dari B."));
        Assert.Equal(HttpStatusCode.OK, rest.StatusCode);
        Assert.Equal(before, await AHistory());
        var bHistory = await f.Client.GetSessionAsync(new GetSessionRequest { SessionId = id }, AuthServerFixture.Key(f.KeyB));
        Assert.Equal(["Dari B.", "Lagi dari B."], bHistory.Messages.Where(m => m.Role == "user").Select(m => m.Content));

        // B naming A's tenant: refused on every API, nothing changed.
        var spoof = AuthServerFixture.Key(f.KeyB, "tenant-a");
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(() => f.Client.GetSessionAsync(new GetSessionRequest { SessionId = id }, spoof).ResponseAsync)).StatusCode);
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(() => f.Client.DeleteSessionAsync(new DeleteSessionRequest { SessionId = id }, spoof).ResponseAsync)).StatusCode);
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(() => Collect(f.Client.Chat(Turn(id, "Menyamar."), spoof)))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await http.SendAsync(RestTurn(f.KeyB, id, "Menyamar.", "tenant-a"))).StatusCode);
        Assert.Equal(before, await AHistory());

        // An admin acting for A reaches A's session (and the gateway logs it: see the unit test below).
        var admin = AuthServerFixture.Key(f.Admin, "tenant-a");
        Assert.Equal(before, (await f.Client.GetSessionAsync(new GetSessionRequest { SessionId = id }, admin)).Messages.Select(m => m.Content));
        Assert.True((await f.Client.DeleteSessionAsync(new DeleteSessionRequest { SessionId = id }, admin)).Deleted);
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() =>
            f.Client.GetSessionAsync(new GetSessionRequest { SessionId = id }, AuthServerFixture.Key(f.KeyA)).ResponseAsync)).StatusCode);
        // B's own session of that name is untouched by all of it.
        Assert.Equal(2, (await f.Client.GetSessionAsync(new GetSessionRequest { SessionId = id }, AuthServerFixture.Key(f.KeyB))).Messages.Count(m => m.Role == "user"));
    }

    [Fact]
    public async Task An_admin_acting_for_another_tenant_is_logged_and_a_user_key_never_can()
    {
        var user = ApiKeyEntry.Create("t-user", "user", TenantLimits.None);
        var admin = ApiKeyEntry.Create("t-ops", "admin", TenantLimits.None);
        var log = new ListLogger();
        var auth = new Authenticator(new AuthOptions { Keys = new FileApiKeyStore([user.Entry, admin.Entry]) }, log);
        Assert.Equal("t-user", (await auth.AuthenticateAsync("Bearer " + user.Key, null)).Tenant);
        Assert.True((await Assert.ThrowsAsync<AuthException>(() => auth.AuthenticateAsync("Bearer " + user.Key, "t-other").AsTask())).Forbidden);
        Assert.Empty(log.Lines);
        Assert.Equal("t-other", (await auth.AuthenticateAsync("Bearer " + admin.Key, "t-other")).Tenant);
        var line = Assert.Single(log.Lines);
        Assert.Contains("'t-ops'", line);
        Assert.Contains("acts for tenant 't-other'", line);
        Assert.DoesNotContain(admin.Key, line);
    }

    sealed class ListLogger : Microsoft.Extensions.Logging.ILogger<Authenticator>
    {
        public List<string> Lines { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;
        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add(formatter(state, exception));
    }
}
