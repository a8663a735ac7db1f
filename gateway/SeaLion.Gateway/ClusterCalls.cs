using System.Runtime.CompilerServices;
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

    public async IAsyncEnumerable<GenerateChunk> Generate(int[] promptIds, SamplingSpec sampling, string requestId, [EnumeratorCancellation] CancellationToken ct)
    {
        string engineId = await router.PickAsync(promptIds, ct) ?? throw new NoEngineException();
        using var lease = router.Open(engineId);
        await foreach (var c in grains.GetGrain<IEngineGrain>(engineId).Generate(new EngineGenerateRequest(requestId, promptIds, sampling)).WithCancellation(ct))
            yield return c;
    }

    public async IAsyncEnumerable<GenerateChunk> Chat(string sessionKey, ChatMessageSpec[] messages, SamplingSpec sampling, string requestId,
        [EnumeratorCancellation] CancellationToken ct)
    {
        await foreach (var c in grains.GetGrain<ISessionGrain>(sessionKey).Chat(new ChatTurnRequest(requestId, messages, sampling)).WithCancellation(ct))
            yield return c;
    }

    public ISessionGrain Session(string sessionKey) => grains.GetGrain<ISessionGrain>(sessionKey);
}
