using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using SeaLion.Engine;
using SeaLion.Gateway;
using SeaLion.Model.Sampling;
using SeaLion.Tokenization;
using V1 = SeaLion.Contracts.V1;

namespace SeaLion.Cli.Commands;

/// <summary>
/// `bench gateway`: what the gateway and Orleans add to inter-token latency. The same N concurrent streams (random
/// prompts, fixed lengths, seeded so the simulated engine's tokens are a function of the request) run twice on the
/// simulated H100 engine in wall time: once straight into the engine in this process, once through the all-in-one
/// host (Kestrel gRPC on loopback, an Orleans silo, the engine grain) from Grpc.Net.Client in this process. Reports
/// TTFT and inter-token latency (per streamed chunk, as vLLM's benchmark does) of both, the difference, and whether
/// every stream delivered exactly the engine-alone tokens in order.
/// </summary>
internal static class BenchGatewayCommand
{
    sealed record Stream(int[] Tokens, double TtftMs, List<double> ItlMs);

    public static async Task<int> Run(CliArgs a)
    {
        string dir = ModelLocator.Resolve(a.String("model"));
        int streams = a.Int("streams", 200, 1, 4096), promptLen = a.Int("prompt-len", 128, 1, 4096), genLen = a.Int("gen-len", 128, 2, 4096);
        double scale = a.Double("sim-time-scale") ?? 1.0;
        a.EnsureAllUsed();
        if (scale <= 0) throw new UsageException($"--sim-time-scale must be positive, got {scale}");
        var tokenizer = BpeTokenizer.FromDirectory(dir);
        var config = SeaLion.Model.LlamaConfig.FromDirectory(dir);
        var rng = new Random(1234);
        var prompts = Enumerable.Range(0, streams).Select(_ => Enumerable.Range(0, promptLen).Select(_ => rng.Next(1000, 100000)).ToArray()).ToArray();

        // 1. The engine alone.
        Stream[] alone;
        double aloneWall;
        using (var engine = LlmEngine.CreateSimulated(tokenizer, new EngineOptions { MetricsName = "bench-alone" }, clock: new WallClock(scale),
                   vocabSize: config.VocabSize, maxContext: config.MaxPositions))
        {
            await DirectAsync(engine, [prompts[0]], 4, seedBase: 1_000_000);   // warm-up
            var sw = Stopwatch.StartNew();
            alone = await DirectAsync(engine, prompts, genLen, seedBase: 0);
            aloneWall = sw.Elapsed.TotalSeconds;
        }

        // 2. Through the gateway and Orleans.
        Stream[] cluster;
        double clusterWall;
        int grpcPort = Ports.Free();
        var app = AllInOneHost.Build(new AllInOneOptions
        {
            ModelDir = dir, GrpcPort = grpcPort, HttpPort = Ports.Free(), SiloPort = Ports.Free(), OrleansGatewayPort = Ports.Free(),
            Engine = new EngineOptions { MetricsName = "bench-cluster" }, Simulated = true, SimulatedTimeScale = scale,
        });
        await app.StartAsync();
        try
        {
            // Kestrel allows 100 streams per HTTP/2 connection; the client opens more connections as needed.
            using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{grpcPort}", new GrpcChannelOptions
            {
                HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true },
            });
            var client = new V1.Inference.InferenceClient(channel);
            await GrpcAsync(client, [prompts[0]], 4, seedBase: 1_000_000);   // warm-up
            var sw = Stopwatch.StartNew();
            cluster = await GrpcAsync(client, prompts, genLen, seedBase: 0);
            clusterWall = sw.Elapsed.TotalSeconds;
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }

        bool inOrder = alone.Zip(cluster).All(p => p.First.Tokens.SequenceEqual(p.Second.Tokens));
        bool complete = cluster.All(s => s.Tokens.Length == genLen);
        var a1 = Summary(alone, aloneWall);
        var c1 = Summary(cluster, clusterWall);
        Console.Out.WriteLine(JsonSerializer.Serialize(new
        {
            bench = "gateway", engine = "sim-h100", sim_time_scale = scale, streams, prompt_len = promptLen, gen_len = genLen,
            engine_alone = a1, through_gateway = c1,
            overhead_itl_p50_ms = Math.Round(c1.itl_p50_ms - a1.itl_p50_ms, 3),
            overhead_itl_p99_ms = Math.Round(c1.itl_p99_ms - a1.itl_p99_ms, 3),
            overhead_ttft_p50_ms = Math.Round(c1.ttft_p50_ms - a1.ttft_p50_ms, 3),
            every_token_in_order = inOrder && complete,
        }));
        return inOrder && complete ? 0 : 1;
    }

    static SamplingParams Params(int genLen, int seed) => new() { Temperature = 0, MaxTokens = genLen, IgnoreEos = true, Seed = seed };

    /// <summary>Times one stream's token-bearing pieces: TTFT from the start, then the gap before each later piece.</summary>
    static async Task<Stream> Timed(IAsyncEnumerable<IReadOnlyCollection<int>> pieces)
    {
        var tokens = new List<int>();
        var itl = new List<double>();
        long start = Stopwatch.GetTimestamp(), last = 0;
        double ttft = 0;
        await foreach (var ids in pieces)
        {
            if (ids.Count == 0) continue;
            long now = Stopwatch.GetTimestamp();
            if (tokens.Count == 0) ttft = Stopwatch.GetElapsedTime(start, now).TotalMilliseconds;
            else itl.Add(Stopwatch.GetElapsedTime(last, now).TotalMilliseconds);
            last = now;
            tokens.AddRange(ids);
        }
        return new Stream(tokens.ToArray(), ttft, itl);
    }

    static Task<Stream[]> DirectAsync(LlmEngine engine, int[][] prompts, int genLen, int seedBase) =>
        Task.WhenAll(prompts.Select((p, i) => Task.Run(() =>
            Timed(engine.GenerateAsync(new GenerateRequest(p, Params(genLen, seedBase + i))).Select(o => (IReadOnlyCollection<int>)o.TokenIds)))));

    static Task<Stream[]> GrpcAsync(V1.Inference.InferenceClient client, int[][] prompts, int genLen, int seedBase) =>
        Task.WhenAll(prompts.Select((p, i) => Task.Run(async () =>
        {
            var req = new V1.GenerateRequest
            {
                TokenIds = new V1.TokenIds(),
                Sampling = new V1.SamplingParams { Temperature = 0, MaxTokens = genLen, IgnoreEos = true, Seed = seedBase + i },
            };
            req.TokenIds.Ids.AddRange(p);
            using var call = client.Generate(req);
            return await Timed(call.ResponseStream.ReadAllAsync().Select(r => (IReadOnlyCollection<int>)r.TokenIds));
        })));

    sealed record Stats(double ttft_p50_ms, double ttft_p99_ms, double itl_p50_ms, double itl_p99_ms, double itl_mean_ms, long tokens, double tokens_per_s, double wall_s);

    static Stats Summary(Stream[] s, double wall)
    {
        var itl = s.SelectMany(x => x.ItlMs).ToList();
        var ttft = s.Select(x => x.TtftMs).ToList();
        long tokens = s.Sum(x => (long)x.Tokens.Length);
        return new Stats(R(EngineBenchmark.Percentile(ttft, 0.5)), R(EngineBenchmark.Percentile(ttft, 0.99)),
            R(EngineBenchmark.Percentile(itl, 0.5)), R(EngineBenchmark.Percentile(itl, 0.99)), R(itl.Average()), tokens, Math.Round(tokens / wall, 1), Math.Round(wall, 3));
    }

    static double R(double x) => Math.Round(x, 3);

}
