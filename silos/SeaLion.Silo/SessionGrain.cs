using System.Text;
using Orleans.Runtime;
using Orleans.Storage;
using SeaLion.Contracts.Grains;
using SeaLion.Hosting;
using SeaLion.Engine;
using SeaLion.Silo.Placement;
using SeaLion.Templates;

namespace SeaLion.Silo;

/// <summary>A session's durable state: the conversation and where its KV blocks were last computed.</summary>
[GenerateSerializer]
public sealed class SessionState
{
    [Id(0)] public List<ChatMessageSpec> Messages { get; set; } = [];
    [Id(1)] public string? EngineId { get; set; }
    [Id(2)] public int Turns { get; set; }
    [Id(3)] public string Model { get; set; } = "";
    /// <summary>The last stored turn's request id and its final chunk as the engine produced it (all its tokens, and the
    /// finish and usage): a gateway that lost that turn's last chunk on the way resumes it and gets the end replayed.</summary>
    [Id(4)] public string? LastRequestId { get; set; }
    [Id(5)] public GenerateChunk? LastTurnEnd { get; set; }
}

/// <summary>
/// One conversation (key "tenant/session"). Renders the model's chat template over the stored history plus the
/// new messages, streams the reply from the engine on this silo (so turn 2 finds turn 1's blocks in that engine's
/// prefix cache), and persists the turn (new messages and reply) before the last chunk goes out. A turn that fails
/// or is cancelled changes nothing. One turn at a time: a second Chat while one runs waits up to 5 s (a cancelled turn
/// winding down), then is refused.
/// </summary>
[SessionPlacement]
// An idle session leaves memory after 3 minutes (its history is in the store; the next turn reactivates it): with
// Orleans' default of 15 minutes a stream of short conversations held every one of them (found by the soak: silo
// working sets grew 40-50% over 10 minutes).
[CollectionAgeLimit(Minutes = 3)]
public sealed class SessionGrain(
    [PersistentState("session", SessionGrain.Storage)] IPersistentState<SessionState> state,
    EngineHost host, SiloState silo, ILocalSiloDetails local, SessionStoreHealth store) : Grain, ISessionGrain
{
    /// <summary>The grain storage provider sessions are kept in.</summary>
    public const string Storage = "sessions";

    /// <summary>The turn running now: the caller's request id and the engine request serving it.</summary>
    sealed record Turn(string RequestId, string EngineRequestId);
    Turn? _turn;

    string EngineId => EngineHost.EngineId(SiloPinnedPlacement.Key(local.SiloAddress));

    public override Task OnActivateAsync(CancellationToken ct)
    {
        silo.SessionActivated();
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken ct)
    {
        silo.SessionDeactivated();
        return Task.CompletedTask;
    }

    public async IAsyncEnumerable<GenerateChunk> Chat(ChatTurnRequest request)
    {
        string key = this.GetPrimaryKeyString();
        // The store is asked first: its wait (a reconnect in progress) is this turn's only await before it claims the
        // session, so no other call of the session can interleave between the busy check below and the claim.
        bool storeAnswers = await store.AvailableAsync();
        // A turn whose caller walked away (cancelled its stream) ends when that cancellation reaches this grain: a next
        // turn sent right after it waits that moment out (up to BusyWait) instead of being refused. The wait comes
        // before the check, so nothing interleaves between the check and the claim below.
        for (long t0 = System.Diagnostics.Stopwatch.GetTimestamp(); _turn is { } busy && busy.RequestId != request.RequestId
             && System.Diagnostics.Stopwatch.GetElapsedTime(t0) < BusyWait;)
            await Task.Delay(25);
        // The same turn again (same request id) is a gateway resuming it after it lost the stream (its silo or the path
        // to it died, or it stalled across a loss): the old reader is gone, so the new call takes the turn over.
        if (_turn is { } running && running.RequestId != request.RequestId)
            throw new SessionBusyException($"session '{key}' has a turn in progress; wait for it to end");
        if (ChatLimits.Check(request.Messages) is { } error) throw new ArgumentException(error);
        if (request.RequestId == state.State.LastRequestId && state.State.LastTurnEnd is { } end)
        {
            // This turn was stored, but its end never reached the caller (the old stream may even be here still,
            // abandoned after its last chunk): send what the caller has not had, once more; nothing runs again.
            if (_turn?.RequestId == request.RequestId) _turn = null;
            int had = request.ResumeOutput?.Length ?? 0;
            string text = state.State.Messages[^1].Content, sent = request.ResumeText ?? "";
            yield return end with { TokenIds = end.TokenIds[Math.Min(had, end.TokenIds.Length)..], Text = text.StartsWith(sent, StringComparison.Ordinal) ? text[sent.Length..] : "" };
            yield break;
        }
        var history = state.State.Messages.Concat(request.Messages).ToList();
        // The template writes the BOS token itself, and special-token strings in it become special tokens.
        string prompt = host.Template.Render(history.Select(m => new ChatMessage(m.Role, m.Content)).ToList(), addGenerationPrompt: true);
        int[] ids = host.Tokenizer.Encode(prompt, addBos: false);
        int context = host.Config.MaxPositions;
        // MaxTokens 0: the rest of the context (only this grain knows how long the history is).
        var spec = request.Sampling.MaxTokens == 0 ? request.Sampling with { MaxTokens = Math.Max(1, context - ids.Length) } : request.Sampling;
        var sampling = spec.ToEngine();
        sampling.Validate(host.Config.VocabSize);
        if (ids.Length + sampling.MaxTokens > context)
            throw new ArgumentException($"session history with the new messages ({ids.Length} tokens) + max_tokens ({sampling.MaxTokens}) = {ids.Length + sampling.MaxTokens} exceeds the context length of {context}");

        if (!storeAnswers)
            throw new SessionStoreUnavailableException($"session '{key}': the session store ({store.Describe}) does not answer; nothing was changed, retry the turn shortly");
        if (_turn is { } replaced) host.Engine.Abort(replaced.EngineRequestId);
        var turn = _turn = new Turn(request.RequestId, $"{request.RequestId}/{Guid.NewGuid():N}");
        silo.StreamStarted();
        try
        {
            var reply = new StringBuilder(request.ResumeText ?? "");   // a turn resumed after a lost silo: what was already sent
            var tokens = new List<int>(request.ResumeOutput ?? []);
            await foreach (var o in host.Engine.GenerateAsync(new GenerateRequest(ids, sampling, turn.EngineRequestId, request.ResumeOutput)))
            {
                if (_turn != turn) yield break;   // taken over by the same turn resumed through another path: it stores the reply
                reply.Append(o.Text);
                tokens.AddRange(o.TokenIds);
                var chunk = o.ToChunk();
                if (o.FinishReason is "stop" or "length")
                    await StoreTurnAsync([.. history, new ChatMessageSpec("assistant", reply.ToString())], request.RequestId, chunk with { TokenIds = [.. tokens] });
                yield return chunk;
            }
        }
        finally
        {
            if (_turn == turn) _turn = null;
            silo.StreamEnded();
        }
    }

    /// <summary>How long a new turn waits for a running one (an abandoned turn being cancelled) before it is refused as busy.</summary>
    static readonly TimeSpan BusyWait = TimeSpan.FromSeconds(5);

    /// <summary>How long a finished turn waits for the store to take it (a store restarting) before the turn fails.</summary>
    static readonly TimeSpan StoreWait = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Persists the turn, and only then makes it the grain's state: a failed write (the store is down) leaves the
    /// history as it was, so a retried turn is in it once. The last chunk waits while the store is away (up to
    /// <see cref="StoreWait"/>), so a stream that ends during a short outage still ends, stored. A store that came
    /// back with other data (a write lost in the crash: its version differs) is read again and the turn refused.
    /// </summary>
    async Task StoreTurnAsync(List<ChatMessageSpec> messages, string requestId, GenerateChunk end)
    {
        var before = state.State;
        state.State = new SessionState
        {
            Messages = messages, EngineId = EngineId, Turns = before.Turns + 1, Model = host.ModelName, LastRequestId = requestId, LastTurnEnd = end,
        };
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            try { await state.WriteStateAsync(); return; }
            catch (InconsistentStateException e)
            {
                state.State = before;
                try { await state.ReadStateAsync(); } catch (Exception) { DeactivateOnIdle(); }
                throw new SessionStoreUnavailableException($"session '{this.GetPrimaryKeyString()}': the stored session changed ({e.Message}); it was read again, retry the turn");
            }
            catch (Exception) when (waited.Elapsed < StoreWait) { await Task.Delay(500); }
            catch (Exception e)
            {
                state.State = before;
                throw new SessionStoreUnavailableException($"session '{this.GetPrimaryKeyString()}': the session store did not take the turn within {StoreWait.TotalSeconds:F0} s ({e.GetType().Name}: {e.Message}); nothing was stored, retry the turn");
            }
        }
    }

    public Task<SessionSnapshot?> Get() => Task.FromResult(state.RecordExists
        ? new SessionSnapshot(this.GetPrimaryKeyString(), state.State.Model, state.State.Messages.ToArray(), state.State.EngineId, state.State.Turns)
        : null);

    public async Task<bool> Delete()
    {
        if (_turn is not null) throw new SessionBusyException($"session '{this.GetPrimaryKeyString()}' has a turn in progress; wait for it to end");
        bool existed = state.RecordExists;
        if (existed) await state.ClearStateAsync();
        state.State = new SessionState();
        DeactivateOnIdle();
        return existed;
    }
}
