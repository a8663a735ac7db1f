using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using SeaLion.Contracts.Grains;
using SeaLion.Hosting;

namespace SeaLion.Gateway;

/// <summary>No engine in the cluster can take a request (none reported, all draining or failed).</summary>
public sealed class NoEngineException() : Exception("no engine is serving: the cluster has no healthy silo");

/// <summary>
/// What both APIs (gRPC and OpenAI REST) do with the cluster once a request is valid: stream a prompt from the
/// engine the router picks, or a turn from a session grain. Cancelling the token ends the grain stream, which
/// aborts the request in the engine.
/// </summary>
public sealed class ClusterCalls(IGrainFactory grains, IEngineRouter router, ModelCatalog model)
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

    /// <summary>
    /// How long a stream may spend failing over: a stream cut by a lost engine or silo (anything but the caller's
    /// own error or cancellation) is resumed on another engine from the prompt plus the tokens already sent, with
    /// the same sampling state, until this much time has passed since the request began.
    /// </summary>
    public static readonly TimeSpan FailoverBudget = TimeSpan.FromSeconds(45);
    static readonly Prometheus.Counter Failovers = Prometheus.Metrics.CreateCounter("sealion_stream_failovers_total",
        "Streams resumed after their engine or silo was lost, by kind (generate, chat).", ["kind"]);

    static bool Retryable(Exception e, CancellationToken ct) =>
        !ct.IsCancellationRequested && e is not (ArgumentException or SessionBusyException or OperationCanceledException);

    /// <summary>A seed for every sampled request, so that a resumed stream draws what the lost one would have.</summary>
    static SamplingSpec Seeded(SamplingSpec s) => s.Seed is null && s.Temperature > 0 ? s with { Seed = Random.Shared.NextInt64() } : s;

    /// <summary>What a resumable stream has delivered so far: the tokens, and their text where resuming needs it (chat).</summary>
    sealed class Delivered(bool keepText)
    {
        readonly List<int> _tokens = [];
        readonly StringBuilder? _text = keepText ? new() : null;
        public void Add(GenerateChunk c) { _tokens.AddRange(c.TokenIds); _text?.Append(c.Text); }
        public int[]? ResumeTokens => _tokens.Count > 0 ? _tokens.ToArray() : null;
        public string? ResumeText => _tokens.Count > 0 ? _text?.ToString() : null;
    }

    /// <summary>
    /// The failover loop both kinds of stream share: open a stream (given what was delivered, and the target that
    /// failed twice in a row, if any), relay it, and on a retryable failure open the next after a short backoff,
    /// until <see cref="FailoverBudget"/> has passed since the request began.
    /// </summary>
    static async IAsyncEnumerable<GenerateChunk> Resumable(string kind, bool keepText, Func<Delivered, string?, Task<(string Target, IAsyncEnumerable<GenerateChunk> Stream, IDisposable? Lease)>> open,
        [EnumeratorCancellation] CancellationToken ct)
    {
        var delivered = new Delivered(keepText);
        string? avoid = null, lastFailed = null;
        long started = Stopwatch.GetTimestamp();
        for (int attempt = 1; ; attempt++)
        {
            var (target, stream, lease) = await open(delivered, avoid);
            var e = stream.WithCancellation(ct).GetAsyncEnumerator();
            Exception? failure = null;
            try
            {
                while (true)
                {
                    try { if (!await e.MoveNextAsync()) break; }
                    catch (Exception ex) when (Retryable(ex, ct) && Stopwatch.GetElapsedTime(started) < FailoverBudget) { failure = ex; break; }
                    delivered.Add(e.Current);
                    yield return e.Current;
                }
            }
            finally
            {
                lease?.Dispose();
                try { await e.DisposeAsync(); } catch (Exception) when (failure is not null || ct.IsCancellationRequested) { }
            }
            if (failure is null) yield break;
            Failovers.WithLabels(kind).Inc();
            // The target itself may be fine: a stream also breaks when the silo that carried it for this gateway's
            // Orleans client (its client gateway) stops. Retry anywhere first (the router drops dead silos from its
            // view within seconds); only a second failure on the same target excludes it.
            avoid = lastFailed == target ? target : null;
            lastFailed = target;
            await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(2000, 100 * attempt)), ct);
        }
    }

    public IAsyncEnumerable<GenerateChunk> Generate(int[] promptIds, SamplingSpec sampling, string requestId, CancellationToken ct)
    {
        sampling = Seeded(sampling);
        return Resumable("generate", keepText: false, async (delivered, avoid) =>
        {
            string engineId = await router.PickAsync(promptIds, ct, avoid) ?? throw new NoEngineException();
            var request = new EngineGenerateRequest(requestId, promptIds, sampling, delivered.ResumeTokens);
            return (engineId, grains.GetGrain<IEngineGrain>(engineId).Generate(request), router.Open(engineId));
        }, ct);
    }

    /// <summary>
    /// A turn through the session grain. If its silo is lost the grain reactivates on a live one (its history is
    /// the stored one: the cut turn was not persisted) and the turn resumes after what was sent.
    /// </summary>
    public IAsyncEnumerable<GenerateChunk> Chat(string sessionKey, ChatMessageSpec[] messages, SamplingSpec sampling, string requestId, CancellationToken ct)
    {
        sampling = Seeded(sampling);
        return Resumable("chat", keepText: true, (delivered, _) => Task.FromResult<(string, IAsyncEnumerable<GenerateChunk>, IDisposable?)>((sessionKey,
            grains.GetGrain<ISessionGrain>(sessionKey).Chat(new ChatTurnRequest(requestId, messages, sampling, delivered.ResumeTokens, delivered.ResumeText)), null)), ct);
    }

    public ISessionGrain Session(string sessionKey) => grains.GetGrain<ISessionGrain>(sessionKey);
}
