using TorchSharp;
using static TorchSharp.torch;

namespace SeaLion.Model.Llama;

/// <summary>
/// Rotary position tables, computed once for every position up to max_position_embeddings, the way
/// transformers computes them (float32 inverse frequencies, llama3 / linear scaling, cos and sin of
/// [freqs, freqs]) and applied in the rotate_half convention: x * cos + rotate_half(x) * sin.
/// </summary>
internal sealed class RotaryEmbedding : IDisposable
{
    public Tensor Cos { get; }   // [maxPositions, headDim], float32, CPU
    public Tensor Sin { get; }

    public RotaryEmbedding(LlamaConfig config)
    {
        using var scope = NewDisposeScope();
        using var k = new ScalarScope();   // every Scalar held until the tables exist (see Scalars)
        long dim = config.HeadDim;
        var exponent = arange(Scalars.Zero, k.Of(dim), k.Of(2L), dtype: ScalarType.Int64).to(ScalarType.Float32).div(k.Of(dim));
        var invFreq = pow(tensor((float)config.RopeTheta), exponent).reciprocal();   // 1 / theta^(2i/dim), [dim/2]
        invFreq = Scale(invFreq, config.RopeScaling, k);
        var positions = arange(Scalars.Zero, k.Of((long)config.MaxPositions), Scalars.One, dtype: ScalarType.Float32);
        var freqs = positions.unsqueeze(1).matmul(invFreq.unsqueeze(0));          // [maxPos, dim/2]
        var emb = cat([freqs, freqs], 1);                                        // [maxPos, dim]
        Cos = emb.cos().MoveToOuterDisposeScope();
        Sin = emb.sin().MoveToOuterDisposeScope();
    }

    static Tensor Scale(Tensor invFreq, RopeScaling? s, ScalarScope k)
    {
        if (s is null) return invFreq;
        if (s.Type == "linear") return invFreq.div(k.Of((float)s.Factor));
        // Llama 3.1: long wavelengths are divided by factor, short ones kept, the band between interpolated.
        float factor = (float)s.Factor, low = (float)s.LowFreqFactor, high = (float)s.HighFreqFactor;
        float oldCtx = s.OriginalMaxPositions;
        float lowFreqWavelen = oldCtx / low, highFreqWavelen = oldCtx / high;
        var wavelen = invFreq.reciprocal().mul(k.Of(2 * (float)Math.PI));                       // 2π / invFreq
        var llama = where(wavelen.gt(k.Of(lowFreqWavelen)), invFreq.div(k.Of(factor)), invFreq);
        var smooth = wavelen.reciprocal().mul(k.Of(oldCtx)).sub(k.Of(low)).div(k.Of(high - low)); // (oldCtx / wavelen - low) / (high - low)
        var smoothed = smooth.neg().add_(Scalars.One, Scalars.One).mul(llama).div(k.Of(factor))    // (1 - smooth) * llama / factor
            .add_(smooth.mul(llama), Scalars.One);                                                 //   + smooth * llama
        var medium = wavelen.ge(k.Of(highFreqWavelen)).logical_and(wavelen.le(k.Of(lowFreqWavelen)));
        return where(medium, smoothed, llama);
    }

    /// <summary>
    /// x: [T, heads, D]; cos: [T, 1, D]; sinSigned: [T, 1, D], sin with its first half negated. rotate_half(x) * sin
    /// equals roll(x, D/2) * sinSigned, so the rotation costs three ops instead of a split, a negation and a concat.
    /// </summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sinSigned)
    {
        using var rolled = x.roll(x.shape[^1] / 2, -1);
        return x.mul(cos).addcmul_(rolled, sinSigned, Scalars.One);
    }

    /// <summary>Rows of the tables for the given positions, shaped [T, 1, D] in dtype on device: (cos, sinSigned).</summary>
    public (Tensor Cos, Tensor SinSigned) Gather(Tensor positions, ScalarType dtype, Device device)
    {
        using var scope = NewDisposeScope();
        var cos = Cos.index_select(0, positions);
        var sin = Sin.index_select(0, positions);
        long half = sin.shape[1] / 2;
        sin.narrow(1, 0, half).neg_();
        return (cos.unsqueeze(1).to(dtype, device).MoveToOuterDisposeScope(), sin.unsqueeze(1).to(dtype, device).MoveToOuterDisposeScope());
    }

    public void Dispose() { Cos.Dispose(); Sin.Dispose(); }
}
