using TorchSharp;
using static TorchSharp.torch;
using SeaLion.Model.Parallel;

namespace SeaLion.Model.Llama;

/// <summary>One decoder layer's weights on one rank, pre-transposed to [in, out] (x · W), packed for the CPU kernel where it runs.</summary>
internal sealed class LayerWeights : IDisposable
{
    public required Tensor AttnNorm { get; init; }  // [H]
    public required ProjectionWeight Qkv { get; init; }       // [H, (qHeads + 2 kvHeads) * D]: this rank's q, k, v columns
    public required ProjectionWeight O { get; init; }         // [qHeads * D, H]: this rank's rows of o_proj (row-parallel)
    public required Tensor MlpNorm { get; init; }   // [H]
    public required ProjectionWeight GateUp { get; init; }    // [H, 2 F_r]: this rank's gate columns, then its up columns
    public required ProjectionWeight Down { get; init; }      // [F_r, H]: this rank's rows of down_proj (row-parallel)

    public void Dispose() { AttnNorm.Dispose(); Qkv.Dispose(); O.Dispose(); MlpNorm.Dispose(); GateUp.Dispose(); Down.Dispose(); }
}

/// <summary>
/// The part of a Llama 3 model that one tensor-parallel rank holds, and its forward pass:
/// column-parallel q/k/v and gate/up, row-parallel o and down (partial sums all-reduced), the LM head split
/// over the vocabulary. With one rank it is the whole model.
/// </summary>
internal sealed class LlamaShard : IDisposable
{
    public required int Rank { get; init; }
    public required Device Device { get; init; }
    public required int QHeads { get; init; }
    public required int KvHeads { get; init; }
    public required int Ffn { get; init; }
    public required int HeadDim { get; init; }
    public required float Eps { get; init; }
    public required Tensor Embedding { get; init; }     // [V, H]; shared by ranks on the same device
    public required bool OwnsEmbedding { get; init; }
    public required LayerWeights[] Layers { get; init; }
    public required Tensor FinalNorm { get; init; }     // [H]
    public required ProjectionWeight LmHead { get; init; }        // [H, V_r]

    /// <summary>Runs every layer over the batch, writing this rank's K/V heads into the cache. Returns float32 logits [rows, V_r].</summary>
    public Tensor Forward(BatchTensors b, Tensor[] cacheK, Tensor[] cacheV, AllReduce reduce)
    {
        int t = b.TokenCount, qDim = QHeads * HeadDim, kvDim = KvHeads * HeadDim;
        Tensor x = Embedding.index_select(0, b.TokenIds);                 // [T, H]
        for (int l = 0; l < Layers.Length; l++)
        {
            var w = Layers[l];
            using var scope = NewDisposeScope();
            var qkv = w.Qkv.Apply(RmsNorm(x, w.AttnNorm));           // [T, qDim + 2 kvDim]
            // q and k heads are adjacent columns: one rotary application covers both.
            var qk = RotaryEmbedding.Apply(qkv.narrow(1, 0, qDim + kvDim).view(t, QHeads + KvHeads, HeadDim), b.Cos, b.SinSigned);
            var q = qk.narrow(1, 0, QHeads);                              // [T, qHeads, D]
            var k = qk.narrow(1, QHeads, KvHeads);                        // [T, kvHeads, D]
            var v = qkv.narrow(1, qDim + kvDim, kvDim).view(t, KvHeads, HeadDim);
            cacheK[l].index_copy_(1, b.SlotMapping, k.transpose(0, 1));
            cacheV[l].index_copy_(1, b.SlotMapping, v.transpose(0, 1));
            var attn = Attention(q, cacheK[l], cacheV[l], b);             // [T, qDim]
            var h = reduce.Sum(Rank, w.O.Apply(attn)).add_(x, Scalars.One);         // [T, H]
            var gateUp = w.GateUp.Apply(RmsNorm(h, w.MlpNorm));        // [T, 2 F_r]
            var act = nn.functional.silu(gateUp.narrow(1, 0, Ffn)).mul_(gateUp.narrow(1, Ffn, Ffn));
            var next = reduce.Sum(Rank, w.Down.Apply(act)).add_(h, Scalars.One);
            x.Dispose();
            x = next.MoveToOuterDisposeScope();
        }
        using (var scope = NewDisposeScope())
        {
            var rows = b.LogitRows.shape[0] == t ? x : x.index_select(0, b.LogitRows);
            var logits = LmHead.Apply(RmsNorm(rows, FinalNorm)).to(ScalarType.Float32);
            x.Dispose();
            return logits.MoveToOuterDisposeScope();
        }
    }

    Scalar? _eps;
    Scalar EpsScalar => _eps ??= Eps.ToScalar();   // held for the shard's lifetime (see Scalars)

    /// <summary>HF LlamaRMSNorm: normalise in float32, cast back, then scale by the weight.</summary>
    Tensor RmsNorm(Tensor x, Tensor weight)
    {
        if (x.dtype == ScalarType.Float32)
            return x.mul(x.mul(x).mean([-1], keepdim: true).add_(EpsScalar, Scalars.One).rsqrt_()).mul_(weight);
        using var xf = x.to(ScalarType.Float32);
        using var inv = xf.mul(xf).mean([-1], keepdim: true).add_(EpsScalar, Scalars.One).rsqrt_();   // x·x: square() is pow with a temporary Scalar
        using var normed = xf.mul_(inv);
        return normed.to(x.dtype).mul_(weight);
    }

