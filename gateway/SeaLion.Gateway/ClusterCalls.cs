using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using SeaLion.Contracts.Grains;
using SeaLion.Silo;

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

    public async IAsyncEnumerable<GenerateChunk> Generate(int[] promptIds, SamplingSpec sampling, string requestId, [EnumeratorCancellation] CancellationToken ct)
    {
        sampling = Seeded(sampling);
        var sent = new List<int>();
        string? avoid = null, lastFailed = null;
        long started = Stopwatch.GetTimestamp();
        for (int attempt = 1; ; attempt++)
        {
            string engineId = await router.PickAsync(promptIds, ct, avoid) ?? throw new NoEngineException();
            using var lease = router.Open(engineId);
            var request = new EngineGenerateRequest(requestId, promptIds, sampling, sent.Count > 0 ? sent.ToArray() : null);
            var e = grains.GetGrain<IEngineGrain>(engineId).Generate(request).WithCancellation(ct).GetAsyncEnumerator();
            Exception? failure = null;
            try
            {
                while (true)
                {
                    try { if (!await e.MoveNextAsync()) break; }
                    catch (Exception ex) when (Retryable(ex, ct) && Stopwatch.GetElapsedTime(started) < FailoverBudget) { failure = ex; break; }
                    sent.AddRange(e.Current.TokenIds);
                    yield return e.Current;
                }
            }
            finally
            {
                try { await e.DisposeAsync(); } catch (Exception) when (failure is not null || ct.IsCancellationRequested) { }
            }
            if (failure is null) yield break;
            Failovers.WithLabels("generate").Inc();
            // The engine itself may be fine: a stream also breaks when the silo that carried it for this gateway's
            // Orleans client (its client gateway) stops. Retry anywhere first (the router drops dead silos from its
            // view within seconds); only a second failure on the same engine excludes it.
            avoid = lastFailed == engineId ? engineId : null;
            lastFailed = engineId;
            await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(2000, 100 * attempt)), ct);
        }
    }

    public async IAsyncEnumerable<GenerateChunk> Chat(string sessionKey, ChatMessageSpec[] messages, SamplingSpec sampling, string requestId,
        [EnumeratorCancellation] CancellationToken ct)
    {
        sampling = Seeded(sampling);
        var sent = new List<int>();
        var sentText = new StringBuilder();
        long started = Stopwatch.GetTimestamp();
        for (int attempt = 1; ; attempt++)
        {
            // The session grain reactivates on a live silo once the lost one is declared dead; its history is the
            // stored one (the cut turn was not persisted), and the turn resumes after what was sent.
            var request = new ChatTurnRequest(requestId, messages, sampling, sent.Count > 0 ? sent.ToArray() : null, sent.Count > 0 ? sentText.ToString() : null);
            var e = grains.GetGrain<ISessionGrain>(sessionKey).Chat(request).WithCancellation(ct).GetAsyncEnumerator();
            Exception? failure = null;
            try
            {
                while (true)
                {
                    try { if (!await e.MoveNextAsync()) break; }
                    catch (Exception ex) when (Retryable(ex, ct) && Stopwatch.GetElapsedTime(started) < FailoverBudget) { failure = ex; break; }
                    sent.AddRange(e.Current.TokenIds);
                    sentText.Append(e.Current.Text);
                    yield return e.Current;
                }
            }
            finally
            {
                try { await e.DisposeAsync(); } catch (Exception) when (failure is not null || ct.IsCancellationRequested) { }
            }
            if (failure is null) yield break;
            Failovers.WithLabels("chat").Inc();
            await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(2000, 100 * attempt)), ct);
        }
    }

    public ISessionGrain Session(string sessionKey) => grains.GetGrain<ISessionGrain>(sessionKey);
}
