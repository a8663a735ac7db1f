using SeaLion.Cli;
using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using SeaLion.Gateway;
using SeaLion.Model.Tests;

namespace SeaLion.Client.Tests;

/// <summary>What the server saw of one request: its gRPC method and the SDK's headers.</summary>
public sealed record SeenRequest(string Path, string? Authorization, string? Tenant);

/// <summary>
/// A real all-in-one host (Orleans silo, Kestrel gRPC gateway, the simulated H100 engine at 1/20 of real time) on free
/// loopback ports. A middleware in front of the gateway records each request's headers, and for two test tenants
/// plays a flaky network: <c>flaky-*</c> gets UNAVAILABLE (a trailers-only gRPC response) on its first two calls;
/// <c>cut-*</c> has its HTTP/2 stream reset 200 ms after the response started, i.e. mid-generation.
/// </summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public WebApplication App { get; private set; } = null!;
    public Uri Address { get; private set; } = null!;
    /// <summary>The OpenAI REST port of the same host.</summary>
    public int HttpPort { get; private set; }
    public ConcurrentQueue<SeenRequest> Seen { get; } = new();
    readonly ConcurrentDictionary<string, int> _callsByTenant = new();

    /// <summary>How many calls reached the server with this tenant header.</summary>
    public int CallsFor(string tenant) => _callsByTenant.GetValueOrDefault(tenant);

    public SeaLionClient NewClient(Action<SeaLionClientOptions>? configure = null)
    {
        var o = new SeaLionClientOptions { Address = Address };
        configure?.Invoke(o);
        return new SeaLionClient(o);
    }

    public async Task InitializeAsync()
    {
        int grpc = Ports.Free();
        HttpPort = Ports.Free();
        App = AllInOneHost.Build(new AllInOneOptions
        {
            ModelDir = TestModels.Get(), GrpcPort = grpc, HttpPort = HttpPort, SiloPort = Ports.Free(), OrleansGatewayPort = Ports.Free(),
            Simulated = true, SimulatedTimeScale = 0.05,
        });
        App.Use(async (ctx, next) =>
        {
            string? tenant = ctx.Request.Headers["x-sealion-tenant"].FirstOrDefault();
            Seen.Enqueue(new SeenRequest(ctx.Request.Path, ctx.Request.Headers.Authorization.FirstOrDefault(), tenant));
            if (tenant is not null)
            {
                int n = _callsByTenant.AddOrUpdate(tenant, 1, (_, v) => v + 1);
                if (tenant.StartsWith("flaky-") && n <= 2)
                {
                    ctx.Response.StatusCode = 200;
                    ctx.Response.ContentType = "application/grpc";
                    ctx.Response.Headers["grpc-status"] = "14";
                    ctx.Response.Headers["grpc-message"] = "flaky network (test)";
                    return;
                }
                if (tenant.StartsWith("cut-"))
                    ctx.Response.OnStarting(() =>
                    {
                        _ = Task.Run(async () =>
                        {
                            await Task.Delay(200);
                            try { ctx.Abort(); } catch (ObjectDisposedException) { }
                        });
                        return Task.CompletedTask;
                    });
            }
            await next(ctx);
        });
        await App.StartAsync();
        Address = new Uri($"http://127.0.0.1:{grpc}");
    }

    public async Task DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }
}

[CollectionDefinition("cluster", DisableParallelization = true)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>;
