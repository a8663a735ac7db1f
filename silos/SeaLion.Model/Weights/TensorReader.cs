using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using static TorchSharp.torch;

namespace SeaLion.Model.Weights;

/// <summary>
/// Reads stored tensors into CPU tensors of the serving dtype, converting in row chunks so that no stored
/// tensor is ever held twice (only the destination plus one float32 staging chunk of at most 64 MiB).
/// </summary>
internal sealed class TensorReader : IDisposable
{
    const long ChunkBytes = 64L << 20;
    readonly Dictionary<string, SafeFileHandle> _files = new();
    float[] _values = [];     // staging chunk, widened to float32 (bf16 and f16 widen losslessly)
    ushort[] _halves = [];

    public Tensor Read(StoredTensor st, ScalarType dtype)
    {
        if (!_files.TryGetValue(st.File, out var handle))
            _files[st.File] = handle = File.OpenHandle(st.File, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        var dest = empty(st.Shape, dtype);
        long rows = st.Shape.Length == 0 ? 1 : st.Shape[0];
        long rowBytes = rows == 0 ? 0 : st.Length / rows;
        long rowsPerChunk = Math.Max(1, ChunkBytes / Math.Max(1, rowBytes));
        var flat = dest.view(rows, -1);
        for (long r0 = 0; r0 < rows; r0 += rowsPerChunk)
        {
            long n = Math.Min(rowsPerChunk, rows - r0), bytes = n * rowBytes;
            int count = (int)(bytes / StoredTensor.ElementSize(st.DType));
            if (_values.Length < count) _values = new float[count];
            long at = st.Offset + r0 * rowBytes;
            if (st.DType == StoredDType.F32) ReadExactly(handle, MemoryMarshal.AsBytes(_values.AsSpan(0, count)), at, st);
            else
            {
                if (_halves.Length < count) _halves = new ushort[count];
                ReadExactly(handle, MemoryMarshal.AsBytes(_halves.AsSpan(0, count)), at, st);
                Widen(_halves, _values, count, st.DType == StoredDType.BF16);
            }
            using var chunk = frombuffer(_values, ScalarType.Float32, count: count);
            using var target = flat.narrow(0, r0, n);
            target.copy_(chunk.view(n, -1));
        }
        flat.Dispose();
        return dest;
    }

    static void ReadExactly(SafeFileHandle handle, Span<byte> span, long offset, StoredTensor st)
    {
        int got = 0;
        while (got < span.Length)
        {
            int k = RandomAccess.Read(handle, span[got..], offset + got);
            if (k == 0) throw new InvalidDataException($"{st.File}: truncated while reading tensor '{st.Name}'");
            got += k;
        }
    }

    static void Widen(ushort[] src, float[] dst, int count, bool bf16) =>
        System.Threading.Tasks.Parallel.For(0, (count + 65535) / 65536, b =>
        {
            int end = Math.Min(count, (b + 1) * 65536);
            for (int i = b * 65536; i < end; i++)
                dst[i] = bf16 ? BitConverter.UInt32BitsToSingle((uint)src[i] << 16) : (float)BitConverter.UInt16BitsToHalf(src[i]);
        });

    public void Dispose()
    {
        foreach (var h in _files.Values) h.Dispose();
        _files.Clear();
    }
}
