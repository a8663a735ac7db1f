using static TorchSharp.torch;

namespace SeaLion.Model.Llama;

/// <summary>How a rank finds one sequence's context in the cache: a contiguous slot range, or gathered slots.</summary>
internal sealed record ContextView(int QueryStart, int QueryLength, int ContextLength, long FirstSlot, Tensor? Slots);

/// <summary>
/// All single-token (decode) sequences of a batch, attended in one call: their contexts as a padded
/// [count, maxContext] slot grid (padding points at slot 0). <see cref="PagedDecodeAttention"/> reads the cache
/// through the managed grid; only libtorch's SDPA path needs it as a tensor, with a mask for the padding, so
/// <see cref="Slots"/> and <see cref="Mask"/> are made only for that path.
/// </summary>
internal sealed record DecodeGroup(Tensor Rows, Tensor? Slots, Tensor? Mask, int Count, int MaxContext, int[] RowIndex, long[] SlotGrid, int[] ContextLengths) : IDisposable
{
    public void Dispose() { Rows.Dispose(); Slots?.Dispose(); Mask?.Dispose(); }
}

/// <summary>
/// The tensors a rank needs for one forward pass, on that rank's device: derived once per step from a
/// <see cref="ForwardBatch"/> and its block tables. Validation happens here, before any rank runs.
/// </summary>
internal sealed class BatchTensors : IDisposable
{
    public required Tensor TokenIds { get; init; }     // [T] int64
    public required Tensor SlotMapping { get; init; }  // [T] int64: cache slot of each query token
    public required Tensor Cos { get; init; }          // [T, 1, headDim] serving dtype
    public required Tensor SinSigned { get; init; }    // [T, 1, headDim]: sin with its first half negated
    public required Tensor LogitRows { get; init; }    // [S] or [T] int64: rows of the hidden state to project
    /// <summary>Sequences attended one by one: prefill chunks, and a decode sequence when it is alone.</summary>
    public required IReadOnlyList<ContextView> Views { get; init; }
    /// <summary>Decode sequences attended together, when there are at least two.</summary>
    public DecodeGroup? Decodes { get; init; }
    public int TokenCount => (int)TokenIds.shape[0];

