using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using SeaLion.Contracts.Grains;
using Orleans.Runtime;
using SeaLion.Hosting;

namespace SeaLion.Gateway;

/// <summary>
/// How long a stream may spend failing over: a stream cut by a lost engine or silo (anything but the caller's own
/// error or cancellation) is resumed on another engine from the prompt plus the tokens already sent, with the same
/// sampling state, until <paramref name="Budget"/> has passed since the cut (its last chunk), however long the stream
/// had run before. Default 45 s; `--failover-budget-s` on the gateway.
/// </summary>
public sealed record FailoverOptions(TimeSpan Budget)
{
    public static readonly FailoverOptions Default = new(TimeSpan.FromSeconds(45));
}

/// <summary>What a client already received of a stream it resumes through this gateway (its previous gateway died).</summary>
public sealed record Resume(int[] TokenIds, string? Text);

/// <summary>No engine in the cluster can take a request (none reported, all draining or failed).</summary>
public sealed class NoEngineException() : Exception("no engine is serving: the cluster has no healthy silo");

/// <summary>
/// What both APIs (gRPC and OpenAI REST) do with the cluster once a request is valid: stream a prompt from the
/// engine the router picks, or a turn from a session grain. Cancelling the token ends the grain stream, which
/// aborts the request in the engine.
/// </summary>
public sealed class ClusterCalls(IGrainFactory grains, IEngineRouter router, ModelCatalog model, StreamWatchdog watchdog, FailoverOptions failover)
{
    public ModelCatalog Model => model;

    /// <summary>Null when prompt + max_tokens fits the context, else the message saying by how much it does not.</summary>
    public string? CheckFits(int promptTokens, int maxTokens, string what = "prompt") =>
        promptTokens + maxTokens > model.ContextLength
            ? $"{what} ({promptTokens} tokens) + max_tokens ({maxTokens}) = {promptTokens + maxTokens} exceeds the context length of {model.ContextLength}"
            : null;

    /// <summary>Null when every id is in the vocabulary, else which one is not.</summary>
    public string? CheckIds(IEnumerable<int> ids, string field)
    {
        foreach (int id in ids)
            if (id < 0 || id >= model.VocabSize) return $"{field} holds {id}, outside the vocabulary [0, {model.VocabSize})";
        return null;
    }

    static readonly Prometheus.Counter Failovers = Prometheus.Metrics.CreateCounter("sealion_stream_failovers_total",
        "Streams resumed after their engine or silo was lost, by kind (generate, chat).", ["kind"]);
    static readonly Prometheus.Histogram FailoverPause = Prometheus.Metrics.CreateHistogram("sealion_stream_failover_pause_seconds",
        "From a resumed stream's last chunk before the cut to its first chunk after it, by kind.",
        new Prometheus.HistogramConfiguration { LabelNames = ["kind"], Buckets = [0.25, 0.5, 1, 2, 3, 4, 5, 7.5, 10, 15, 30, 45] });

    /// <summary>
    /// A failure of the cluster rather than of the request, as a client should read it (UNAVAILABLE / 503, retry after
    /// a moment): the session store is down, or a stream could not be resumed within the failover budget. Null for
    /// anything else.
    /// </summary>
    public static (string Message, int RetryAfterSeconds)? Unavailable(Exception e) => e switch
    {
        SessionStoreUnavailableException => (e.Message, 2),
        StackExchange.Redis.RedisException => ($"the session store does not answer: {e.Message}", 2),
        StreamStalledException or TimeoutException or SiloUnavailableException or OrleansMessageRejectionException
            => ($"the cluster lost the stream and could not resume it: {e.Message}", 1),
        _ => null,
    };

    /// <summary>
    /// Whether a failure is retried: never the caller's own error, cancellation or a busy session; a session store that
    /// does not answer only when resuming a stream that had begun (a new turn is refused at once, UNAVAILABLE, so the
    /// client is not kept waiting; a cut turn waits for the store within the budget); anything else (a lost silo or
    /// engine) always.
    /// </summary>
    static bool Retryable(Exception e, CancellationToken ct, bool resuming) =>
        !ct.IsCancellationRequested && e is not (ArgumentException or SessionBusyException or OperationCanceledException)
        && (resuming || e is not (SessionStoreUnavailableException or StackExchange.Redis.RedisException));

