using SeaLion.Cli;
using Microsoft.AspNetCore.Builder;
using SeaLion.Gateway;
using SeaLion.Gateway.Auth;
using SeaLion.Model.Tests;

namespace SeaLion.Client.Tests;

/// <summary>A second all-in-one host with API keys on: the SDK's bearer key is what the server authenticates.</summary>
public sealed class AuthClusterFixture : IAsyncLifetime
{
    public WebApplication App { get; private set; } = null!;
    public Uri Address { get; private set; } = null!;
    public string AcmeKey { get; private set; } = null!;
    public string GlobexKey { get; private set; } = null!;
    public string LimitedKey { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var acme = ApiKeyEntry.Create("acme", "user", TenantLimits.None);
        var globex = ApiKeyEntry.Create("globex", "user", TenantLimits.None);
        var limited = ApiKeyEntry.Create("tiny", "user", new TenantLimits { RequestsPerMinute = 2 });
        (AcmeKey, GlobexKey, LimitedKey) = (acme.Key, globex.Key, limited.Key);
        int grpc = Ports.Free();
        App = AllInOneHost.Build(new AllInOneOptions
        {
            ModelDir = TestModels.Get(), GrpcPort = grpc, HttpPort = Ports.Free(), SiloPort = Ports.Free(),
            OrleansGatewayPort = Ports.Free(), Simulated = true, SimulatedTimeScale = 0.05,
            Auth = new AuthOptions { Keys = new FileApiKeyStore([acme.Entry, globex.Entry, limited.Entry]) },
        });
        await App.StartAsync();
        Address = new Uri($"http://127.0.0.1:{grpc}");
    }

    public SeaLionClient NewClient(string? apiKey, string? tenant = null) =>
        new(new SeaLionClientOptions { Address = Address, ApiKey = apiKey, Tenant = tenant });

    public async Task DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }
}

[CollectionDefinition("auth-cluster", DisableParallelization = true)]
public sealed class AuthClusterCollection : ICollectionFixture<AuthClusterFixture>;

[Collection("auth-cluster")]
public sealed class AuthTests(AuthClusterFixture cluster)
{
    static readonly GenerationOptions Short = new() { MaxTokens = 3, IgnoreEos = true };

    [Fact]
    public async Task The_api_key_authenticates_and_picks_the_tenant()
    {
        using var acme = cluster.NewClient(cluster.AcmeKey);
        using var globex = cluster.NewClient(cluster.GlobexKey);
        string id = "sdk-auth-" + Guid.NewGuid().ToString("N");
        Assert.Equal(3, (await acme.ChatTextAsync(id, "Halo dari Acme.", Short)).TokenIds.Count);
        Assert.Equal(3, (await acme.GenerateTextAsync("Halo", Short)).TokenIds.Count);
        Assert.Equal("Halo dari Acme.", (await acme.GetSessionAsync(id))!.Messages[0].Content);
        Assert.Null(await globex.GetSessionAsync(id));   // the same session id, another key's tenant
        Assert.True(await acme.DeleteSessionAsync(id));
    }

    [Fact]
    public async Task No_key_a_bad_key_or_another_tenant_are_refused_without_retries()
    {
        using var anonymous = cluster.NewClient(null);
        var none = await Assert.ThrowsAsync<SeaLionException>(() => anonymous.GenerateTextAsync("Halo", Short));
        Assert.Equal(SeaLionStatusCode.Unauthenticated, none.StatusCode);
        Assert.Contains("Authorization", none.Detail);
        Assert.Equal(1, none.Attempts);

        using var wrong = cluster.NewClient("sk-sealion-not-a-key");
        Assert.Equal(SeaLionStatusCode.Unauthenticated, (await Assert.ThrowsAsync<SeaLionException>(() => wrong.ListModelsAsync())).StatusCode);

        using var impostor = cluster.NewClient(cluster.AcmeKey, tenant: "globex");
        var forbidden = await Assert.ThrowsAsync<SeaLionException>(() => impostor.GetSessionAsync("x"));
        Assert.Equal(SeaLionStatusCode.PermissionDenied, forbidden.StatusCode);
    }

    [Fact]
    public async Task Over_the_rate_limit_is_ResourceExhausted_with_retry_after()
    {
        using var limited = cluster.NewClient(cluster.LimitedKey);
        await limited.ListModelsAsync();
        await limited.TokenizeAsync("Halo");
        var e = await Assert.ThrowsAsync<SeaLionException>(() => limited.GenerateTextAsync("Halo", Short));
        Assert.Equal(SeaLionStatusCode.ResourceExhausted, e.StatusCode);
        Assert.Equal(1, e.Attempts);
        Assert.NotNull(e.RetryAfter);
        Assert.InRange(e.RetryAfter.Value, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));
    }
}
