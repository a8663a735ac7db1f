using static TorchSharp.torch;

namespace SeaLion.Model.Llama;

/// <summary>
/// Paged KV storage for one model: per rank and layer, K and V as [kvHeadsOfRank, numBlocks * blockSize, headDim]
/// in the serving dtype on the rank's device. Which block belongs to which sequence is the caller's business
/// (block tables in <see cref="ForwardBatch"/>); this class only holds the memory.
/// </summary>
public sealed class KvCache : IDisposable
{
    internal Tensor[][] K { get; }   // [rank][layer]
    internal Tensor[][] V { get; }
    public int NumBlocks { get; }
    public int BlockSize { get; }
    public int NumSlots => NumBlocks * BlockSize;

    internal KvCache(int numBlocks, int blockSize, IReadOnlyList<(Device Device, int KvHeads)> ranks, int layers, int headDim, ScalarType dtype)
    {
        if (numBlocks <= 0) throw new ArgumentOutOfRangeException(nameof(numBlocks), numBlocks, "must be positive");
        if (blockSize <= 0) throw new ArgumentOutOfRangeException(nameof(blockSize), blockSize, "must be positive");
        NumBlocks = numBlocks;
        BlockSize = blockSize;
        K = ranks.Select(r => Enumerable.Range(0, layers).Select(_ => zeros(r.KvHeads, numBlocks * (long)blockSize, headDim, dtype: dtype, device: r.Device)).ToArray()).ToArray();
        V = ranks.Select(r => Enumerable.Range(0, layers).Select(_ => zeros(r.KvHeads, numBlocks * (long)blockSize, headDim, dtype: dtype, device: r.Device)).ToArray()).ToArray();
    }

    /// <summary>Bytes one block takes over all ranks and layers (K and V).</summary>
    public static long BytesPerBlock(LlamaConfig c, int blockSize, ScalarType dtype) =>
        2L * c.NumLayers * blockSize * c.NumKvHeads * c.HeadDim * (dtype == ScalarType.Float32 ? 4 : 2);

    public void Dispose()
    {
        foreach (var t in K.SelectMany(x => x).Concat(V.SelectMany(x => x))) t.Dispose();
    }
}
