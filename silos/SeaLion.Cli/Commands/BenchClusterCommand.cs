using System.Text.Json;
using SeaLion.Cli.Plotting;
using SeaLion.Engine.Simulation;
using SeaLion.Routing;
using SeaLion.Tokenization;

namespace SeaLion.Cli.Commands;

/// <summary>
/// `bench cluster`: the routing study. Simulated H100 engines on N hosts behind each routing policy (the classes
/// the gateway uses), in virtual time, on the llm-d-shaped workload (customers with a shared 6,000-token context,
/// users sending 1,200-token queries), the request rate swept from low to past saturation. JSON lines, one per
/// policy and rate, then a summary comparing precise KV-aware routing with random at the highest rate random
/// still keeps up with; --plot writes throughput and TTFT p90 against rate.
/// </summary>
internal static class BenchClusterCommand
{
    public static int Run(CliArgs a)
    {
        int hosts = a.Int("hosts", 8, 1, 1000);
        double seconds = a.Double("seconds") ?? 120;
        var rates = (a.String("rates") ?? "4,8,12,16,20,24,28,32").Split(',').Select(s => double.TryParse(s, System.Globalization.CultureInfo.InvariantCulture, out double r) && r > 0
            ? r : throw new UsageException($"--rates: '{s}' is not a positive number")).ToArray();
        var policies = (a.String("policies") ?? string.Join(",", ClusterSimulator.Policies)).Split(',');
        foreach (var p in policies)
            if (!ClusterSimulator.Policies.Contains(p)) throw new UsageException($"--policies: unknown '{p}'; known: {string.Join(", ", ClusterSimulator.Policies)}");
        var w = new ClusterWorkload(a.Int("customers", 150, 1, 100_000), a.Int("users", 5, 1, 1000), a.Int("context-tokens", 6000, 0, 7000),
            a.Int("query-tokens", 1200, 1, 7000), a.Int("output-tokens", 200, 1, 4000), a.Int("seed", 1, 0, int.MaxValue));
        string? plot = a.String("plot");
        bool real = a.Flag("real");
        string? replot = a.String("replot");
        double scale = a.Double("sim-time-scale") ?? 1.0;
        string? modelDir = real ? ModelLocator.Resolve(a.String("model")) : null;
        a.EnsureAllUsed();
        if (w.ContextTokens + w.QueryTokens + w.OutputTokens > 8192) throw new UsageException("context + query + output tokens must fit the 8192 context");
        var tokenizer = BpeTokenizer.FromDirectory(ModelLocator.TokenizerDir);

        var results = new List<ClusterSimResult>();
        if (replot is not null)
        {
            // Summary and plot from an earlier run's JSON lines (e.g. a long sweep stopped part-way).
            foreach (var line in File.ReadLines(replot))
            {
                var e = JsonDocument.Parse(line).RootElement;
                if (e.GetProperty("bench").GetString() != "cluster") continue;
                double D(string n) => e.GetProperty(n).GetDouble() is var v && v < 0 ? double.PositiveInfinity : e.GetProperty(n).GetDouble();
                results.Add(new ClusterSimResult(e.GetProperty("policy").GetString()!, e.GetProperty("hosts").GetInt32(), D("rate"), e.GetProperty("requests").GetInt32(),
                    e.GetProperty("completed").GetInt32(), 0, 0, D("output_tok_s"), D("ttft_p50_s"), D("ttft_p90_s"), D("prefix_hit_rate"), D("load_imbalance"),
                    e.GetProperty("kept_up").GetBoolean(), new Dictionary<string, int>()));
            }
            policies = results.Select(r => r.Policy).Distinct().ToArray();
            hosts = results.Count > 0 ? results[0].Hosts : hosts;
        }
        else foreach (double rate in rates)
            foreach (var policy in policies)
            {
                var r = real ? RealClusterRun.RunAsync(modelDir!, hosts, policy, rate, seconds, w, scale).GetAwaiter().GetResult()
                    : ClusterSimulator.Run(tokenizer, hosts, policy, rate, seconds, w);
                results.Add(r);
                Console.Out.WriteLine(JsonSerializer.Serialize(new
                {
                    bench = "cluster", mode = real ? $"real-orleans (time scale {scale})" : "simulated", policy = r.Policy, hosts, rate, requests = r.Requests, completed = r.Completed, kept_up = r.KeptUp,
                    output_tok_s = Math.Round(r.OutputTokensPerSecond, 1), ttft_p50_s = Round(r.TtftP50), ttft_p90_s = Round(r.TtftP90),
                    prefix_hit_rate = Math.Round(r.PrefixHitRate, 4), load_imbalance = Math.Round(r.LoadImbalance, 3), reasons = r.Reasons,
                }));
                Console.Out.Flush();
            }

        // The issue's comparison: at the highest rate random still completes, precise vs random.
        var keptUp = results.Where(r => r.Policy == "random" && r.KeptUp).Select(r => r.Rate).DefaultIfEmpty(double.NaN).Max();
        var rnd = results.FirstOrDefault(r => r.Policy == "random" && r.Rate == keptUp);
        var pre = results.FirstOrDefault(r => r.Policy == "precise_kv" && r.Rate == keptUp);
        if (rnd is not null && pre is not null)
            Console.Out.WriteLine(JsonSerializer.Serialize(new
            {
                bench = "cluster-summary", hosts, rate = keptUp, random_output_tok_s = Math.Round(rnd.OutputTokensPerSecond, 1),
                precise_output_tok_s = Math.Round(pre.OutputTokensPerSecond, 1), throughput_ratio = Math.Round(pre.OutputTokensPerSecond / rnd.OutputTokensPerSecond, 2),
                random_ttft_p90_s = Round(rnd.TtftP90), precise_ttft_p90_s = Round(pre.TtftP90), ttft_p90_ratio = Math.Round(rnd.TtftP90 / pre.TtftP90, 1),
            }));
        if (plot is not null)
        {
            PlotSeries Series(string policy, Func<ClusterSimResult, double> y) =>
                new(policy, results.Where(r => r.Policy == policy).Select(r => r.Rate).ToArray(), results.Where(r => r.Policy == policy).Select(y).ToArray());
            SweepPlot.Write(plot, $"Routing policies, {hosts} simulated H100 hosts, llm-d-shaped workload ({w.Customers} customers x {w.UsersPerCustomer} users, {w.ContextTokens}+{w.QueryTokens} prompt tokens)",
            [
                new PlotPanel("Output throughput", "requests/s", "output tokens/s", policies.Select(p => Series(p, r => r.OutputTokensPerSecond)).ToArray()),
                new PlotPanel("Time to first token p90", "requests/s", "seconds", policies.Select(p => Series(p, r => r.TtftP90)).ToArray()),
                new PlotPanel("Prefix-cache hit rate", "requests/s", "fraction of prompt tokens", policies.Select(p => Series(p, r => r.PrefixHitRate)).ToArray()),
            ], width: 1800);
            Console.Error.WriteLine($"sealion: wrote {plot}");
        }
        return 0;
    }

    static double Round(double x) => double.IsFinite(x) ? Math.Round(x, 3) : -1;
}
