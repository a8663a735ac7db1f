using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using SeaLion.Client;

namespace SeaLion.Cli.Commands;

/// <summary>What a soak run is pointed at and how it loads it.</summary>
public sealed record SoakOptions
{
    /// <summary>Each gateway: its gRPC address and its HTTP address (REST and /metrics). Workers take them in turn.</summary>
    public required IReadOnlyList<(Uri Grpc, Uri Http)> Gateways { get; init; }
    /// <summary>Every process's /metrics (gateways and silos): working set, managed heap and thread-pool queue at start and end.</summary>
    public IReadOnlyList<Uri> MetricsUrls { get; init; } = [];
    public string? ApiKey { get; init; }
    public int Streams { get; init; } = 500;
    public TimeSpan Duration { get; init; } = TimeSpan.FromMinutes(10);
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan Settle { get; init; } = TimeSpan.FromSeconds(15);
    public TimeSpan Window { get; init; } = TimeSpan.FromSeconds(30);
    public int GenLength { get; init; } = 64;
    public double CancelFraction { get; init; } = 0.01;
    public double BadFraction { get; init; } = 0.01;
    public int Seed { get; init; } = 1;
}

/// <summary>
/// One window of the run: requests finished in it, tokens, the p99 of the gaps between streamed chunks, and each
/// process's working set, managed heap live after the last GC, and GC-committed memory at its end (MB, in the order of the metrics URLs),
/// and its time paused by the GC so far (seconds).
/// </summary>
public sealed record SoakWindow(double StartS, long Requests, long Tokens, double ItlP99Ms, double ItlP50Ms, IReadOnlyList<double?> WorkingSetMb,
    IReadOnlyList<double?>? GcLiveMb = null, IReadOnlyList<double?>? GcCommittedMb = null, IReadOnlyList<double?>? GcPauseS = null);

/// <summary>A process's memory and thread-pool figures from its /metrics.</summary>
public sealed record ProcessSample(string Url, double? WorkingSetBytes, double? ManagedHeapBytes, double? ThreadPoolQueue, double? ThreadPoolThreads,
    double? GcLiveBytes = null, double? GcCommittedBytes = null, double? GcPauseSeconds = null, double? GcLastFullBlockingPauseSeconds = null);

public sealed record SoakReport(
    int Streams, double DurationS, long Requests, long Tokens, double TokensPerSecond, long Cancelled, long PlantedBad, long PlantedBadRefusedRightly,
    long Errors, IReadOnlyDictionary<string, long> ErrorsByKind, IReadOnlyDictionary<string, long> RequestsByKind, IReadOnlyList<SoakWindow> Windows,
    IReadOnlyList<ProcessSample> Start, IReadOnlyList<ProcessSample> End);