    /// <param name="pagedDecode">decode sequences are attended by <see cref="PagedDecodeAttention"/>: no slot or mask tensors.</param>
    public static BatchTensors Build(ForwardBatch batch, LlamaConfig config, KvCache cache, RotaryEmbedding rope, ScalarType dtype, Device device, bool pagedDecode)
    {
        int t = batch.TokenIds.Length, bs = cache.BlockSize;
        if (t == 0) throw new ArgumentException("forward batch has no tokens", nameof(batch));
        int total = batch.Sequences.Sum(s => s.QueryLength);
        if (total != t) throw new ArgumentException($"sequences claim {total} query tokens but the batch holds {t}", nameof(batch));
        foreach (int id in batch.TokenIds)
            if (id < 0 || id >= config.VocabSize) throw new ArgumentOutOfRangeException(nameof(batch), id, $"token id outside the vocabulary (vocab_size {config.VocabSize})");

        var positions = new long[t];
        var slots = new long[t];
        var logitRows = new List<long>();
        var views = new List<ContextView>();
        var decodes = new List<(int Row, SequenceChunk Seq)>();
        int decodeCount = batch.Sequences.Count(s => s.QueryLength == 1);
        int q0 = 0;
        foreach (var s in batch.Sequences)
        {
            if (s.QueryLength <= 0 || s.ContextLength < s.QueryLength)
                throw new ArgumentException($"sequence chunk needs 0 < query_length <= context_length, got {s.QueryLength} and {s.ContextLength}", nameof(batch));
            if (s.ContextLength > config.MaxPositions)
                throw new ArgumentException($"context length {s.ContextLength} exceeds max_position_embeddings {config.MaxPositions}", nameof(batch));
            int blocksNeeded = (s.ContextLength + bs - 1) / bs;
            if (s.BlockTable.Count < blocksNeeded)
                throw new ArgumentException($"block table has {s.BlockTable.Count} blocks; {s.ContextLength} tokens need {blocksNeeded}", nameof(batch));
            bool contiguous = true;
            for (int b = 0; b < blocksNeeded; b++)
            {
                int id = s.BlockTable[b];
                if (id < 0 || id >= cache.NumBlocks) throw new ArgumentOutOfRangeException(nameof(batch), id, $"block id outside the cache ({cache.NumBlocks} blocks)");
                contiguous &= id == s.BlockTable[0] + b;
            }
            long Slot(int p) => (long)s.BlockTable[p / bs] * bs + p % bs;
            int first = s.ContextLength - s.QueryLength;
            for (int i = 0; i < s.QueryLength; i++) { positions[q0 + i] = first + i; slots[q0 + i] = Slot(first + i); }
            if (s.QueryLength == 1 && decodeCount >= 2) decodes.Add((q0, s));
            Tensor? gather = null;
            if (s.QueryLength == 1 && decodeCount >= 2) { }
            else if (!contiguous)
            {
                var ctxSlots = new long[s.ContextLength];
                for (int p = 0; p < s.ContextLength; p++) ctxSlots[p] = Slot(p);
                gather = tensor(ctxSlots, device: device);
            }
            if (!(s.QueryLength == 1 && decodeCount >= 2)) views.Add(new ContextView(q0, s.QueryLength, s.ContextLength, Slot(0), gather));
            if (batch.AllLogits || s.AllTokenLogits) for (int i = 0; i < s.QueryLength; i++) logitRows.Add(q0 + i);
            else if (s.ComputeLogits) logitRows.Add(q0 + s.QueryLength - 1);
            q0 += s.QueryLength;
        }

        using var pos = tensor(positions);
        var (cos, sinSigned) = rope.Gather(pos, dtype, device);
        return new BatchTensors
        {
            TokenIds = tensor(batch.TokenIds.Select(x => (long)x).ToArray(), device: device),
            SlotMapping = tensor(slots, device: device),
            Cos = cos,
            SinSigned = sinSigned,
            LogitRows = tensor(logitRows.ToArray(), device: device),
            Views = views,
            Decodes = decodes.Count == 0 ? null : BuildDecodeGroup(decodes, bs, device, pagedDecode),
        };
    }

    static DecodeGroup BuildDecodeGroup(List<(int Row, SequenceChunk Seq)> decodes, int bs, Device device, bool paged)
    {
        int n = decodes.Count, max = decodes.Max(d => d.Seq.ContextLength);
        var rows = decodes.Select(d => d.Row).ToArray();
        var contexts = decodes.Select(d => d.Seq.ContextLength).ToArray();
        var slots = new long[n * max];
        for (int i = 0; i < n; i++)
        {
            var s = decodes[i].Seq;
            for (int p = 0; p < s.ContextLength; p++) slots[i * max + p] = (long)s.BlockTable[p / bs] * bs + p % bs;
        }
        var rowTensor = tensor(rows.Select(r => (long)r).ToArray(), device: device);
        if (paged) return new DecodeGroup(rowTensor, null, null, n, max, rows, slots, contexts);
        var mask = new bool[n * max];
        for (int i = 0; i < n; i++) Array.Fill(mask, true, i * max, contexts[i]);
        // The flat mask is disposed here; its [n, 1, 1, max] view keeps the storage (no temporary left to the finalizer).
        using var flatMask = tensor(mask, device: device);
        return new DecodeGroup(rowTensor, tensor(slots, device: device), flatMask.view(n, 1, 1, max), n, max, rows, slots, contexts);
    }

    public void Dispose()
    {
        TokenIds.Dispose(); SlotMapping.Dispose(); Cos.Dispose(); SinSigned.Dispose(); LogitRows.Dispose();
        foreach (var v in Views) v.Slots?.Dispose();
        Decodes?.Dispose();
    }
}
