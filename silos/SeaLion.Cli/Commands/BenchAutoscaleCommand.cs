using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using SeaLion.Cli.Plotting;
using SeaLion.Client;

namespace SeaLion.Cli.Commands;

/// <summary>
/// The HorizontalPodAutoscaler's algorithm for one Pods metric, as the Kubernetes controller applies it, with the
/// policy shipped in ops/k8s/autoscaling/hpa/autoscaling.yaml: desired = ceil(sum of the pods' values / target),
/// no change within the 10% tolerance, clamped to [min, max]; scale-up by at most UpPods per period, scale-down by
/// at most DownPods per period and only to the highest recommendation of the stabilization window. Times are in
/// seconds of the caller's clock (the loopback run compresses them by its time scale).
/// </summary>
internal sealed class HpaPolicy(double target, int min, int max, double stabilizationS, int upPods, int downPods, double periodS, double tolerance = 0.1)
{
    public const double ShippedTarget = 2, ShippedStabilizationS = 300, ShippedPeriodS = 60, ShippedSyncS = 15;
    public const int ShippedMin = 1, ShippedMax = 16, ShippedUpPods = 2, ShippedDownPods = 1;

    readonly List<(double T, int Recommendation)> _recommendations = [];
    readonly List<(double T, int Change)> _changes = [];

    /// <summary>The replica count to run now, given the current count and each ready pod's metric value.</summary>
    public int Desired(double now, int current, IReadOnlyList<double> values)
    {
        int recommendation = current;
        if (values.Count > 0)
        {
            double ratio = values.Average() / target;
            if (Math.Abs(ratio - 1) > tolerance) recommendation = (int)Math.Ceiling(values.Sum() / target);
        }
        recommendation = Math.Clamp(recommendation, min, max);
        _recommendations.Add((now, recommendation));
        _recommendations.RemoveAll(r => r.T < now - stabilizationS);
        int desired = recommendation;
        if (desired < current) desired = Math.Min(current, _recommendations.Max(r => r.Recommendation));   // scale-down stabilization
        _changes.RemoveAll(c => c.T < now - periodS);
        if (desired > current) desired = Math.Min(desired, current + Math.Max(0, upPods - _changes.Where(c => c.Change > 0).Sum(c => c.Change)));
        if (desired < current) desired = Math.Max(desired, current - Math.Max(0, downPods + _changes.Where(c => c.Change < 0).Sum(c => c.Change)));
        if (desired != current) _changes.Add((now, desired - current));
        return desired;
    }
}

/// <summary>
/// `bench autoscale`: the silo autoscaling policy proven on loopback. Starts redis-server, one silo (simulated engine
/// with a small KV cache, so load queues) and a gateway as processes, drives load in phases (half stateless Generate,
/// half chat turns in sessions of their own, through the SDK), and every sync period scrapes each silo's
/// sealion_num_requests_waiting and applies <see cref="HpaPolicy"/> with the shipped thresholds, its time windows
/// divided by --time-scale: scale-out starts a silo process that joins; scale-in sends the newest SIGTERM and it
/// drains. Reports replicas, waiting requests and TTFT over time (JSON, and --plot PNG), requests served and failed,
/// and sessions checked against what their clients received. Exit 1 on a failed request or a lost session.
/// </summary>
internal static class BenchAutoscaleCommand
{
    sealed record Sample(double T, int Replicas, int Ready, double AvgWaiting, double TtftP50, long Served, long Failed);

    sealed class Proc(string name, Process process, int httpPort)
    {
        public string Name { get; } = name;
        public Process Process { get; } = process;
        public int HttpPort { get; } = httpPort;
        public bool Ready { get; set; }
        public void Signal(string sig) { try { Process.Start("kill", $"-{sig} {Process.Id}")!.WaitForExit(); } catch (Exception) { } }
    }

    static Proc Start(string name, string args, int httpPort, string logDir)
    {
        string cli = Path.Combine(AppContext.BaseDirectory, "sealion.dll");
        var psi = new ProcessStartInfo("dotnet", $"\"{cli}\" {args}") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        var p = Process.Start(psi)!;
        var log = new StreamWriter(Path.Combine(logDir, name + ".log")) { AutoFlush = true };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return new Proc(name, p, httpPort);
    }

