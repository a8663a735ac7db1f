using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SeaLion.Contracts.Grains;
using SeaLion.Engine;
using SeaLion.Engine.Simulation;
using SeaLion.Routing;
using SeaLion.Gateway;
using SeaLion.Model.Llama;
using SeaLion.Silo;

namespace SeaLion.Cli.Commands;

/// <summary>
/// The simulator's cross-check: the same workload (same arrivals, prompts and keys) through a real Orleans
/// cluster of N silos in this process, each with a simulated H100 engine in wall time scaled by the given factor,
/// routed by the gateway's own router (precise_kv: the cluster KV index grain fed by real KV events; load_only:
/// the least-loaded router; random). Times are reported in modelled seconds (wall / scale).
/// </summary>
internal static class RealClusterRun
{

    public static async Task<ClusterSimResult> RunAsync(string modelDir, int hosts, string policy, double rate, double seconds, ClusterWorkload w, double scale)
    {
        ProcessSetup.UseSeaLionMetricsOnly();
        var scheduler = new SchedulerOptions { MaxSeqs = 256, MaxBatchedTokens = 8192 };
        var siloPorts = Enumerable.Range(0, hosts).Select(_ => Ports.Free()).ToArray();
        var gatewayPorts = Enumerable.Range(0, hosts).Select(_ => Ports.Free()).ToArray();
        string cluster = "xcheck-" + Guid.NewGuid().ToString("N")[..8];
        var silos = new List<IHost>();
        IHost? client = null;
        try
        {
            for (int i = 0; i < hosts; i++)
            {
                var b = Host.CreateApplicationBuilder();
                b.Logging.ClearProviders();
                int n = i;
                b.UseOrleans(s => s
                    .UseLocalhostClustering(siloPorts[n], gatewayPorts[n], new IPEndPoint(IPAddress.Loopback, siloPorts[0]), cluster, cluster)
                    .AddMemoryGrainStorage(SessionGrain.Storage)
                    .AddSeaLionSilo(_ => EngineHost.Create(modelDir, "sea-lion-v2", new ModelOptions(),
                        new EngineOptions { Scheduler = scheduler, MetricsName = $"xcheck-{cluster}-{n}" }, simulated: true, simulatedTimeScale: scale)));
                var host = b.Build();
                await host.StartAsync();
                silos.Add(host);
            }
            var cb = Host.CreateApplicationBuilder();
            cb.Logging.ClearProviders();
            cb.UseOrleansClient(c => c.UseLocalhostClustering(gatewayPorts, cluster, cluster));
            client = cb.Build();
            await client.StartAsync();
            var grains = client.Services.GetRequiredService<IClusterClient>();
            using var monitor = new ClusterLoadMonitor(grains, NullLogger<ClusterLoadMonitor>.Instance);
            await monitor.StartAsync(default);   // polls every silo, as in a gateway
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (monitor.Samples.Count < hosts)
            {
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"only {monitor.Samples.Count} of {hosts} silos reported");
                await Task.Delay(ClusterLoadMonitor.Period);
            }
            IEngineRouter router = policy switch
            {
                "precise_kv" => new KvAwareRouter(monitor, grains, NullLogger<KvAwareRouter>.Instance),
                "load_only" => new LeastLoadedRouter(monitor),
                "random" => new RandomRouter(monitor),
                _ => throw new UsageException($"--real runs precise_kv, load_only or random, not '{policy}'"),
            };
            var arrivals = ClusterSimulator.Arrivals(w, rate, seconds);
            var engineIndex = monitor.Samples.Values.SelectMany(s => s.Report.Engines).Select((e, i) => (e.EngineId, i)).ToDictionary(x => x.EngineId, x => x.i);
            var served = new long[hosts];
            var records = new (double Arrival, double FirstToken, double Done, int Prompt, int Cached, int Output)[arrivals.Count];
            var sw = Stopwatch.StartNew();
            var tasks = new List<Task>();
            for (int k = 0; k < arrivals.Count; k++)
            {
                var (at, prompt, _) = arrivals[k];
                double wait = at * scale - sw.Elapsed.TotalSeconds;
                if (wait > 0) await Task.Delay(TimeSpan.FromSeconds(wait));
                int idx = k;
                tasks.Add(Task.Run(async () =>
                {
                    double arrival = sw.Elapsed.TotalSeconds / scale, first = double.NaN, done = double.NaN;
                    int output = 0, cached = 0;
                    string engine = (await router.PickAsync(prompt, default))!;
                    using var lease = router.Open(engine);
                    Interlocked.Add(ref served[engineIndex[engine]], prompt.Length + w.OutputTokens);
                    await foreach (var c in grains.GetGrain<IEngineGrain>(engine).Generate(new EngineGenerateRequest(Guid.NewGuid().ToString("N"), prompt,
                                       new SamplingSpec { Temperature = 0, MaxTokens = w.OutputTokens, IgnoreEos = true })))
                    {
                        if (c.TokenIds.Length > 0 && double.IsNaN(first)) first = sw.Elapsed.TotalSeconds / scale;
                        output += c.TokenIds.Length;
                        if (c.FinishReason is not null) { done = sw.Elapsed.TotalSeconds / scale; cached = c.CachedTokens; }
                    }
                    records[idx] = (arrival, first, done, prompt.Length, cached, output);
                }));
            }
            await Task.WhenAll(tasks);
            await monitor.StopAsync(default);
            return ClusterSimulator.Summarize(policy, hosts, rate, seconds, records, served, new Dictionary<string, int>());
        }
        finally
        {
            if (client is not null) { await client.StopAsync(); client.Dispose(); }
            foreach (var s in Enumerable.Reverse(silos)) { await s.StopAsync(); s.Dispose(); }
        }
    }

    sealed class RandomRouter(ClusterLoadMonitor monitor) : IEngineRouter
    {
        readonly Random _rng = new(1);
        public ValueTask<string?> PickAsync(int[] promptTokenIds, CancellationToken ct, string? avoid = null)
        {
            var engines = monitor.Samples.Values.SelectMany(s => s.Report.Engines).Select(e => e.EngineId).Where(e => e != avoid).ToArray();
            return ValueTask.FromResult<string?>(engines.Length == 0 ? null : engines[_rng.Next(engines.Length)]);
        }
        public IDisposable Open(string engineId) => new Nothing();
        sealed class Nothing : IDisposable { public void Dispose() { } }
    }
}
