using Prometheus;

namespace SeaLion.Engine;

/// <summary>
/// Engine metrics with vLLM's meanings under the sealion_ prefix, labelled by engine. Latencies are in seconds of
/// the engine's clock (virtual seconds for a simulated engine on a virtual clock).
/// </summary>
public sealed class EngineMetrics
{
    static readonly double[] LatencyBuckets = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
    static readonly double[] TokenLatencyBuckets = [0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5];

    readonly Gauge.Child _running, _waiting, _kvUsage;
    readonly Counter.Child _prefixQueries, _prefixHits, _promptTokens, _generationTokens, _preemptions;
    readonly Histogram.Child _ttft, _itl, _e2e, _queue;
    readonly Counter _success;
    readonly string _engine;

    public EngineMetrics(string engine, CollectorRegistry? registry = null)
    {
        _engine = engine;
        var f = Metrics.WithCustomRegistry(registry ?? Metrics.DefaultRegistry);
        string[] l = ["engine"];
        Gauge G(string n, string h) => f.CreateGauge(n, h, l);
        Counter C(string n, string h) => f.CreateCounter(n, h, l);
        Histogram H(string n, string h, double[] b) => f.CreateHistogram(n, h, new HistogramConfiguration { LabelNames = l, Buckets = b });
        _running = G("sealion_num_requests_running", "Requests in the running batch (holding KV blocks).").WithLabels(engine);
        _waiting = G("sealion_num_requests_waiting", "Requests waiting to be admitted.").WithLabels(engine);
        _kvUsage = G("sealion_kv_cache_usage_perc", "Fraction of KV-cache blocks in use (1 = full).").WithLabels(engine);
        _prefixQueries = C("sealion_prefix_cache_queries_total", "Tokens looked up in the prefix cache.").WithLabels(engine);
        _prefixHits = C("sealion_prefix_cache_hits_total", "Tokens found in the prefix cache.").WithLabels(engine);
        _promptTokens = C("sealion_prompt_tokens_total", "Prompt tokens received.").WithLabels(engine);
        _generationTokens = C("sealion_generation_tokens_total", "Tokens generated.").WithLabels(engine);
        _preemptions = C("sealion_num_preemptions_total", "Requests preempted (blocks freed, recomputed later).").WithLabels(engine);
        _ttft = H("sealion_time_to_first_token_seconds", "Arrival to first generated token.", LatencyBuckets).WithLabels(engine);
        _itl = H("sealion_inter_token_latency_seconds", "Time between consecutive generated tokens of a request.", TokenLatencyBuckets).WithLabels(engine);
        _e2e = H("sealion_e2e_request_latency_seconds", "Arrival to finish.", LatencyBuckets).WithLabels(engine);
        _queue = H("sealion_request_queue_time_seconds", "Arrival to first scheduled step.", LatencyBuckets).WithLabels(engine);
        _success = f.CreateCounter("sealion_request_success_total", "Finished requests by finish reason.", ["engine", "finished_reason"]);
    }

    internal void Observe(EngineLoad load, long prefixQueries, long prefixHits, long promptTokens, long generated, long preemptions)
    {
        _running.Set(load.Running);
        _waiting.Set(load.Waiting);
        _kvUsage.Set(load.KvUsage);
        _prefixQueries.IncTo(prefixQueries);
        _prefixHits.IncTo(prefixHits);
        _promptTokens.IncTo(promptTokens);
        _generationTokens.IncTo(generated);
        _preemptions.IncTo(preemptions);
    }

    internal void QueueTime(double s) => _queue.Observe(s);
    internal void FirstToken(double s) => _ttft.Observe(s);
    internal void InterToken(double s) => _itl.Observe(s);
    internal void Finished(string reason, double e2e)
    {
        _e2e.Observe(e2e);
        _success.WithLabels(_engine, reason).Inc();
    }
}

/// <summary>The engine's trace source: one "engine.generate" span per request (see LlmEngine.GenerateAsync).</summary>
public static class EngineTelemetry
{
    public static readonly System.Diagnostics.ActivitySource Source = new("SeaLion.Engine");
}
