using SeaLion.Contracts.Grains;
using SeaLion.Hosting;
using SeaLion.Engine;
using SeaLion.Silo.Placement;

namespace SeaLion.Silo;

/// <summary>
/// The engine grain of one silo's engine, pinned to that silo (its key is the silo's address + "/0"). Streams a
/// request through the local engine, which runs on its own thread: this grain only forwards outputs, so the silo's
/// scheduler threads never wait on the model. A caller that stops reading disposes the stream, which aborts the
/// request in the engine.
/// </summary>
[SiloPinnedPlacement]
public sealed class EngineGrain(EngineHost host, SiloState silo) : Grain, IEngineGrain
{
    public async IAsyncEnumerable<GenerateChunk> Generate(EngineGenerateRequest request)
    {
        silo.StreamStarted();
        try
        {
            await foreach (var o in host.Engine.GenerateAsync(new GenerateRequest(request.PromptTokenIds, request.Sampling.ToEngine(), request.RequestId, request.ResumeOutput)))
                yield return o.ToChunk();
        }
        finally { silo.StreamEnded(); }
    }
}