    /// <summary>A seed for every sampled request, so that a resumed stream draws what the lost one would have.</summary>
    static SamplingSpec Seeded(SamplingSpec s) => s.Seed is null && s.Temperature > 0 ? s with { Seed = Random.Shared.NextInt64() } : s;

    /// <summary>What a resumable stream has delivered so far: the tokens, and their text where resuming needs it (chat).</summary>
    sealed class Delivered(bool keepText, Resume? resume)
    {
        readonly List<int> _tokens = [.. resume?.TokenIds ?? []];
        readonly StringBuilder? _text = keepText ? new(resume?.Text ?? "") : null;
        public void Add(GenerateChunk c) { _tokens.AddRange(c.TokenIds); _text?.Append(c.Text); }
        public bool Any => _tokens.Count > 0;
        public int[]? ResumeTokens => _tokens.Count > 0 ? _tokens.ToArray() : null;
        public string? ResumeText => _tokens.Count > 0 ? _text?.ToString() : null;
    }

    /// <summary>
    /// The failover loop both kinds of stream share: open a stream (given what was delivered, and the target that
    /// failed twice in a row, if any), relay it, and on a retryable failure (or a stall across a silo's loss, cut by
    /// the <see cref="StreamWatchdog"/>) open the next after a short backoff, until <see cref="FailoverOptions.Budget"/> has
    /// passed since the cut. A wait that is abandoned is never awaited again: the Orleans call behind it may only
    /// end at its response timeout, and its enumerator is disposed in the background.
    /// </summary>
    async IAsyncEnumerable<GenerateChunk> Resumable(string kind, bool keepText, Resume? resume, Func<Delivered, string?, Task<(string Target, IAsyncEnumerable<GenerateChunk> Stream, IDisposable? Lease)>> open,
        [EnumeratorCancellation] CancellationToken ct)
    {
        var delivered = new Delivered(keepText, resume);
        string? avoid = null, lastFailed = null;
        long lastChunk = Stopwatch.GetTimestamp();
        bool resumed = false;
        for (int attempt = 1; ; attempt++)
        {
            Exception? failure = null;
            using (var watch = watchdog.Start(ct))
            {
                IAsyncEnumerator<GenerateChunk>? e = null;
                Task<bool>? pending = null;
                IDisposable? lease = null;
                try
                {
                    string? target = null;
                    IAsyncEnumerable<GenerateChunk>? stream = null;
                    try { (target, stream, lease) = await open(delivered, avoid).WaitAsync(watch.Token); }
                    catch (Exception ex) when (attempt > 1 && Retryable(ex, ct, resuming: true) && Stopwatch.GetElapsedTime(lastChunk) < failover.Budget)
                    {   // resuming: no engine may be in view for a moment while the router drops the lost one
                        failure = watch.Fired ? new StreamStalledException(Stopwatch.GetElapsedTime(lastChunk)) : ex;
                    }
                    if (stream is not null)
                    {
                        bool finished = false;
                        e = stream.GetAsyncEnumerator(watch.Token);
                        while (true)
                        {
                            // Most MoveNexts complete at once (Orleans hands over batches): only a wait that may have to be
                            // abandoned becomes a task the watchdog's token can cut.
                            try
                            {
                                var next = e.MoveNextAsync();
                                bool more = next.IsCompletedSuccessfully ? next.Result : await (pending = next.AsTask()).WaitAsync(watch.Token);
                                pending = null;
                                if (!more) break;
                            }
                            catch (Exception ex) when (finished || Retryable(ex, ct, resuming: attempt > 1 || delivered.Any) || (watch.Fired && !ct.IsCancellationRequested))
                            {
                                // The finish chunk was delivered: the stream is whole, whatever befell the read that would have
                                // seen its end (a silo draining away). It is read to its end, not cut, so that the grain
                                // closes the turn before the caller can send the next one.
                                if (finished) break;
                                if (Stopwatch.GetElapsedTime(lastChunk) >= failover.Budget) throw;
                                failure = watch.Fired ? new StreamStalledException(Stopwatch.GetElapsedTime(lastChunk)) : ex;
                                break;
                            }
                            watch.Progress();
                            if (resumed) { FailoverPause.WithLabels(kind).Observe(Stopwatch.GetElapsedTime(lastChunk).TotalSeconds); resumed = false; }
                            lastChunk = Stopwatch.GetTimestamp();
                            delivered.Add(e.Current);
                            finished |= e.Current.FinishReason is not null;
                            yield return e.Current;
                        }
                        // A grain stream that ends without a finish reason was cut on the silo's side (its turn taken over,
                        // its engine gone): resumed like any other loss, never passed on as a silent end.
                        if (failure is null && !finished)
                        {
                            if (Stopwatch.GetElapsedTime(lastChunk) >= failover.Budget) throw new StreamStalledException(Stopwatch.GetElapsedTime(lastChunk));
                            failure = new StreamEndedEarlyException();
                        }
                    }
                    if (failure is not null and not StreamStalledException && target is not null)
                    {
                        // The target itself may be fine: a stream also breaks when the silo that carried it for this gateway's
                        // Orleans client (its client gateway) is lost. Retry anywhere first (the router skips silos that stopped
                        // answering); only a second failure on the same target excludes it (while another engine serves). A stall
                        // cut by the watchdog says the path was suspect, not the target: it excludes nothing.
                        avoid = lastFailed == target ? target : null;
                        lastFailed = target;
                    }
                }
                finally
                {
                    lease?.Dispose();
                    if (e is not null) Release(e, pending);
                }
            }
            if (failure is null) yield break;
            Failovers.WithLabels(kind).Inc();
            resumed = true;
            await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(1000, 50 * attempt)), ct);
        }
    }

    /// <summary>
    /// Disposes a grain stream's enumerator without waiting on a silo that may be gone: after a failure or a cut the
    /// pending MoveNext and the dispose (itself a grain call) finish in the background, their errors observed.
    /// </summary>
    static void Release(IAsyncEnumerator<GenerateChunk> e, Task<bool>? pending)
    {
        _ = Task.Run(async () =>
        {
            if (pending is not null) { try { await pending; } catch (Exception) { } }
            try { await e.DisposeAsync(); } catch (Exception) { }   // the silo may be gone; the engine request ends with it
        });
    }

    public IAsyncEnumerable<GenerateChunk> Generate(int[] promptIds, SamplingSpec sampling, string requestId, CancellationToken ct, Resume? resume = null)
    {
        sampling = Seeded(sampling);
        return Resumable("generate", keepText: false, resume, async (delivered, avoid) =>
        {
            string engineId = await router.PickAsync(promptIds, ct, avoid) ?? throw new NoEngineException();
            // The engine's id for this attempt: unique, so a resumed attempt never meets the one it replaces (which may
            // still run until its abandoned stream is disposed) or another caller's request that chose the same id.
            var request = new EngineGenerateRequest($"{requestId}/{Guid.NewGuid():N}", promptIds, sampling, delivered.ResumeTokens);
            return (engineId, grains.GetGrain<IEngineGrain>(engineId).Generate(request), router.Open(engineId));
        }, ct);
    }

    /// <summary>
    /// A turn through the session grain. If its silo is lost the grain reactivates on a live one (its history is
    /// the stored one: the cut turn was not persisted) and the turn resumes after what was sent.
    /// </summary>
    public IAsyncEnumerable<GenerateChunk> Chat(string sessionKey, ChatMessageSpec[] messages, SamplingSpec sampling, string requestId, CancellationToken ct, Resume? resume = null)
    {
        sampling = Seeded(sampling);
        return Resumable("chat", keepText: true, resume, (delivered, _) => Task.FromResult<(string, IAsyncEnumerable<GenerateChunk>, IDisposable?)>((sessionKey,
            grains.GetGrain<ISessionGrain>(sessionKey).Chat(new ChatTurnRequest(requestId, messages, sampling, delivered.ResumeTokens, delivered.ResumeText)), null)), ct);
    }

    public ISessionGrain Session(string sessionKey) => grains.GetGrain<ISessionGrain>(sessionKey);
}
