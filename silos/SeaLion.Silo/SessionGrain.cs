using System.Text;
using Orleans.Runtime;
using SeaLion.Contracts.Grains;
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
}

/// <summary>
/// One conversation (key "tenant/session"). Renders the model's chat template over the stored history plus the
/// new messages, streams the reply from the engine on this silo (so turn 2 finds turn 1's blocks in that engine's
/// prefix cache), and persists the turn (new messages and reply) before the last chunk goes out. A turn that fails
/// or is cancelled changes nothing. One turn at a time: a second Chat while one runs is refused.
/// </summary>
[SessionPlacement]
public sealed class SessionGrain(
    [PersistentState("session", SessionGrain.Storage)] IPersistentState<SessionState> state,
    EngineHost host, SiloState silo, ILocalSiloDetails local) : Grain, ISessionGrain
{
    /// <summary>The grain storage provider sessions are kept in.</summary>
    public const string Storage = "sessions";
    bool _busy;

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
        if (_busy) throw new SessionBusyException($"session '{key}' has a turn in progress; wait for it to end");
        if (ChatLimits.Check(request.Messages) is { } error) throw new ArgumentException(error);
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

        _busy = true;
        silo.StreamStarted();
        try
        {
            var reply = new StringBuilder(request.ResumeText ?? "");   // a turn resumed after a lost silo: what was already sent
            await foreach (var o in host.Engine.GenerateAsync(new GenerateRequest(ids, sampling, request.RequestId, request.ResumeOutput)))
            {
                reply.Append(o.Text);
                if (o.FinishReason is "stop" or "length")
                {
                    history.Add(new ChatMessageSpec("assistant", reply.ToString()));
                    state.State.Messages = history;
                    state.State.EngineId = EngineId;
                    state.State.Turns++;
                    state.State.Model = host.ModelName;
                    await state.WriteStateAsync();
                }
                yield return o.ToChunk();
            }
        }
        finally { _busy = false; silo.StreamEnded(); }
    }

    public Task<SessionSnapshot?> Get() => Task.FromResult(state.RecordExists
        ? new SessionSnapshot(this.GetPrimaryKeyString(), state.State.Model, state.State.Messages.ToArray(), state.State.EngineId, state.State.Turns)
        : null);

    public async Task<bool> Delete()
    {
        if (_busy) throw new SessionBusyException($"session '{this.GetPrimaryKeyString()}' has a turn in progress; wait for it to end");
        bool existed = state.RecordExists;
        if (existed) await state.ClearStateAsync();
        state.State = new SessionState();
        DeactivateOnIdle();
        return existed;
    }
}