/// <summary>
/// `bench soak`: hours-of-traffic shape in minutes. N workers, each running one request after another against the
/// gateways in turn: gRPC Generate (stateless), gRPC Chat (a session of up to 4 turns), REST completions streamed
/// (stateless) and REST chat with X-SeaLion-Session; a fraction cancelled by the client after the first chunk and a
/// fraction deliberately bad (they must be refused as client errors: anything else counts as an error). Reports
/// requests, errors that are not the planted ones (goal 0), tokens/s, the p99 gap between chunks per window, and every
/// process's working set, managed heap and thread-pool queue after the warm-up and after settling.
/// </summary>
public static class BenchSoakCommand
{
    internal static async Task<int> Run(CliArgs a)
    {
        var grpc = (a.String("grpc") ?? "http://127.0.0.1:50051").Split(',', StringSplitOptions.RemoveEmptyEntries).Select(s => new Uri(s)).ToArray();
        var http = (a.String("http") ?? "http://127.0.0.1:8080").Split(',', StringSplitOptions.RemoveEmptyEntries).Select(s => new Uri(s)).ToArray();
        if (grpc.Length != http.Length) throw new UsageException($"--grpc names {grpc.Length} gateway(s) and --http {http.Length}: give one HTTP address per gRPC address");
        var options = new SoakOptions
        {
            Gateways = grpc.Zip(http).ToArray(),
            MetricsUrls = (a.String("metrics-urls") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries).Select(s => new Uri(s)).ToArray(),
            ApiKey = a.String("api-key") ?? Environment.GetEnvironmentVariable("SEALION_API_KEY"),
            Streams = a.Int("streams", 500, 1, 100_000),
            Duration = TimeSpan.FromSeconds(a.Double("duration-s") ?? 600),
            Warmup = TimeSpan.FromSeconds(a.Double("warmup-s") ?? 30),
            Settle = TimeSpan.FromSeconds(a.Double("settle-s") ?? 15),
            Window = TimeSpan.FromSeconds(a.Double("window-s") ?? 30),
            GenLength = a.Int("gen-len", 64, 1, 8000),
            CancelFraction = a.Double("cancel-fraction") ?? 0.01,
            BadFraction = a.Double("bad-fraction") ?? 0.01,
            Seed = a.Int("seed", 1, 0, int.MaxValue),
        };
        a.EnsureAllUsed();
        if (options.Duration <= TimeSpan.Zero) throw new UsageException($"--duration-s must be positive, got {options.Duration.TotalSeconds}");
        if (options.CancelFraction is < 0 or > 0.5 || options.BadFraction is < 0 or > 0.5)
            throw new UsageException($"--cancel-fraction and --bad-fraction must be within [0, 0.5], got {options.CancelFraction} and {options.BadFraction}");
        var r = await RunAsync(options, progress: w => Console.Error.WriteLine($"soak: window at {w.StartS,6:F0} s: {w.Requests} requests, {w.Tokens} tokens, chunk gap p99 {w.ItlP99Ms:F1} ms, working sets {Row(w.WorkingSetMb)} MB, GC live {Row(w.GcLiveMb)}, GC committed {Row(w.GcCommittedMb)} MB, GC paused {Row(w.GcPauseS, "F1")} s"));
        Console.Out.WriteLine(JsonSerializer.Serialize(r, new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }));
        return r.Errors == 0 ? 0 : 1;
    }

    static string Row(IReadOnlyList<double?>? values, string format = "F0") => values is null ? "-" : string.Join(" ", values.Select(m => m?.ToString(format, CultureInfo.InvariantCulture) ?? "-"));

    sealed class Tally
    {
        public long Requests, Tokens, Cancelled, PlantedBad, PlantedBadRight;
        public readonly ConcurrentDictionary<string, long> Errors = new(), Kinds = new();
        public readonly ConcurrentBag<double> Gaps = new();
        public void Error(string kind) => Errors.AddOrUpdate(kind, 1, (_, n) => n + 1);
    }

    public static async Task<SoakReport> RunAsync(SoakOptions o, Action<SoakWindow>? progress = null, CancellationToken ct = default)
    {
        var clients = o.Gateways.Select(g => new SeaLionClient(new SeaLionClientOptions { Address = g.Grpc, ApiKey = o.ApiKey, MaxRetries = 0 })).ToArray();
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 4096, PooledConnectionLifetime = TimeSpan.FromMinutes(2) }) { Timeout = TimeSpan.FromMinutes(5) };
        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        try
        {
            if (o.Warmup > TimeSpan.Zero)
            {
                await Load(o, clients, http, o.Warmup, new Tally(), ct);
                await Task.Delay(o.Settle, ct);
            }
            var start = await Sample(probe, o.MetricsUrls);
            var windows = new List<SoakWindow>();
            var sw = Stopwatch.StartNew();
            var total = new Tally();
            for (var left = o.Duration; left > TimeSpan.Zero; left -= o.Window)
            {
                var span = left < o.Window ? left : o.Window;
                var t = new Tally();
                double at = sw.Elapsed.TotalSeconds;
                await Load(o, clients, http, span, t, ct);
                var gaps = t.Gaps.Order().ToArray();
                var samples = await Sample(probe, o.MetricsUrls);
                static double?[] Mb(IEnumerable<double?> bytes) => bytes.Select(b => b is { } v ? Math.Round(v / 1e6, 1) : (double?)null).ToArray();
                var w = new SoakWindow(Math.Round(at, 1), t.Requests, t.Tokens, Math.Round(Percentile(gaps, 0.99), 2), Math.Round(Percentile(gaps, 0.5), 2),
                    Mb(samples.Select(p => p.WorkingSetBytes)), Mb(samples.Select(p => p.GcLiveBytes)), Mb(samples.Select(p => p.GcCommittedBytes)),
                    samples.Select(p => p.GcPauseSeconds is { } v ? Math.Round(v, 2) : (double?)null).ToArray());
                windows.Add(w);
                progress?.Invoke(w);
                Add(total, t);
            }
            double elapsed = sw.Elapsed.TotalSeconds;
            await Task.Delay(o.Settle, ct);
            var end = await Sample(probe, o.MetricsUrls);
            return new SoakReport(o.Streams, Math.Round(elapsed, 1), total.Requests, total.Tokens, Math.Round(total.Tokens / elapsed, 1), total.Cancelled,
                total.PlantedBad, total.PlantedBadRight, total.Errors.Values.Sum(), total.Errors.ToDictionary(), total.Kinds.ToDictionary(), windows, start, end);
        }
        finally
        {
            foreach (var c in clients) c.Dispose();
        }
    }

    static void Add(Tally into, Tally t)
    {
        into.Requests += t.Requests; into.Tokens += t.Tokens; into.Cancelled += t.Cancelled; into.PlantedBad += t.PlantedBad; into.PlantedBadRight += t.PlantedBadRight;
        foreach (var (k, v) in t.Errors) into.Errors.AddOrUpdate(k, v, (_, n) => n + v);
        foreach (var (k, v) in t.Kinds) into.Kinds.AddOrUpdate(k, v, (_, n) => n + v);
    }

    static double Percentile(double[] sorted, double p) => sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];

    /// <summary>Every worker runs requests back to back until the span is over (a request in flight then finishes).</summary>
    static async Task Load(SoakOptions o, SeaLionClient[] clients, HttpClient http, TimeSpan span, Tally t, CancellationToken ct)
    {
        var until = Stopwatch.GetTimestamp() + (long)(span.TotalSeconds * Stopwatch.Frequency);
        await Task.WhenAll(Enumerable.Range(0, o.Streams).Select(w => Task.Run(async () =>
        {
            var rng = new Random(HashCode.Combine(o.Seed, w, until));
            int g = w % clients.Length, turn = 0;
            string session = $"soak-{o.Seed}-{w}-{Guid.NewGuid():N}";
            while (Stopwatch.GetTimestamp() < until && !ct.IsCancellationRequested)
            {
                double roll = rng.NextDouble();
                int kind = rng.Next(4);
                g = (g + 1) % clients.Length;
                if (++turn > 4) { turn = 1; session = $"soak-{o.Seed}-{w}-{Guid.NewGuid():N}"; }
                if (roll < o.BadFraction) await Bad(o, clients[g], http, g, rng, t);
                else await Good(o, clients[g], http, g, kind, session, rng, cancel: roll < o.BadFraction + o.CancelFraction, t, ct);
            }
        }, ct)));
    }

    static readonly string[] KindNames = ["grpc_generate", "grpc_chat", "rest_completions", "rest_chat_session"];

    static async Task Good(SoakOptions o, SeaLionClient client, HttpClient http, int g, int kind, string session, Random rng, bool cancel, Tally t, CancellationToken outer)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(outer);
        string text = $"Ceritakan kisah nomor {rng.Next(1_000_000)} tentang Singapura, Jakarta, Bangkok dan Hanoi.";
        int maxTokens = o.GenLength / 2 + rng.Next(o.GenLength);
        long tokens = 0;
        long last = 0;
        void Chunk(int count)
        {
            long now = Stopwatch.GetTimestamp();
            if (last != 0) t.Gaps.Add((now - last) * 1000.0 / Stopwatch.Frequency);
            last = now;
            tokens += count;
            if (cancel) cts.Cancel();   // the client walks away after the first chunk
        }
        try
        {
            var opts = new GenerationOptions { MaxTokens = maxTokens, Temperature = 0.7, Seed = rng.Next(), IgnoreEos = true };
            switch (kind)
            {
                case 0:
                    await foreach (var c in client.GenerateAsync(text, opts, cts.Token)) Chunk(c.TokenIds.Count);
                    break;
                case 1:
                    await foreach (var c in client.ChatAsync(session, text, opts, cts.Token)) Chunk(c.TokenIds.Count);
                    break;
                default:
                    bool chat = kind == 3;
                    string body = chat
                        ? $"{{\"model\":\"sea-lion-v2\",\"messages\":[{{\"role\":\"user\",\"content\":\"{text}\"}}],\"max_tokens\":{maxTokens},\"temperature\":0.7,\"seed\":{rng.Next()},\"ignore_eos\":true,\"stream\":true}}"
                        : $"{{\"model\":\"sea-lion-v2\",\"prompt\":\"{text}\",\"max_tokens\":{maxTokens},\"temperature\":0.7,\"seed\":{rng.Next()},\"ignore_eos\":true,\"stream\":true}}";
                    using (var req = new HttpRequestMessage(HttpMethod.Post, new Uri(o.Gateways[g].Http, chat ? "/v1/chat/completions" : "/v1/completions"))
                    { Content = new StringContent(body, Encoding.UTF8, "application/json") })
                    {
                        if (o.ApiKey is not null) req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", o.ApiKey);
                        if (chat) req.Headers.Add("X-SeaLion-Session", session);
                        using var resp = await http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, cts.Token);
                        if (!resp.IsSuccessStatusCode) { t.Error($"{KindNames[kind]}:{(int)resp.StatusCode}"); return; }
                        using var reader = new StreamReader(await resp.Content.ReadAsStreamAsync(cts.Token));
                        bool done = false;
                        while (await reader.ReadLineAsync(cts.Token) is { } line)
                        {
                            if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
                            if (line == "data: [DONE]") { done = true; break; }
                            if (line.Contains("\"error\"", StringComparison.Ordinal)) { t.Error($"{KindNames[kind]}:stream_error"); return; }
                            Chunk(1);
                        }
                        if (!done) { t.Error($"{KindNames[kind]}:no_done"); return; }
                    }
                    break;
            }
            if (cancel) { t.Error($"{KindNames[kind]}:cancel_not_honoured"); return; }
            Interlocked.Increment(ref t.Requests);
            Interlocked.Add(ref t.Tokens, tokens);
            t.Kinds.AddOrUpdate(KindNames[kind], 1, (_, n) => n + 1);
        }
        catch (Exception) when (cancel && cts.IsCancellationRequested && !outer.IsCancellationRequested)
        {
            Interlocked.Increment(ref t.Cancelled);
            Interlocked.Add(ref t.Tokens, tokens);
        }
        catch (SeaLionException e) { t.Error($"{KindNames[kind]}:{e.StatusCode}"); }
        catch (Exception e) when (!outer.IsCancellationRequested) { t.Error($"{KindNames[kind]}:{e.GetType().Name}"); }
    }

    /// <summary>A planted bad request: it must come back as the client's error (400 / INVALID_ARGUMENT), nothing else.</summary>
    static async Task Bad(SoakOptions o, SeaLionClient client, HttpClient http, int g, Random rng, Tally t)
    {
        Interlocked.Increment(ref t.PlantedBad);
        try
        {
            if (rng.Next(2) == 0)
            {
                await foreach (var _ in client.GenerateAsync("x", new GenerationOptions { MaxTokens = 16, Temperature = -1 })) { }
                t.Error("planted_bad_grpc:accepted");
            }
            else
            {
                string[] bodies = ["{\"model\":\"sea-lion-v2\",\"prompt\":\"x\",\"max_tokens\":-5}", "{\"model\":\"sea-lion-v2\",\"prompt\":", "{\"model\":\"sea-lion-v2\",\"prompt\":\"x\",\"temperature\":\"hot\"}"];
                using var req = new HttpRequestMessage(HttpMethod.Post, new Uri(o.Gateways[g].Http, "/v1/completions"))
                { Content = new StringContent(bodies[rng.Next(bodies.Length)], Encoding.UTF8, "application/json") };
                if (o.ApiKey is not null) req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", o.ApiKey);
                using var resp = await http.SendAsync(req);
                if (resp.StatusCode == HttpStatusCode.BadRequest) Interlocked.Increment(ref t.PlantedBadRight);
                else t.Error($"planted_bad_rest:{(int)resp.StatusCode}");
            }
        }
        catch (SeaLionException e) when (e.StatusCode == SeaLionStatusCode.InvalidArgument) { Interlocked.Increment(ref t.PlantedBadRight); }
        catch (SeaLionException e) { t.Error($"planted_bad_grpc:{e.StatusCode}"); }
        catch (Exception e) { t.Error($"planted_bad:{e.GetType().Name}"); }
    }

    static async Task<List<ProcessSample>> Sample(HttpClient http, IReadOnlyList<Uri> urls)
    {
        var list = new List<ProcessSample>();
        foreach (var u in urls)
        {
            string text;
            try { text = await http.GetStringAsync(u); }
            catch (Exception) { list.Add(new ProcessSample(u.ToString(), null, null, null, null)); continue; }
            double? Value(string name)
            {
                foreach (var line in text.Split('\n'))
                    if (line.StartsWith(name + " ", StringComparison.Ordinal) && double.TryParse(line[(name.Length + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var v)) return v;
                return null;
            }
            list.Add(new ProcessSample(u.ToString(), Value("process_working_set_bytes"), Value("dotnet_total_memory_bytes"),
                Value("sealion_threadpool_queue_length"), Value("sealion_threadpool_threads"), Value("sealion_gc_live_bytes"), Value("sealion_gc_committed_bytes"),
                Value("sealion_gc_pause_seconds_total"), Value("sealion_gc_last_pause_seconds{kind=\"full_blocking\"}")));
        }
        return list;
    }
}
