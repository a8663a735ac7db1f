using SeaLion.Client;

namespace SeaLion.Cluster.Tests;

/// <summary>Two gateways in front of the silos.</summary>
public sealed class TwoGatewayFixture : MultiProcessFixture
{
    protected override int GatewayCount => 2;
}

/// <summary>
/// A gateway SIGKILLed under 32 SDK streams: the SDK, given both gateways' addresses, resumes each cut stream through
/// the other from the last token it received, and the texts equal the uninterrupted ones.
/// </summary>
public sealed class GatewayLossTests : IClassFixture<TwoGatewayFixture>
{
    readonly TwoGatewayFixture f;
    readonly Xunit.Abstractions.ITestOutputHelper output;
    public GatewayLossTests(TwoGatewayFixture f, Xunit.Abstractions.ITestOutputHelper output) => (this.f, this.output) = (f, output);

    SeaLionClient Client(int first) => new(new SeaLionClientOptions
    {
        Address = new Uri($"http://127.0.0.1:{f.GrpcPorts[first]}"),
        FallbackAddresses = [new Uri($"http://127.0.0.1:{f.GrpcPorts[1 - first]}")],
        MaxRetries = 5,
    });

    /// <summary>The i-th stream: chat turns (greedy) for a third, greedy and seeded sampled Generate for the rest.</summary>
    static IAsyncEnumerable<GenerationChunk> Stream(SeaLionClient c, int i, string tag, int tokens) => (i % 3) switch
    {
        0 => c.ChatAsync($"gw-{tag}-{i}", $"Ceritakan kisah panjang nomor {i}.", new GenerationOptions { Temperature = 0, MaxTokens = tokens, IgnoreEos = true }),
        1 => c.GenerateAsync($"Tulis cerita nomor {i}.", new GenerationOptions { Temperature = 0, MaxTokens = tokens, IgnoreEos = true }),
        _ => c.GenerateAsync($"Tulis cerita acak nomor {i}.", new GenerationOptions { Temperature = 0.8, TopP = 0.95, Seed = 1000 + i, MaxTokens = tokens, IgnoreEos = true }),
    };

    static async Task<(string Text, int[] Ids, double MaxGap)> Collect(IAsyncEnumerable<GenerationChunk> chunks)
    {
        var text = new System.Text.StringBuilder();
        var ids = new List<int>();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        double last = 0, maxGap = 0;
        await foreach (var c in chunks)
        {
            double now = sw.Elapsed.TotalSeconds;
            if (ids.Count > 0) maxGap = Math.Max(maxGap, now - last);
            last = now;
            text.Append(c.Text);
            ids.AddRange(c.TokenIds);
        }
        return (text.ToString(), ids.ToArray(), maxGap);
    }

    [Fact]
    public async Task A_gateway_killed_under_32_sdk_streams_loses_none_and_the_texts_equal_the_uninterrupted_ones()
    {
        const int n = 32, tokens = 4000;
        using var client = Client(first: 0);
        var cut = Enumerable.Range(0, n).Select(i => Collect(Stream(client, i, "cut", tokens))).ToArray();
        await Task.Delay(700);
        f.Gateways[0].Kill();
        var results = await Task.WhenAll(cut);
        output.WriteLine($"longest pause a stream saw: {results.Max(r => r.MaxGap):F2} s");

        using var other = Client(first: 1);
        var reference = await Task.WhenAll(Enumerable.Range(0, n).Select(i => Collect(Stream(other, i, "ref", tokens))));
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(tokens, results[i].Ids.Length);
            Assert.True(reference[i].Ids.SequenceEqual(results[i].Ids), $"stream {i}: the resumed tokens differ from the uninterrupted ones");
            Assert.Equal(reference[i].Text, results[i].Text);
        }
        // Streams were cut (the first gateway was serving them when it died) and the sessions stored what the clients got.
        Assert.True(results.Max(r => r.MaxGap) > 0.05, "no stream paused: was the gateway killed mid-stream?");
        for (int i = 0; i < n; i += 3)
        {
            var s = await other.GetSessionAsync($"gw-cut-{i}");
            Assert.NotNull(s);
            Assert.Equal(2, s.Messages.Count);
            Assert.Equal(results[i].Text, s.Messages[1].Content);
        }
        Assert.False(f.Gateways[1].Exited);
    }
}
