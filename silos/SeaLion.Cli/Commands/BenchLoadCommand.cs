using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using SeaLion.Client;

namespace SeaLion.Cli.Commands;

/// <summary>
/// `bench load`: holds N concurrent streams against a running server for a duration, through the client SDK:
/// each stream, as soon as it finishes, starts the next (random prompts, fixed lengths). Reports requests, errors
/// by status (expected zero), generated tokens/s, and the server's memory (process_working_set_bytes and
/// dotnet_total_memory_bytes from its /metrics) before the load, right after it, and after a settle period.
/// "Before" is taken after a warm-up at full concurrency and a settle period: what the first burst costs once
/// (JIT, thread-pool growth, Kestrel and Orleans buffer pools) is not a leak; what a run leaves behind is.
/// ops/load.sh starts a simulated all-in-one server and runs this against it.
/// </summary>
internal static class BenchLoadCommand
{
    public static async Task<int> Run(CliArgs a)
    {
        var address = new Uri(a.String("address") ?? "http://127.0.0.1:50051");
        string? metricsUrl = a.String("metrics-url");
        string? apiKey = a.String("api-key") ?? Environment.GetEnvironmentVariable("SEALION_API_KEY");
        int streams = a.Int("streams", 500, 1, 100_000), promptLen = a.Int("prompt-len", 64, 1, 8000), genLen = a.Int("gen-len", 128, 1, 8000);
        double seconds = a.Double("duration-s") ?? 120, settle = a.Double("settle-s") ?? 10, warmup = a.Double("warmup-s") ?? 20;
        a.EnsureAllUsed();
        if (seconds <= 0) throw new UsageException($"--duration-s must be positive, got {seconds}");
        using var client = new SeaLionClient(new SeaLionClientOptions { Address = address, ApiKey = apiKey, MaxRetries = 0 });
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };

        var errors = new ConcurrentDictionary<string, int>();
        if (warmup > 0)
        {
            await Load(client, streams, promptLen, genLen, TimeSpan.FromSeconds(warmup), new ConcurrentDictionary<string, int>(), new long[2]);
            await Task.Delay(TimeSpan.FromSeconds(settle));
        }
        var before = await Memory(http, metricsUrl);
        var counts = new long[2];
        var sw = Stopwatch.StartNew();
        await Load(client, streams, promptLen, genLen, TimeSpan.FromSeconds(seconds), errors, counts);
        long requests = counts[0], tokens = counts[1];
        double elapsed = sw.Elapsed.TotalSeconds;
        var after = await Memory(http, metricsUrl);
        await Task.Delay(TimeSpan.FromSeconds(settle));
        var settled = await Memory(http, metricsUrl);

        Console.Out.WriteLine(JsonSerializer.Serialize(new
        {
            bench = "load", address = address.ToString(), streams, prompt_len = promptLen, gen_len = genLen, warmup_s = warmup, duration_s = Math.Round(elapsed, 1),
            requests, errors = errors.Values.Sum(), errors_by_status = errors, generated_tokens = tokens,
            generated_tokens_per_s = Math.Round(tokens / elapsed, 1),
            memory_before = before, memory_after_load = after, memory_after_settle = settled,
            working_set_change = Change(before, settled, "process_working_set_bytes"),
            managed_heap_change = Change(before, settled, "dotnet_total_memory_bytes"),
        }));
        return errors.IsEmpty ? 0 : 1;
    }

    static double? Change(Dictionary<string, double>? before, Dictionary<string, double>? after, string key) =>
        before is null || after is null || !before.ContainsKey(key) || !after.ContainsKey(key) ? null : Math.Round((after[key] - before[key]) / before[key], 4);

    /// <summary>N workers, each starting its next stream as soon as the last ends, until the time is up. counts: requests, tokens.</summary>
    static async Task Load(SeaLionClient client, int streams, int promptLen, int genLen, TimeSpan duration, ConcurrentDictionary<string, int> errors, long[] counts)
    {
        using var stop = new CancellationTokenSource(duration);
        var workers = Enumerable.Range(0, streams).Select(w => Task.Run(async () =>
        {
            var rng = new Random(w);
            while (!stop.IsCancellationRequested)
            {
                var prompt = Enumerable.Range(0, promptLen).Select(_ => rng.Next(1000, 100_000)).ToArray();
                try
                {
                    await foreach (var c in client.GenerateAsync(prompt, new GenerationOptions { MaxTokens = genLen, IgnoreEos = true, Seed = rng.Next() }))
                        Interlocked.Add(ref counts[1], c.TokenIds.Count);
                    Interlocked.Increment(ref counts[0]);
                }
                catch (SeaLionException e) { errors.AddOrUpdate(e.StatusCode.ToString(), 1, (_, n) => n + 1); }
                catch (Exception e) { errors.AddOrUpdate(e.GetType().Name, 1, (_, n) => n + 1); }
            }
        })).ToArray();
        await Task.WhenAll(workers);
    }

    static async Task<Dictionary<string, double>?> Memory(HttpClient http, string? url)
    {
        if (url is null) return null;
        string text = await http.GetStringAsync(url);
        var wanted = new[] { "process_working_set_bytes", "dotnet_total_memory_bytes", "process_private_memory_bytes" };
        var found = new Dictionary<string, double>();
        foreach (var line in text.Split('\n'))
            foreach (var name in wanted)
                if (line.StartsWith(name + " ", StringComparison.Ordinal))
                    found[name] = double.Parse(line[(name.Length + 1)..], CultureInfo.InvariantCulture);
        return found;
    }
}
