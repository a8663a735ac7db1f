using System.Net;
using System.Net.Sockets;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using SeaLion.Contracts.V1;
using SeaLion.Model.Tests;

namespace SeaLion.Gateway.Tests;

/// <summary>`serve --engine sim`: the same host with the simulated H100 engine standing in for a GPU (time scaled down 100x).</summary>
public sealed class SimulatedServerFixture : IAsyncLifetime
{
    public WebApplication App { get; private set; } = null!;
    public Inference.InferenceClient Client { get; private set; } = null!;
    GrpcChannel? _channel;

    static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    public async Task InitializeAsync()
    {
        int grpc = FreePort();
        App = AllInOneHost.Build(new AllInOneOptions
        {
            ModelDir = TestModels.Get(), GrpcPort = grpc, HttpPort = FreePort(), SiloPort = FreePort(), OrleansGatewayPort = FreePort(),
            Simulated = true, SimulatedTimeScale = 0.01,
        });
        await App.StartAsync();
        _channel = GrpcChannel.ForAddress($"http://127.0.0.1:{grpc}");
        Client = new Inference.InferenceClient(_channel);
    }

    public async Task DisposeAsync()
    {
        _channel?.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}

[CollectionDefinition("sim-server", DisableParallelization = true)]
public sealed class SimulatedServerCollection : ICollectionFixture<SimulatedServerFixture>;

[Collection("sim-server")]
public sealed class SimulatedServerTests(SimulatedServerFixture server)
{
    async Task<int[]> Tokens(long seed, int max)
    {
        var ids = new List<int>();
        GenerateResponse? last = null;
        await foreach (var r in server.Client.Generate(new GenerateRequest { Text = "Halo dunia", Sampling = new SamplingParams { Seed = seed, MaxTokens = max } }).ResponseStream.ReadAllAsync())
        {
            ids.AddRange(r.TokenIds);
            last = r;
        }
        Assert.Equal(FinishReason.Length, last!.FinishReason);
        return ids.ToArray();
    }

    [Fact]
    public async Task Simulated_engine_serves_deterministic_tokens_through_the_same_gateway()
    {
        var a = await Tokens(7, 12);
        Assert.Equal(12, a.Length);
        Assert.Equal(a, await Tokens(7, 12));
        Assert.NotEqual(a, await Tokens(8, 12));
    }
}
