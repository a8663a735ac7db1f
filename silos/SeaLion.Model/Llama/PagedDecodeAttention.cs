using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using static TorchSharp.torch;

namespace SeaLion.Model.Llama;

/// <summary>
/// Decode attention on the CPU that reads each sequence's keys and values in place, slot by slot through its block
/// table, the way vLLM's paged attention does on a GPU. The libtorch path gathers every context into a padded
/// [n, kvHeads, maxContext, D] grid first (two copies of the whole context per layer, plus a mask), which grows
/// with the context; here the only memory traffic is one read of the keys and values each sequence attends to.
/// fp32 only, head_dim a multiple of the vector width; otherwise the caller uses libtorch's SDPA.
/// Each query head: scores q·k / sqrt(D) over its context, a numerically stable softmax, the weighted sum of V.
/// </summary>
internal static unsafe class PagedDecodeAttention
{
    static readonly int W = Vector256<float>.Count;

    /// <summary>Whether the kernel serves a model of this dtype on this device kind and head size.</summary>
    public static bool Supports(ScalarType dtype, TorchSharp.DeviceType device, int headDim) =>
        Vector256.IsHardwareAccelerated && headDim % W == 0 && dtype == ScalarType.Float32 && device == TorchSharp.DeviceType.CPU;

    [ThreadStatic] static float[]? _scores;   // per rank thread, kept at the largest size needed so far (no allocation per layer)

    /// <summary>q: [T, qHeads, D] (rows and heads may be strided); caches [kvHeads, slots, D]. Returns [n, qHeads * D] in decode order.</summary>
    public static Tensor Run(Tensor q, Tensor cacheK, Tensor cacheV, DecodeGroup d, int qHeads, int kvHeads, int headDim)
    {
        int group = qHeads / kvHeads, dim = headDim;
        if (q.stride(2) != 1 || !cacheK.is_contiguous() || !cacheV.is_contiguous())
            throw new ArgumentException("paged decode attention needs unit-stride query heads and contiguous caches");
        long rowStride = q.stride(0), headStride = q.stride(1), slots = cacheK.shape[1];
        float* qBase = TensorMemory.Floats(q, contiguous: false);
        float* kBase = TensorMemory.Floats(cacheK), vBase = TensorMemory.Floats(cacheV);
        float scale = 1f / MathF.Sqrt(dim);
        var output = empty(d.Count, qHeads * dim, ScalarType.Float32);
        float* outBase = TensorMemory.Floats(output);
        int need = group * d.MaxContext;   // [group][ctx]
        if (_scores is null || _scores.Length < need) _scores = new float[need];
        var scores = _scores;
        fixed (float* s = scores)
        fixed (long* grid = d.SlotGrid)
        {
            for (int i = 0; i < d.Count; i++)
            {
                int ctx = d.ContextLengths[i];
                long* slotsOf = grid + (long)i * d.MaxContext;
                float* qRow = qBase + d.RowIndex[i] * rowStride;
                for (int h = 0; h < kvHeads; h++)
                {
                    float* kHead = kBase + h * slots * dim, vHead = vBase + h * slots * dim;
                    float* qGroup = qRow + h * group * headStride;
                    // Scores of the group's query heads, each key row read once for all of them.
                    for (int j = 0; j < ctx; j++)
                    {
                        float* key = kHead + slotsOf[j] * dim;
                        for (int g = 0; g < group; g++) s[g * ctx + j] = Dot(qGroup + g * headStride, key, dim) * scale;
                    }
                    for (int g = 0; g < group; g++)
                    {
                        float* sg = s + g * ctx;
                        Softmax(sg, ctx);
                        WeightedSum(sg, ctx, vHead, slotsOf, dim, outBase + (long)i * qHeads * dim + (h * group + g) * dim);
                    }
                }
            }
        }
        return output;
    }

    /// <summary>In place: exp(x - max) / sum, the exponentials a vector at a time.</summary>
    static void Softmax(float* x, int n)
    {
        float max = float.NegativeInfinity;
        for (int j = 0; j < n; j++) if (x[j] > max) max = x[j];
        var vmax = Vector256.Create(max);
        var vsum = Vector256<float>.Zero;
        int k = 0;
        for (; k <= n - W; k += W)
        {
            var e = Vector256.Exp(Vector256.Load(x + k) - vmax);
            e.Store(x + k);
            vsum += e;
        }
        float sum = Vector256.Sum(vsum);
        for (; k < n; k++) { float e = MathF.Exp(x[k] - max); x[k] = e; sum += e; }
        var inv = Vector256.Create(1f / sum);
        k = 0;
        for (; k <= n - W; k += W) (Vector256.Load(x + k) * inv).Store(x + k);
        for (; k < n; k++) x[k] *= 1f / sum;
    }

    /// <summary>out = Σ_j p_j V[slot_j], four vectors of the head at a time held in registers over all keys.</summary>
    static void WeightedSum(float* p, int n, float* vHead, long* slotsOf, int dim, float* output)
    {
        int c = 0;
        for (; c <= dim - 4 * W; c += 4 * W)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int j = 0; j < n; j++)
            {
                float* v = vHead + slotsOf[j] * dim + c;
                var pj = Vector256.Create(p[j]);
                a0 += pj * Vector256.Load(v); a1 += pj * Vector256.Load(v + W);
                a2 += pj * Vector256.Load(v + 2 * W); a3 += pj * Vector256.Load(v + 3 * W);
            }
            a0.Store(output + c); a1.Store(output + c + W); a2.Store(output + c + 2 * W); a3.Store(output + c + 3 * W);
        }
        for (; c < dim; c += W)
        {
            var a = Vector256<float>.Zero;
            for (int j = 0; j < n; j++) a += Vector256.Create(p[j]) * Vector256.Load(vHead + slotsOf[j] * dim + c);
            a.Store(output + c);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Dot(float* a, float* b, int n)
    {
        var acc = Vector256<float>.Zero;
        for (int k = 0; k < n; k += W) acc += Vector256.Load(a + k) * Vector256.Load(b + k);
        return Vector256.Sum(acc);
    }
}