    /// <summary>Causal grouped-query attention of each sequence's queries over its cached context. Returns [T, qHeads * D].</summary>
    Tensor Attention(Tensor q, Tensor cacheK, Tensor cacheV, BatchTensors b)
    {
        int group = QHeads / KvHeads;
        if (b.Decodes is { } d && b.Views.Count == 0) return DecodeAttention(q, cacheK, cacheV, d, group);
        var outputs = new List<Tensor>(b.Views.Count);
        foreach (var s in b.Views)
        {
            var k = ContextOf(cacheK, s).unsqueeze(0);                    // [1, kvHeads, ctx, D]
            var v = ContextOf(cacheV, s).unsqueeze(0);
            var qs = q.narrow(0, s.QueryStart, s.QueryLength);            // [Tq, qHeads, D]
            Tensor o;
            if (s.QueryLength == 1)
            {
                // Decode: the group's query heads become the query rows of their KV head; no mask, no K/V copy.
                var qg = qs.view(1, KvHeads, group, HeadDim);             // [1, kvHeads, group, D]
                // reshape, not view: CUDA's fused attention kernels return other strides than the CPU's.
                o = nn.functional.scaled_dot_product_attention(qg, k, v).reshape(1, QHeads * HeadDim);
            }
            else
            {
                var qh = qs.transpose(0, 1).unsqueeze(0);                 // [1, qHeads, Tq, D]
                bool fresh = s.ContextLength == s.QueryLength;
                using var mask = fresh ? null : CausalMask(s.QueryLength, s.ContextLength, q.device);
                o = nn.functional.scaled_dot_product_attention(qh, Expand(k, group), Expand(v, group), mask, is_casual: fresh)
                    .squeeze(0).transpose(0, 1).reshape(s.QueryLength, QHeads * HeadDim);
            }
            outputs.Add(o);
        }
        if (b.Decodes is null) return outputs.Count == 1 ? outputs[0] : cat(outputs, 0);
        // Mixed step: decode rows and prefill chunks interleave, so place each result at its rows.
        var all = empty(q.shape[0], QHeads * HeadDim, dtype: q.dtype, device: q.device);
        all.index_copy_(0, b.Decodes.Rows, DecodeAttention(q, cacheK, cacheV, b.Decodes, group));
        for (int i = 0; i < b.Views.Count; i++) all.narrow(0, b.Views[i].QueryStart, b.Views[i].QueryLength).copy_(outputs[i]);
        return all;
    }

    /// <summary>
    /// Every decode sequence at once: by <see cref="PagedDecodeAttention"/> over the cache in place when the model
    /// chose it (the group then carries no slot tensors), else in one SDPA call with the contexts gathered into a
    /// padded [n, kvHeads, maxCtx, D] grid, the padding masked; each KV head's query group attends as rows, as in
    /// the single-sequence decode path.
    /// </summary>
    Tensor DecodeAttention(Tensor q, Tensor cacheK, Tensor cacheV, DecodeGroup d, int group)
    {
        if (d.Slots is null || d.Mask is null) return PagedDecodeAttention.Run(q, cacheK, cacheV, d, QHeads, KvHeads, HeadDim);
        var k = cacheK.index_select(1, d.Slots).view(KvHeads, d.Count, d.MaxContext, HeadDim).transpose(0, 1);   // [n, kvHeads, maxCtx, D]
        var v = cacheV.index_select(1, d.Slots).view(KvHeads, d.Count, d.MaxContext, HeadDim).transpose(0, 1);
        var qg = q.index_select(0, d.Rows).view(d.Count, KvHeads, group, HeadDim);                               // [n, kvHeads, group, D]
        return nn.functional.scaled_dot_product_attention(qg, k, v, d.Mask).reshape(d.Count, QHeads * HeadDim);
    }

    /// <summary>A sequence's cached K or V as [kvHeads, ctx, D]: a view when its blocks are contiguous, else a gather.</summary>
    static Tensor ContextOf(Tensor cache, ContextView s) =>
        s.Slots is null ? cache.narrow(1, s.FirstSlot, s.ContextLength) : cache.index_select(1, s.Slots);

    /// <summary>[1, kvHeads, ctx, D] to [1, qHeads, ctx, D], each KV head repeated for its query group (HF repeat_kv).</summary>
    static Tensor Expand(Tensor kv, int group)
    {
        if (group == 1) return kv;
        long h = kv.shape[1], n = kv.shape[2], d = kv.shape[3];
        return kv.unsqueeze(2).expand(1, h, group, n, d).reshape(1, h * group, n, d);
    }

    /// <summary>Query i (position ctx - tq + i) sees keys 0 .. ctx - tq + i. True = attend.</summary>
    static Tensor CausalMask(int tq, int ctx, Device device)
    {
        using var scope = NewDisposeScope();
        using var scalars = new ScalarScope();
        var qpos = arange(scalars.Of((long)(ctx - tq)), scalars.Of((long)ctx), Scalars.One, device: device).unsqueeze(1);
        var kpos = arange(Scalars.Zero, scalars.Of((long)ctx), Scalars.One, device: device).unsqueeze(0);
        return kpos.le(qpos).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        if (OwnsEmbedding) Embedding.Dispose();
        foreach (var l in Layers) l.Dispose();
        FinalNorm.Dispose();
        LmHead.Dispose();
        _eps?.Dispose();
    }
}
