using SeaLion.Engine.Blocks;
using SeaLion.Routing;
using SeaLion.Model.Sampling;

namespace SeaLion.Engine;

/// <summary>
/// Performance model of Llama 3 8B in bf16 on one H100 SXM (80 GB HBM3). A step over T tokens of S sequences
/// with contexts c_i costs
///     max(bytes / (HBM bandwidth x bandwidth efficiency), flops / (peak bf16 x compute efficiency)) + overhead
/// where bytes = weights + K/V read for every context + K/V written for new tokens,
/// flops = 2 x parameters x T + 4 x layers x hidden x (sum over query tokens of their context length), and the
/// compute efficiency grows with the step's size as GEMMs fill the GPU:
/// eff(T) = max(minEff, maxEff x T / (T + halfTokens)) (small steps are bandwidth-bound anyway).
/// The overhead is small for decode-only steps (CUDA graphs) and larger for steps with prefill chunks (eager).
/// Constants: 8.03e9 parameters (16.06 GB), 32 layers, hidden 4096, 8 KV heads x 128 dims: 128 KiB of K/V per
/// token; HBM 3.35 TB/s, 989 TFLOP/s dense bf16. Efficiencies are calibrated to public figures (see docs/architecture.md, the simulated engine):
/// single-stream decode 150-175 tok/s, a 2,000-token prefill in 60-120 ms, offline throughput 12-16k tok/s.
/// </summary>
public sealed record H100PerformanceModel
{
    public double Parameters { get; init; } = 8.03e9;
    public double BytesPerParameter { get; init; } = 2;
    public int Layers { get; init; } = 32;
    public int Hidden { get; init; } = 4096;
    public double KvBytesPerToken { get; init; } = 32 * 8 * 128 * 2 * 2;   // layers x kv heads x dim x (K,V) x bf16
    public double HbmBytesPerSecond { get; init; } = 3.35e12;
    public double PeakFlops { get; init; } = 989e12;
    public double BandwidthEfficiency { get; init; } = 0.85;
    public double MaxComputeEfficiency { get; init; } = 0.62;
    public double MinComputeEfficiency { get; init; } = 0.23;
    /// <summary>Tokens per step at which GEMMs reach half of <see cref="MaxComputeEfficiency"/>.</summary>
    public double HalfEfficiencyTokens { get; init; } = 600;
    /// <summary>Per decode-only step: graph replay, scheduling, sampling, host-device sync.</summary>
    public double DecodeStepOverheadSeconds { get; init; } = 0.0006;
    /// <summary>Per step that carries prefill tokens: eager kernel launches instead of a captured graph.</summary>
    public double PrefillStepOverheadSeconds { get; init; } = 0.004;
    public double GpuMemoryBytes { get; init; } = 80e9;
    /// <summary>Activations, CUDA context and allocator slack kept out of the KV budget.</summary>
    public double ReservedBytes { get; init; } = 6e9;

    public double WeightBytes => Parameters * BytesPerParameter;

    /// <summary>KV blocks that fit beside the weights.</summary>
    public int KvBlocks(int blockSize) => (int)((GpuMemoryBytes - WeightBytes - ReservedBytes) / (KvBytesPerToken * blockSize));

    public double StepSeconds(IEnumerable<(int NewTokens, int Context)> seqs)
    {
        double kvRead = 0, kvWrite = 0, flops = 0, tokens = 0;
        bool prefill = false;
        foreach (var (n, ctx) in seqs)
        {
            tokens += n;
            prefill |= n > 1;
            kvRead += (double)ctx * KvBytesPerToken;
            kvWrite += n * KvBytesPerToken;
            // Query i of the chunk attends to ctx - n + i + 1 keys: QK^T and AV, 2 flops per multiply-add.
            double keys = (double)n * (ctx - n) + n * (n + 1) / 2.0;
            flops += 4.0 * Layers * Hidden * keys;
        }
        flops += 2 * Parameters * tokens;
        double bytes = WeightBytes + kvRead + kvWrite;
        double efficiency = Math.Max(MinComputeEfficiency, MaxComputeEfficiency * tokens / (tokens + HalfEfficiencyTokens));
        return Math.Max(bytes / (HbmBytesPerSecond * BandwidthEfficiency), flops / (PeakFlops * efficiency))
            + (prefill ? PrefillStepOverheadSeconds : DecodeStepOverheadSeconds);
    }
}

/// <summary>
/// Stands in for the model: the same scheduler and KV-cache manager decide what runs, the performance model
/// decides how long it takes (spent on the engine clock), and tokens are a deterministic function of the
/// request's seed (or prompt) and position, never an end-of-sequence token, so runs are reproducible.
/// </summary>
internal sealed class SimulatedRunner(H100PerformanceModel perf, IEngineClock clock, int vocabSize = 128256, int maxContext = 8192) : IModelRunner
{
    public int VocabSize => vocabSize;
    public int MaxContext => maxContext;
    public IReadOnlyList<int> EosTokenIds => [];
    public bool HasLogits => false;
    public double BusySeconds { get; private set; }

    public IReadOnlyList<SampledToken> Execute(IReadOnlyList<ScheduledChunk> chunks, KvCacheManager kv)
    {
        double cost = perf.StepSeconds(chunks.Select(c => (c.NumTokens, c.Request.NumComputedTokens + c.NumTokens)));
        BusySeconds += cost;
        clock.Spend(cost);
        var result = new List<SampledToken>();
        foreach (var c in chunks)
        {
            if (!c.Samples) continue;
            var r = c.Request;
            ulong h = (ulong)(r.Sampling.Params.Seed ?? PromptKey(r)) * 0x9E3779B97F4A7C15UL + (ulong)r.NumTokens;
            h ^= h >> 29; h *= 0xBF58476D1CE4E5B9UL; h ^= h >> 32;
            result.Add(new SampledToken(1000 + (int)(h % 100_000), null, null));   // ordinary word pieces only
        }
        return result;
    }

    static long PromptKey(EngineRequest r)
    {
        long h = 17;
        for (int i = 0; i < r.NumPromptTokens; i++) h = h * 31 + r.Tokens[i];
        return h;
    }

    public void Dispose() { }
}