    static async Task<bool> Healthy(HttpClient http, Proc p)
    {
        try { return (await http.GetAsync($"http://127.0.0.1:{p.HttpPort}/healthz")).IsSuccessStatusCode; }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { return false; }
    }

    static async Task WaitHealthy(HttpClient http, Proc p, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (!await Healthy(http, p))
        {
            if (p.Process.HasExited) throw new InvalidOperationException($"{p.Name} exited with {p.Process.ExitCode}");
            if (sw.Elapsed > timeout) throw new TimeoutException($"{p.Name} not healthy after {timeout}");
            await Task.Delay(200);
        }
        p.Ready = true;
    }

    static async Task<double?> Waiting(HttpClient http, Proc p)
    {
        try
        {
            string text = await http.GetStringAsync($"http://127.0.0.1:{p.HttpPort}/metrics");
            foreach (var line in text.Split('\n'))
                if (line.StartsWith("sealion_num_requests_waiting{", StringComparison.Ordinal))
                    return double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
            return null;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { return null; }
    }

    public static async Task<int> Run(CliArgs a)
    {
        // Load phases: "streams:seconds,...".
        var phases = (a.String("phases") ?? "4:60,48:240,4:600").Split(',').Select(p =>
        {
            var parts = p.Split(':');
            if (parts.Length != 2 || !int.TryParse(parts[0], out int n) || !double.TryParse(parts[1], CultureInfo.InvariantCulture, out double s) || n < 0 || s <= 0)
                throw new UsageException($"--phases holds '{p}'; write streams:seconds, e.g. 4:60,48:240,4:600");
            return (Streams: n, Seconds: s);
        }).ToArray();
        double scale = a.Double("time-scale") ?? 1;
        int max = a.Int("max-replicas", 3, 1, HpaPolicy.ShippedMax), kvMb = a.Int("kv-cache-mb", 64, 2, 1 << 20), genLen = a.Int("gen-len", 64, 1, 4000);
        double simScale = a.Double("sim-time-scale") ?? 1;
        string? plot = a.String("plot");
        a.EnsureAllUsed();
        if (scale < 1) throw new UsageException($"--time-scale must be at least 1 (it divides the HPA's time windows), got {scale}");
        var policy = new HpaPolicy(HpaPolicy.ShippedTarget, HpaPolicy.ShippedMin, max, HpaPolicy.ShippedStabilizationS / scale,
            HpaPolicy.ShippedUpPods, HpaPolicy.ShippedDownPods, HpaPolicy.ShippedPeriodS / scale);
        double syncS = HpaPolicy.ShippedSyncS / scale;

        string logDir = Path.Combine(Path.GetTempPath(), $"sealion-autoscale-{Environment.ProcessId}");
        Directory.CreateDirectory(logDir);
        string model = ModelLocator.Resolve(null);
        int redisPort = Ports.Free();
        string cluster = "autoscale-" + Guid.NewGuid().ToString("N")[..8];
        var redis = Process.Start(new ProcessStartInfo("redis-server",
            $"--port {redisPort} --bind 127.0.0.1 --dir {logDir} --save \"\" --appendonly yes --appendfsync everysec") { RedirectStandardOutput = true, UseShellExecute = false })
            ?? throw new InvalidOperationException("redis-server did not start (apt-get install -y redis-server)");
        string common = $"--redis 127.0.0.1:{redisPort} --cluster-id {cluster} --model \"{model}\"";
        var silos = new List<Proc>();
        int next = 0;
        Proc StartSilo()
        {
            int http = Ports.Free();
            var p = Start($"silo{next++}", $"silo {common} --engine sim --sim-time-scale {simScale.ToString(CultureInfo.InvariantCulture)} --kv-cache-mb {kvMb} "
                + $"--silo-port {Ports.Free()} --gateway-port {Ports.Free()} --http-port {http} --drain-timeout-s 30", http, logDir);
            silos.Add(p);
            return p;
        }
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
        int grpc = Ports.Free(), gwHttp = Ports.Free();
        Proc? gateway = null;
        var draining = new List<Task>();
        var events = new ConcurrentQueue<object>();
        var samples = new List<Sample>();
        var ttfts = new ConcurrentQueue<(double T, double Ttft)>();
        var sessions = new ConcurrentDictionary<string, string>();   // session -> the last reply its client received
        var sessionTurns = new ConcurrentDictionary<string, int>();
        var errors = new ConcurrentDictionary<string, int>();
        long served = 0, failed = 0;
        var clock = Stopwatch.StartNew();
        try
        {
            await WaitHealthy(http, StartSilo(), TimeSpan.FromMinutes(2));
            gateway = Start("gateway", $"gateway {common} --grpc-port {grpc} --http-port {gwHttp} --no-auth", gwHttp, logDir);
            await WaitHealthy(http, gateway, TimeSpan.FromMinutes(2));
            using var client = new SeaLionClient(new SeaLionClientOptions { Address = new Uri($"http://127.0.0.1:{grpc}"), MaxRetries = 5 });

            int level = 0;
            using var stop = new CancellationTokenSource();
            var workers = Enumerable.Range(0, phases.Max(p => p.Streams)).Select(w => Task.Run(async () =>
            {
                for (int turn = 0; !stop.IsCancellationRequested; )
                {
                    // A conversation of four turns, then a new one: a history that grows without end would outgrow a
                    // small engine's KV cache (a request the cache cannot hold is refused, rightly).
                    string session = $"as-{cluster}-{w}-{turn / 4}";
                    if (w >= Volatile.Read(ref level)) { await Task.Delay(100); continue; }
                    double start = clock.Elapsed.TotalSeconds, first = double.NaN;
                    var text = new System.Text.StringBuilder();
                    try
                    {
                        var options = new GenerationOptions { Temperature = 0, MaxTokens = genLen, IgnoreEos = true };
                        var stream = w % 2 == 0 ? client.GenerateAsync($"Permintaan {turn} dari pekerja {w}.", options)
                            : client.ChatAsync(session, $"Giliran {turn}.", options);
                        await foreach (var c in stream)
                        {
                            if (double.IsNaN(first)) first = clock.Elapsed.TotalSeconds;
                            text.Append(c.Text);
                        }
                        ttfts.Enqueue((first, first - start));
                        Interlocked.Increment(ref served);
                        if (w % 2 == 1) { sessions[session] = text.ToString(); sessionTurns.AddOrUpdate(session, 1, (_, n) => n + 1); }
                        turn++;
                    }
                    catch (Exception e)
                    {
                        Interlocked.Increment(ref failed);
                        errors.AddOrUpdate(e.Message.Length > 120 ? e.Message[..120] : e.Message, 1, (_, n) => n + 1);
                        await Task.Delay(500);
                    }
                }
            })).ToArray();

            double phaseEnd = 0;
            int replicas = 1;
            foreach (var (streams, seconds) in phases)
            {
                Volatile.Write(ref level, streams);
                events.Enqueue(new { t = Math.Round(clock.Elapsed.TotalSeconds, 1), load_streams = streams });
                phaseEnd += seconds;
                while (clock.Elapsed.TotalSeconds < phaseEnd)
                {
                    await Task.Delay(TimeSpan.FromSeconds(syncS));
                    foreach (var s in silos.Where(s => !s.Ready)) if (await Healthy(http, s)) s.Ready = true;
                    var ready = silos.Where(s => s.Ready && !s.Process.HasExited).ToList();
                    var values = (await Task.WhenAll(ready.Select(s => Waiting(http, s)))).Where(v => v is not null).Select(v => v!.Value).ToList();
                    double now = clock.Elapsed.TotalSeconds;
                    int desired = policy.Desired(now, replicas, values);
                    var recent = ttfts.Where(x => x.T > now - Math.Max(syncS, 2)).Select(x => x.Ttft).OrderBy(x => x).ToArray();
                    samples.Add(new Sample(Math.Round(now, 1), replicas, ready.Count, values.Count > 0 ? Math.Round(values.Average(), 2) : 0,
                        recent.Length > 0 ? Math.Round(recent[recent.Length / 2], 3) : double.NaN, Interlocked.Read(ref served), Interlocked.Read(ref failed)));
                    for (; replicas < desired; replicas++)
                    {
                        var s = StartSilo();
                        events.Enqueue(new { t = Math.Round(now, 1), scale_out = s.Name, to = replicas + 1 });
                    }
                    for (; replicas > desired; replicas--)
                    {
                        var victim = silos.Last(s => !s.Process.HasExited);   // the newest
                        silos.Remove(victim);
                        victim.Signal("TERM");   // drains: reports draining, lets its requests finish, leaves the cluster
                        var sw = Stopwatch.StartNew();
                        draining.Add(victim.Process.WaitForExitAsync().ContinueWith(_ => events.Enqueue(new { t = Math.Round(clock.Elapsed.TotalSeconds, 1), drained = victim.Name, exit_code = victim.Process.ExitCode, drain_s = Math.Round(sw.Elapsed.TotalSeconds, 1) })));
                        events.Enqueue(new { t = Math.Round(now, 1), scale_in = victim.Name, to = replicas - 1 });
                    }
                }
            }
            stop.Cancel();
            await Task.WhenAll(workers);
            await Task.WhenAll(draining);

            // Every conversation's stored history holds the turns its client completed, the last as received.
            int checkedSessions = 0, lost = 0;
            foreach (var (session, last) in sessions)
            {
                checkedSessions++;
                var s = await client.GetSessionAsync(session);
                if (s is null || s.Messages.Count != 2 * sessionTurns[session] || s.Messages[^1].Content != last) lost++;
            }
            if (plot is not null)
            {
                double[] t = samples.Select(s => s.T).ToArray();
                SweepPlot.Write(plot, $"Silo autoscaling on loopback (HPA policy, time windows / {scale})",
                [
                    new PlotPanel("Replicas", "seconds", "silos", [new PlotSeries("desired", t, samples.Select(s => (double)s.Replicas).ToArray()), new PlotSeries("ready", t, samples.Select(s => (double)s.Ready).ToArray())]),
                    new PlotPanel("Waiting requests per silo", "seconds", "requests", [new PlotSeries("average", t, samples.Select(s => s.AvgWaiting).ToArray()), new PlotSeries("target", t, t.Select(_ => HpaPolicy.ShippedTarget).ToArray())]),
                    new PlotPanel("Time to first token", "seconds", "ms", [new PlotSeries("p50", t, samples.Select(s => double.IsNaN(s.TtftP50) ? 0 : s.TtftP50 * 1000).ToArray())]),
                ]);
            }
            Console.Out.WriteLine(JsonSerializer.Serialize(new
            {
                bench = "autoscale", time_scale = scale, policy = new { target_waiting = HpaPolicy.ShippedTarget, min = HpaPolicy.ShippedMin, max, stabilization_s = HpaPolicy.ShippedStabilizationS / scale, sync_s = syncS, period_s = HpaPolicy.ShippedPeriodS / scale },
                phases = phases.Select(p => new { streams = p.Streams, seconds = p.Seconds }), max_replicas_reached = samples.Max(s => s.Replicas), final_replicas = samples[^1].Replicas,
                requests_served = served, requests_failed = failed, errors, sessions_checked = checkedSessions, sessions_lost = lost, events,
                timeline = samples.Select(s => new { t = s.T, replicas = s.Replicas, ready = s.Ready, avg_waiting = s.AvgWaiting, ttft_p50_s = double.IsNaN(s.TtftP50) ? (double?)null : s.TtftP50, served = s.Served }),
                plot, logs = logDir,
            }, new JsonSerializerOptions { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }));
            return failed == 0 && lost == 0 ? 0 : 1;
        }
        finally
        {
            if (gateway is not null) { gateway.Signal("TERM"); gateway.Process.WaitForExit(20_000); }
            foreach (var s in silos.Where(s => !s.Process.HasExited)) s.Signal("TERM");
            foreach (var s in silos) { if (!s.Process.WaitForExit(60_000)) s.Process.Kill(); }
            try { redis.Kill(); redis.WaitForExit(5000); } catch (InvalidOperationException) { }
        }
    }
}
