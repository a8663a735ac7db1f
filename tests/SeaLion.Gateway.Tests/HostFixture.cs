using SeaLion.Cli;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using SeaLion.Contracts.V1;
using SeaLion.Model.Tests;

namespace SeaLion.Gateway.Tests;

/// <summary>An all-in-one host (real Orleans silo, real Kestrel) on free loopback ports, and a gRPC client for it.</summary>
public abstract class HostFixture : IAsyncLifetime
{
    public WebApplication App { get; private set; } = null!;
    public Inference.InferenceClient Client { get; private set; } = null!;
    public GrpcChannel Channel { get; private set; } = null!;
    public string ModelDir { get; } = TestModels.Get();
    public int HttpPort { get; } = Ports.Free();
    public int GrpcPort { get; } = Ports.Free();

    /// <summary>What differs between hosts: the engine behind the grain, keys, TLS, connection limits.</summary>
    protected abstract AllInOneOptions Configure(AllInOneOptions ports);

    /// <summary>The channel <see cref="Client"/> uses: cleartext HTTP/2 unless a host serves TLS.</summary>
    protected virtual GrpcChannel OpenChannel() => GrpcChannel.ForAddress($"http://127.0.0.1:{GrpcPort}");

    public async Task InitializeAsync()
    {
        App = AllInOneHost.Build(Configure(new AllInOneOptions
        {
            ModelDir = ModelDir, GrpcPort = GrpcPort, HttpPort = HttpPort, SiloPort = Ports.Free(), OrleansGatewayPort = Ports.Free(),
        }));
        await App.StartAsync();
        Channel = OpenChannel();
        Client = new Inference.InferenceClient(Channel);
    }

    public virtual async Task DisposeAsync()
    {
        Channel?.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
