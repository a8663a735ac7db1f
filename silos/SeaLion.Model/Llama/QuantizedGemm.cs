using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SeaLion.Model.Gguf;

namespace SeaLion.Model.Llama;

/// <summary>
/// The quantized weight formats the CPU kernel runs on as they are stored: every type of the published GGUF files
/// (Q4_K_M files are Q4_K and Q6_K, Q3_K_M files Q3_K, Q4_K, Q5_K and Q6_K, Q2_K files Q2_K, Q3_K, Q4_K and Q6_K...).
/// </summary>
internal enum QuantFormat { Q8_0, Q4_K, Q5_K, Q6_K, Q4_0, Q5_0, Q2_K, Q3_K }

/// <summary>
/// A weight matrix kept quantized: <see cref="Rows"/> output rows of <see cref="Cols"/> input values each, every row
/// a run of blocks in this kernel's layout (ggml's blocks repacked at load, values unchanged; see
/// <see cref="QuantizedGemm"/>). Native memory, freed on dispose.
/// </summary>
internal sealed unsafe class QuantizedMatrix : IDisposable
{
    public QuantFormat Format { get; }
    public int Rows { get; }
    public int Cols { get; }
    public long RowBytes { get; }
    public byte* Data { get; private set; }

    public QuantizedMatrix(QuantFormat format, int rows, int cols)
    {
        int bs = QuantizedGemm.BlockSize(format);
        if (cols % bs != 0) throw new ArgumentException($"{format}: rows of {cols} values are not whole blocks of {bs}");
        Format = format; Rows = rows; Cols = cols;
        RowBytes = (long)cols / bs * QuantizedGemm.BlockBytes(format);
        // The kernel reads a block's 24-32 metadata bytes with one vector load that may run past the last block.
        Data = (byte*)NativeMemory.AlignedAlloc((nuint)(RowBytes * rows + 64), 64);
        new Span<byte>(Data + RowBytes * rows, 64).Clear();
    }

    public void Dispose()
    {
        if (Data != null) { NativeMemory.AlignedFree(Data); Data = null; }
    }
}

/// <summary>
/// C[M, N] = A[M, K] · Wᵀ with W quantized (<see cref="QuantFormat"/>), on one core with AVX-512BW integer dot products,
/// as llama.cpp computes them: each activation row is quantized (Q8_0 blocks of 32 for Q8_0, Q4_0 and Q5_0 weights,
/// Q8_K blocks of 256 for the K-quants, exactly as ggml's <c>quantize_row_q8_0</c> / <c>quantize_row_q8_K</c> do), block
/// dot products are exact in integers (<c>vpmaddubsw</c> + <c>vpmaddwd</c>; this CPU's .NET exposes no 512-bit VNNI),
/// scaled and summed in fp32.
/// <para>
/// Layouts (repacked from ggml's at load: the same values, arranged so one 64-byte load feeds one instruction).
/// Blocks of 32, whose values widen to the 32 int16 lanes that meet one 64-byte load of the widened Q8_0 activations:
/// Q8_0: fp32 scale, 32 int8 (36 bytes). Q4_0: fp32 scale, ggml's 16 bytes of nibbles (value j low in byte j, j + 16
/// high; 20 bytes). Q5_0: fp32 scale, the 32 fifth bits as two 16-bit halves, bit i of the first that of value 2i,
/// of the second that of value 2i + 1 (so a broadcast dword gives each int16 lane its half), ggml's nibbles (24 bytes).
/// </para>
/// <para>
/// Blocks of 256, whose values are four zmm of 64 consecutive unsigned values (the integer step subtracts the offset
/// from Q8_K's sums of 16): Q4_K: 128 bytes of nibbles, byte i holding values i and i + 64 of its half (so the low and
/// high nibbles of 64 bytes are 64 consecutive values), 8 6-bit scales, 8 6-bit mins as bytes, fp32 d and dmin (152
/// bytes). Q5_K: as Q4_K with ggml's 32 bytes of fifth bits after the nibbles (bit 2t of byte l that of value 64t + l,
/// bit 2t + 1 that of 64t + 32 + l; 184 bytes). Q6_K: the same nibble planes for the low four bits, 64 bytes of the
/// high two bits of values i, i + 64, i + 128, i + 192 (a 2-bit plane), 16 int8 scales, fp32 d (212 bytes). Q3_K: a
/// 2-bit plane of the low two bits, the third bits as Q5_K's fifth (ggml's sense: set means no -4, so value + 4 is the
/// plain 3-bit number), 16 int8 scales (the 6-bit ones less 32), fp32 d (116 bytes). Q2_K: a 2-bit plane, 16 scales,
/// 16 mins as bytes, fp32 d and dmin (104 bytes).
/// </para>
/// <para>
/// Tiling: 16 weight rows x 4 activation rows; a weight block is unpacked once per 4 activation rows. Each output is
/// one chain over the row's blocks in order, whatever M is: a row's result does not depend on its batch.
/// </para>
/// </summary>
internal static unsafe partial class QuantizedGemm
{
    public const int QK = 32, QKK = 256;
    /// <summary>ggml's block_q8_K: fp32 d, 256 int8, 16 int16 sums of 16.</summary>
    public const int Q8KBytes = 4 + QKK + QKK / 16 * 2;

    /// <summary>Whether this host runs the kernel (<see cref="Isa"/>): AVX-512BW, else AVX2 + FMA (QuantizedGemm.Avx2.cs).</summary>
    public static bool IsSupported => Isa != QuantIsa.None;

    /// <summary>The kernel format a ggml tensor type runs as on this host's path (<see cref="Isa"/>); null: dequantized at load.</summary>
    public static QuantFormat? FormatOf(GgmlType t) => Stored(t) is { } f && (Isa == QuantIsa.Avx512 || Isa == QuantIsa.Avx2 && HasAvx2Kernel(f)) ? f : null;

    static QuantFormat? Stored(GgmlType t) => t switch
    {
        GgmlType.Q8_0 => QuantFormat.Q8_0,
        GgmlType.Q4_0 => QuantFormat.Q4_0,
        GgmlType.Q5_0 => QuantFormat.Q5_0,
        GgmlType.Q2_K => QuantFormat.Q2_K,
        GgmlType.Q3_K => QuantFormat.Q3_K,
        GgmlType.Q4_K => QuantFormat.Q4_K,
        GgmlType.Q5_K => QuantFormat.Q5_K,
        GgmlType.Q6_K => QuantFormat.Q6_K,
        _ => null,
    };

    /// <summary>Whether <paramref name="f"/> takes Q8_K activations (the K-quants); the others take Q8_0.</summary>
    public static bool TakesQ8K(QuantFormat f) => f is not (QuantFormat.Q8_0 or QuantFormat.Q4_0 or QuantFormat.Q5_0);

    public static int BlockSize(QuantFormat f) => TakesQ8K(f) ? QKK : QK;
    public static int BlockBytes(QuantFormat f) => f switch
    {
        QuantFormat.Q8_0 => Q8_0Block.Stride, QuantFormat.Q4_0 => Q4_0Block.Stride, QuantFormat.Q5_0 => Q5_0Block.Stride,
        QuantFormat.Q2_K => Q2KBlock.Stride, QuantFormat.Q3_K => Q3KBlock.Stride, QuantFormat.Q4_K => Q4KBlock<Four>.Stride,
        QuantFormat.Q5_K => Q4KBlock<Five>.Stride, _ => Q6KBlock.Stride,
    };
    static GgmlType Ggml(QuantFormat f) => Enum.Parse<GgmlType>(f.ToString());

    /// <summary>
    /// Repacks columns [<paramref name="colStart"/>, + <paramref name="cols"/>) of <paramref name="rows"/> ggml rows of
    /// <paramref name="rowLength"/> values (whole blocks; the column range on block boundaries) into this kernel's layout.
    /// </summary>
    public static QuantizedMatrix Repack(QuantFormat f, ReadOnlySpan<byte> ggml, int rows, int rowLength, int colStart, int cols)
    {
        var (bs, bb) = GgmlTypes.Layout(Ggml(f));
        if (rowLength % bs != 0 || colStart % bs != 0 || cols % bs != 0 || colStart + cols > rowLength)
            throw new ArgumentException($"{f}: columns [{colStart}, {colStart + cols}) of rows of {rowLength} are not whole blocks of {bs}");
        long srcRow = (long)rowLength / bs * bb;
        if (ggml.Length != srcRow * rows) throw new ArgumentException($"{f}: {ggml.Length} bytes do not hold {rows} rows of {rowLength}");
        var m = new QuantizedMatrix(f, rows, cols);
        int blocks = cols / bs, dstBytes = BlockBytes(f);
        fixed (byte* p = ggml)
            for (int r = 0; r < rows; r++)
                for (int b = 0; b < blocks; b++)
                {
                    var block = new ReadOnlySpan<byte>(p + r * srcRow + (long)(colStart / bs + b) * bb, bb);
                    var dst = new Span<byte>(m.Data + r * m.RowBytes + (long)b * dstBytes, dstBytes);
                    switch (f)
                    {
                        case QuantFormat.Q8_0: RepackQ8_0(block, dst); break;
                        case QuantFormat.Q4_0: RepackQ4_0(block, dst); break;
                        case QuantFormat.Q5_0: RepackQ5_0(block, dst); break;
                        case QuantFormat.Q2_K: RepackQ2_K(block, dst); break;
                        case QuantFormat.Q3_K: RepackQ3_K(block, dst); break;
                        case QuantFormat.Q4_K: RepackQ4_K(block, dst, five: false); break;
                        case QuantFormat.Q5_K: RepackQ4_K(block, dst, five: true); break;
                        default: RepackQ6_K(block, dst); break;
                    }
                }
        return m;
    }

    static float Half(ReadOnlySpan<byte> b, int at) => (float)BitConverter.UInt16BitsToHalf((ushort)(b[at] | b[at + 1] << 8));

    static void RepackQ8_0(ReadOnlySpan<byte> g, Span<byte> d)
    {
        MemoryMarshal.Write(d, Half(g, 0));
        g.Slice(2, QK).CopyTo(d[4..]);
    }

    static void RepackQ4_0(ReadOnlySpan<byte> g, Span<byte> d)
    {
        // ggml: fp16 d, qs[16]; the nibbles are kept as they are.
        MemoryMarshal.Write(d, Half(g, 0));
        g.Slice(2, QK / 2).CopyTo(d[4..]);
    }

    static void RepackQ5_0(ReadOnlySpan<byte> g, Span<byte> d)
    {
        // ggml: fp16 d, qh (bit j the fifth bit of value j), qs[16] as Q4_0. The fifth bits of even values go to the
        // low half, those of odd values to the high half (int16 lane j of a broadcast dword is the low half when j is even).
        uint qh = MemoryMarshal.Read<uint>(g[2..]), bits = 0;
        for (int j = 0; j < QK; j++) bits |= (qh >> j & 1) << (j % 2 * 16 + j / 2);
        MemoryMarshal.Write(d, Half(g, 0));
        MemoryMarshal.Write(d[4..], bits);
        g.Slice(6, QK / 2).CopyTo(d[8..]);
    }

    /// <summary>Q2_K's and Q3_K's 2-bit values: value 128n + 32s + l is bits 2s, 2s + 1 of byte 32n + l of <paramref name="qs"/>.</summary>
    static void TwoBitValues(ReadOnlySpan<byte> qs, Span<byte> v)
    {
        for (int n = 0; n < 2; n++)
            for (int s = 0; s < 4; s++)
                for (int l = 0; l < 32; l++) v[128 * n + 32 * s + l] = (byte)(qs[32 * n + l] >> 2 * s & 3);
    }

    /// <summary>Bits <paramref name="shift"/>, + 1 of values i, i + 64, i + 128, i + 192 into bits 0-1, 2-3, 4-5, 6-7 of byte i of <paramref name="d"/>.</summary>
    static void TwoBitPlane(ReadOnlySpan<byte> v, int shift, Span<byte> d)
    {
        for (int i = 0; i < 64; i++)
            d[i] = (byte)((v[i] >> shift & 3) | (v[i + 64] >> shift & 3) << 2 | (v[i + 128] >> shift & 3) << 4 | (v[i + 192] >> shift & 3) << 6);
    }

    static void RepackQ2_K(ReadOnlySpan<byte> g, Span<byte> d)
    {
        // ggml: scales[16] (low nibble the scale, high the min of each 16 values), qs[64], fp16 d, fp16 dmin.
        Span<byte> v = stackalloc byte[QKK];
        TwoBitValues(g.Slice(16, 64), v);
        TwoBitPlane(v, 0, d);
        for (int j = 0; j < 16; j++)
        {
            d[64 + j] = (byte)(g[j] & 0xF);
            d[80 + j] = (byte)(g[j] >> 4);
        }
        MemoryMarshal.Write(d[96..], Half(g, 80));
        MemoryMarshal.Write(d[100..], Half(g, 82));
    }

    static void RepackQ3_K(ReadOnlySpan<byte> g, Span<byte> d)
    {
        // ggml: hmask[32] (bit 4n + s of byte l: the third bit of value 128n + 32s + l), qs[64] as Q2_K's, scales[12], fp16 d.
        Span<byte> v = stackalloc byte[QKK];
        TwoBitValues(g.Slice(32, 64), v);
        TwoBitPlane(v, 0, d);
        var hmask = g[..32];
        for (int l = 0; l < 32; l++)
        {
            int bits = 0;
            for (int t = 0; t < 4; t++)
                for (int h = 0; h < 2; h++)
                {
                    int value = 64 * t + 32 * h;   // + l: chunk value / 128, its 32-value run (value % 128) / 32
                    bits |= (hmask[l] >> (4 * (value / 128) + value % 128 / 32) & 1) << (2 * t + h);
                }
            d[64 + l] = (byte)bits;
        }
        var packed = g.Slice(96, 12);
        for (int j = 0; j < 16; j++) d[96 + j] = (byte)(sbyte)GgmlTypes.Q3Scale(j, packed);
        MemoryMarshal.Write(d[112..], Half(g, 108));
    }

    static void RepackQ4_K(ReadOnlySpan<byte> g, Span<byte> d, bool five)
    {
        // ggml Q4_K: d, dmin (fp16), scales[12] (8 packed 6-bit scale/min pairs), qs[128]: chunk j of 32 bytes holds
        // values 64j + l (low nibble) and 64j + 32 + l (high nibble). Q5_K: the same with qh[32] before qs, bit 2j of
        // qh[l] the fifth bit of value 64j + l and bit 2j + 1 that of 64j + 32 + l: kept as it is (the kernel reads it so).
        Span<byte> v = stackalloc byte[QKK];
        var qs = g.Slice(five ? 48 : 16, 128);
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 32; l++)
            {
                v[64 * j + l] = (byte)(qs[32 * j + l] & 0xF);
                v[64 * j + 32 + l] = (byte)(qs[32 * j + l] >> 4);
            }
        for (int i = 0; i < 64; i++)
        {
            d[i] = (byte)(v[i] | v[i + 64] << 4);
            d[64 + i] = (byte)(v[128 + i] | v[192 + i] << 4);
        }
        int meta = 128;
        if (five) { g.Slice(16, 32).CopyTo(d[128..]); meta = 160; }
        var scales = g.Slice(4, 12);
        for (int j = 0; j < 8; j++)
        {
            var (sc, mn) = GgmlTypes.ScaleMin(j, scales);
            d[meta + j] = (byte)sc;
            d[meta + 8 + j] = (byte)mn;
        }
        MemoryMarshal.Write(d[(meta + 16)..], Half(g, 0));
        MemoryMarshal.Write(d[(meta + 20)..], Half(g, 2));
    }

    static void RepackQ6_K(ReadOnlySpan<byte> g, Span<byte> d)
    {
        // ggml: ql[128], qh[64], int8 scales[16], fp16 d; value = ql nibble | qh 2 bits << 4 (0..63), minus 32.
        Span<byte> v = stackalloc byte[QKK];
        var ql = g[..128];
        var qh = g.Slice(128, 64);
        for (int n = 0; n < 2; n++)
            for (int l = 0; l < 32; l++)
            {
                byte lo0 = ql[64 * n + l], lo1 = ql[64 * n + l + 32], h = qh[32 * n + l];
                v[128 * n + l] = (byte)((lo0 & 0xF) | (h & 3) << 4);
                v[128 * n + l + 32] = (byte)((lo1 & 0xF) | (h >> 2 & 3) << 4);
                v[128 * n + l + 64] = (byte)((lo0 >> 4) | (h >> 4 & 3) << 4);
                v[128 * n + l + 96] = (byte)((lo1 >> 4) | (h >> 6 & 3) << 4);
            }
        for (int i = 0; i < 64; i++)
        {
            d[i] = (byte)((v[i] & 0xF) | (v[i + 64] & 0xF) << 4);
            d[64 + i] = (byte)((v[128 + i] & 0xF) | (v[192 + i] & 0xF) << 4);
        }
        TwoBitPlane(v, 4, d[128..]);
        g.Slice(192, 16).CopyTo(d[192..]);
        MemoryMarshal.Write(d[208..], Half(g, 208));
    }

    // ---- activations ----

    /// <summary>Bytes of one row of <paramref name="k"/> activations quantized for <paramref name="f"/>.</summary>
    public static long ActivationRowBytes(QuantFormat f, int k) => TakesQ8K(f) ? (long)k / QKK * Q8KBytes : (long)k * 2 + k / QK * 4;

    /// <summary>
    /// ggml's quantize_row_q8_K: per 256 values, the value of largest magnitude (the first if tied) maps to -127,
    /// iscale = -127 / max, q = round-half-even(iscale x) capped at 127, d = 1 / iscale, and the sums of each 16.
    /// </summary>
    public static void QuantizeQ8K(float* x, int k, byte* dst) => QuantizeQ8K(x, k, dst, Isa);

    internal static void QuantizeQ8K(float* x, int k, byte* dst, QuantIsa isa)
    {
        for (int b = 0; b < k / QKK; b++, x += QKK, dst += Q8KBytes)
        {
            float amax = isa == QuantIsa.Avx2 ? AbsMaxAvx2(x, QKK) : AbsMax512(x);
            sbyte* q = (sbyte*)(dst + 4);
            short* sums = (short*)(dst + 4 + QKK);
            if (amax == 0)
            {
                *(float*)dst = 0;
                new Span<byte>(dst + 4, QKK + 32).Clear();
                continue;
            }
            float max = 0;
            for (int i = 0; i < QKK; i++) if (MathF.Abs(x[i]) == amax) { max = x[i]; break; }
            float iscale = -127f / max;
            if (isa == QuantIsa.Avx2) RoundToSBytesAvx2(x, iscale, q, QKK);
            else
            {
                var s = Vector512.Create(iscale);
                for (int i = 0; i < QKK; i += 16)
                {
                    var r = Avx512F.ConvertToVector512Int32(Vector512.Load(x + i) * s);   // MXCSR: round half to even
                    Avx512F.ConvertToVector128SByteWithSaturation(r).Store(q + i);   // saturation: MIN(127, v)
                }
            }
            for (int j = 0; j < QKK / 16; j++)
            {
                int sum = 0;
                for (int i = 0; i < 16; i++) sum += q[16 * j + i];
                sums[j] = (short)sum;
            }
            *(float*)dst = 1 / iscale;
        }
    }

    static float AbsMax512(float* x)
    {
        var amaxV = Vector512<float>.Zero;
        for (int i = 0; i < QKK; i += 16) amaxV = Vector512.Max(amaxV, Vector512.Abs(Vector512.Load(x + i)));
        return MaxOf(Vector256.Max(amaxV.GetLower(), amaxV.GetUpper()));
    }

    static float MaxOf(Vector256<float> v)
    {
        var m = Vector128.Max(v.GetLower(), v.GetUpper());
        float r = m[0];
        for (int i = 1; i < 4; i++) r = MathF.Max(r, m[i]);
        return r;
    }

    /// <summary>
    /// ggml's quantize_row_q8_0 (its AVX path): per 32 values d = amax / 127 stored as fp16, q = round-half-even(x · 127 /
    /// amax). Held widened: k int16 values, then k / 32 fp32 scales (the fp16 scale, exactly).
    /// </summary>
    public static void QuantizeQ8_0(float* x, int k, byte* dst) => QuantizeQ8_0(x, k, dst, Isa);

    internal static void QuantizeQ8_0(float* x, int k, byte* dst, QuantIsa isa)
    {
        short* q = (short*)dst;
        float* scales = (float*)(dst + (long)k * 2);
        for (int b = 0; b < k / QK; b++, x += QK, q += QK)
        {
            if (isa == QuantIsa.Avx2) { QuantizeQ8_0BlockAvx2(x, q, scales + b); continue; }
            var v0 = Vector512.Load(x);
            var v1 = Vector512.Load(x + 16);
            var m = Vector512.Max(Vector512.Abs(v0), Vector512.Abs(v1));
            float amax = MaxOf(Vector256.Max(m.GetLower(), m.GetUpper()));
            scales[b] = (float)(Half)(amax / 127f);
            var id = Vector512.Create(amax != 0 ? 127f / amax : 0f);
            Avx512F.ConvertToVector256Int16(Avx512F.ConvertToVector512Int32(v0 * id)).Store(q);
            Avx512F.ConvertToVector256Int16(Avx512F.ConvertToVector512Int32(v1 * id)).Store(q + 16);
        }
    }

    // ---- the product ----

    /// <summary>
    /// Columns [<paramref name="col0"/>, + W.Rows) of C (row stride <paramref name="ldc"/>) = A [m, W.Cols] · Wᵀ, A already
    /// quantized for W's format by <see cref="QuantizeQ8K"/> / <see cref="QuantizeQ8_0"/> (row stride
    /// <see cref="ActivationRowBytes"/>).
    /// </summary>
    public static void Multiply(byte* aq, int m, QuantizedMatrix w, float* c, int ldc, int col0) => Multiply(aq, m, w, c, ldc, col0, Isa);

    internal static void Multiply(byte* aq, int m, QuantizedMatrix w, float* c, int ldc, int col0, QuantIsa isa)
    {
        if (isa == QuantIsa.None) throw new PlatformNotSupportedException("QuantizedGemm needs AVX-512BW or AVX2 with FMA");
        if (isa == QuantIsa.Avx2) { MultiplyAvx2(aq, m, w, c, ldc, col0); return; }
        switch (w.Format)
        {
            case QuantFormat.Q8_0: Tiles<Block32<Q8_0Block>>(aq, m, w, c, ldc, col0); break;
            case QuantFormat.Q4_0: Tiles<Block32<Q4_0Block>>(aq, m, w, c, ldc, col0); break;
            case QuantFormat.Q5_0: Tiles<Block32<Q5_0Block>>(aq, m, w, c, ldc, col0); break;
            case QuantFormat.Q2_K: Tiles<KQuant<Q2KBlock>>(aq, m, w, c, ldc, col0); break;
            case QuantFormat.Q3_K: Tiles<KQuant<Q3KBlock>>(aq, m, w, c, ldc, col0); break;
            case QuantFormat.Q4_K: Tiles<KQuant<Q4KBlock<Four>>>(aq, m, w, c, ldc, col0); break;
            case QuantFormat.Q5_K: Tiles<KQuant<Q4KBlock<Five>>>(aq, m, w, c, ldc, col0); break;
            default: Tiles<KQuant<Q6KBlock>>(aq, m, w, c, ldc, col0); break;
        }
    }

    /// <summary>One weight row against 1, 2 or 4 activation rows: one chain over the row's blocks in order.</summary>
    interface IKernel
    {
        static abstract void Row<TRows>(byte* w, int blocks, byte* x, long xs, int k, float* c, int ldc) where TRows : struct, IRows;
    }

    static void Tiles<TKernel>(byte* aq, int m, QuantizedMatrix w, float* c, int ldc, int col0) where TKernel : struct, IKernel
    {
        long xs = ActivationRowBytes(w.Format, w.Cols);
        int blocks = w.Cols / BlockSize(w.Format);
        const int RowTile = 16;
        for (int n0 = 0; n0 < w.Rows; n0 += RowTile)
        {
            int n1 = Math.Min(w.Rows, n0 + RowTile);
            for (int i = 0; i < m;)
            {
                int rows = m - i >= 4 ? 4 : m - i >= 2 ? 2 : 1;
                byte* x = aq + i * xs;
                float* ci = c + (long)i * ldc + col0;
                for (int n = n0; n < n1; n++)
                {
                    byte* wr = w.Data + n * w.RowBytes;
                    if (rows == 4) TKernel.Row<R4>(wr, blocks, x, xs, w.Cols, ci + n, ldc);
                    else if (rows == 2) TKernel.Row<R2>(wr, blocks, x, xs, w.Cols, ci + n, ldc);
                    else TKernel.Row<R1>(wr, blocks, x, xs, w.Cols, ci + n, ldc);
                }
                i += rows;
            }
        }
    }

    interface IBits { static abstract bool HasFifthBit { get; } }
    struct Four : IBits { public static bool HasFifthBit => false; }
    struct Five : IBits { public static bool HasFifthBit => true; }

    interface IRows { static abstract int Count { get; } }
    struct R1 : IRows { public static int Count => 1; }
    struct R2 : IRows { public static int Count => 2; }
    struct R4 : IRows { public static int Count => 4; }

    // Q4_K: s16 lanes of zmm t are sub-blocks 2t (0-15) and 2t + 1 (16-31); the mins pair each sub-block's min with
    // its two sums of 16.
    static readonly Vector512<short> Q4Scale0 = Lanes(i => i / 16), Q4Scale1 = Lanes(i => 2 + i / 16),
        Q4Scale2 = Lanes(i => 4 + i / 16), Q4Scale3 = Lanes(i => 6 + i / 16), Q4Mins = Lanes(i => 8 + (i % 16) / 2);
    // Q2_K, Q3_K, Q6_K: s16 lanes of zmm t are sub-blocks of 16: 4t + lane / 8.
    static readonly Vector512<short> Q6Scale0 = Lanes(i => i / 8), Q6Scale1 = Lanes(i => 4 + i / 8),
        Q6Scale2 = Lanes(i => 8 + i / 8), Q6Scale3 = Lanes(i => 12 + i / 8);
    // Q4_0, Q5_0: the 16 nibble bytes twice, widened: lanes 0-15 take the low nibbles, 16-31 the high ones; Q5_0's
    // lane j takes bit j / 2 of its half of the broadcast fifth bits.
    static readonly Vector512<short> NibbleShifts = Lanes(i => i / 16 * 4), FifthShifts = Lanes(i => i / 2);

    static Vector512<short> Lanes(Func<int, int> f)
    {
        var v = new short[32];
        for (int i = 0; i < 32; i++) v[i] = (short)f(i);
        return Vector512.Create(v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<int> Dot(Vector512<byte> w, byte* x, Vector512<short> scales) =>
        Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(w, Vector512.Load((sbyte*)x)), scales);

    /// <summary>One activation row's integer products with a K-quant block, scaled: d · xd · Σ scale · q · x (16 lanes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Products(Vector512<float> acc, byte* xb, float d, Vector512<byte> v0, Vector512<byte> v1, Vector512<byte> v2, Vector512<byte> v3,
        Vector512<short> s0, Vector512<short> s1, Vector512<short> s2, Vector512<short> s3)
    {
        byte* xq = xb + 4;
        var p = Dot(v0, xq, s0) + Dot(v1, xq + 64, s1) + Dot(v2, xq + 128, s2) + Dot(v3, xq + 192, s3);
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(p), Vector512.Create(d * *(float*)xb), acc);
    }

    /// <summary>One activation row's offset term: dOffset · xd · Σ per-sub-block factor · (its sums of 16), 8 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Offsets(Vector256<float> acc, byte* xb, float dOffset, Vector256<short> factors) =>
        Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(factors, Vector256.Load((short*)(xb + 4 + QKK)))),
            Vector256.Create(dOffset * *(float*)xb), acc);

    // Q5_K's fifth bits (and Q3_K's third): zmm t takes bit 2t of qh[l] for its first 32 values and bit 2t + 1 for the next 32.
    static readonly Vector512<byte> Q5Bit0 = Bits(0), Q5Bit1 = Bits(1), Q5Bit2 = Bits(2), Q5Bit3 = Bits(3);

    static Vector512<byte> Bits(int t)
    {
        var v = new byte[64];
        for (int i = 0; i < 64; i++) v[i] = (byte)(1 << (2 * t + i / 32));
        return Vector512.Create(v);
    }

    /// <summary><paramref name="value"/> in the bytes whose bit of <paramref name="qh"/> (selected by <paramref name="bit"/>) is set, else 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<byte> HighBit(Vector512<byte> qh, Vector512<byte> bit, Vector512<byte> value) =>
        Vector512.AndNot(value, Vector512.Equals(qh & bit, Vector512<byte>.Zero));

    /// <summary><paramref name="value"/> added to the values whose bit is set in the 32 bytes at <paramref name="bits"/> (Q5_K's layout).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void HighBits(byte* bits, byte value, ref Vector512<byte> v0, ref Vector512<byte> v1, ref Vector512<byte> v2, ref Vector512<byte> v3)
    {
        var h = Vector256.Load(bits);
        var qh = Vector512.Create(h, h);
        var add = Vector512.Create(value);
        v0 |= HighBit(qh, Q5Bit0, add); v1 |= HighBit(qh, Q5Bit1, add); v2 |= HighBit(qh, Q5Bit2, add); v3 |= HighBit(qh, Q5Bit3, add);
    }

    /// <summary>
    /// A 256-value block: four zmm of 64 consecutive unsigned values; the int16 scale of each s16 lane of their
    /// vpmaddubsw products; the factor of each of Q8_K's 16 sums of 16 in the offset taken off (the mins, or the scales
    /// where the values are stored plus a constant), d and the offset's scale.
    /// </summary>
    interface IKBlock
    {
        static abstract int Stride { get; }
        static abstract void Values(byte* w, out Vector512<byte> v0, out Vector512<byte> v1, out Vector512<byte> v2, out Vector512<byte> v3);
        static abstract void Scales(byte* w, out Vector512<short> s0, out Vector512<short> s1, out Vector512<short> s2, out Vector512<short> s3,
            out Vector256<short> factors, out float d, out float dOffset);
    }

    /// <summary>16 int8 scales (then, for <paramref name="minsAfter"/>, 16 mins) at <paramref name="meta"/>: the lanes of sub-blocks of 16 and the offset factors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void SixteenScales(byte* meta, bool minsAfter, out Vector512<short> s0, out Vector512<short> s1, out Vector512<short> s2, out Vector512<short> s3,
        out Vector256<short> factors)
    {
        var sc = Avx512BW.ConvertToVector512Int16(Vector256.Load((sbyte*)meta));   // lanes 0-15: the scales (16-31: the mins)
        s0 = Avx512BW.PermuteVar32x16(sc, Q6Scale0);
        s1 = Avx512BW.PermuteVar32x16(sc, Q6Scale1);
        s2 = Avx512BW.PermuteVar32x16(sc, Q6Scale2);
        s3 = Avx512BW.PermuteVar32x16(sc, Q6Scale3);
        factors = minsAfter ? sc.GetUpper() : sc.GetLower();
    }

    /// <summary>
    /// Q6_K's and Q3_K's metadata at <paramref name="meta"/> (16 int8 scales, fp32 d), values stored plus
    /// <paramref name="offset"/>: offset · scale · (the sums of 16) is taken off per sub-block.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void ScalesOfOffsetValues(byte* meta, int offset, out Vector512<short> s0, out Vector512<short> s1, out Vector512<short> s2, out Vector512<short> s3,
        out Vector256<short> factors, out float d, out float dOffset)
    {
        SixteenScales(meta, minsAfter: false, out s0, out s1, out s2, out s3, out factors);
        d = *(float*)(meta + 16);
        dOffset = offset * d;
    }

    /// <summary>The 2-bit plane at <paramref name="w"/>: zmm t is bits 2t, 2t + 1 of each byte.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void TwoBits(byte* w, out Vector512<byte> v0, out Vector512<byte> v1, out Vector512<byte> v2, out Vector512<byte> v3)
    {
        var p = Vector512.Load(w);
        var three = Vector512.Create((byte)3);
        v0 = p & three;
        v1 = Avx512BW.ShiftRightLogical(p.AsUInt16(), 2).AsByte() & three;
        v2 = Avx512BW.ShiftRightLogical(p.AsUInt16(), 4).AsByte() & three;
        v3 = Avx512BW.ShiftRightLogical(p.AsUInt16(), 6).AsByte() & three;
    }

    struct Q4KBlock<TBits> : IKBlock where TBits : struct, IBits
    {
        public static int Stride => TBits.HasFifthBit ? 184 : 152;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Values(byte* w, out Vector512<byte> v0, out Vector512<byte> v1, out Vector512<byte> v2, out Vector512<byte> v3)
        {
            var low = Vector512.Create((byte)0x0F);
            var q0 = Vector512.Load(w);
            var q1 = Vector512.Load(w + 64);
            v0 = q0 & low;
            v1 = Avx512BW.ShiftRightLogical(q0.AsUInt16(), 4).AsByte() & low;
            v2 = q1 & low;
            v3 = Avx512BW.ShiftRightLogical(q1.AsUInt16(), 4).AsByte() & low;
            if (TBits.HasFifthBit) HighBits(w + 128, 0x10, ref v0, ref v1, ref v2, ref v3);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Scales(byte* w, out Vector512<short> s0, out Vector512<short> s1, out Vector512<short> s2, out Vector512<short> s3,
            out Vector256<short> factors, out float d, out float dOffset)
        {
            byte* meta = w + (TBits.HasFifthBit ? 160 : 128);
            var scm = Avx512BW.ConvertToVector512Int16(Vector256.Load(meta));   // lanes 0-7 scales, 8-15 mins
            s0 = Avx512BW.PermuteVar32x16(scm, Q4Scale0);
            s1 = Avx512BW.PermuteVar32x16(scm, Q4Scale1);
            s2 = Avx512BW.PermuteVar32x16(scm, Q4Scale2);
            s3 = Avx512BW.PermuteVar32x16(scm, Q4Scale3);
            factors = Avx512BW.PermuteVar32x16(scm, Q4Mins).GetLower();
            d = *(float*)(meta + 16);
            dOffset = *(float*)(meta + 20);
        }
    }

    struct Q6KBlock : IKBlock
    {
        public static int Stride => 212;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Values(byte* w, out Vector512<byte> v0, out Vector512<byte> v1, out Vector512<byte> v2, out Vector512<byte> v3)
        {
            var low = Vector512.Create((byte)0x0F);
            var high = Vector512.Create((byte)0x30);
            var l0 = Vector512.Load(w);
            var l1 = Vector512.Load(w + 64);
            var h = Vector512.Load(w + 128).AsUInt16();
            v0 = (l0 & low) | (Avx512BW.ShiftLeftLogical(h, 4).AsByte() & high);
            v1 = (Avx512BW.ShiftRightLogical(l0.AsUInt16(), 4).AsByte() & low) | (Avx512BW.ShiftLeftLogical(h, 2).AsByte() & high);
            v2 = (l1 & low) | (h.AsByte() & high);
            v3 = (Avx512BW.ShiftRightLogical(l1.AsUInt16(), 4).AsByte() & low) | (Avx512BW.ShiftRightLogical(h, 2).AsByte() & high);
        }

        /// <remarks>The stored values are q + 32.</remarks>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Scales(byte* w, out Vector512<short> s0, out Vector512<short> s1, out Vector512<short> s2, out Vector512<short> s3,
            out Vector256<short> factors, out float d, out float dOffset) => ScalesOfOffsetValues(w + 192, 32, out s0, out s1, out s2, out s3, out factors, out d, out dOffset);
    }

    struct Q3KBlock : IKBlock
    {
        public static int Stride => 116;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Values(byte* w, out Vector512<byte> v0, out Vector512<byte> v1, out Vector512<byte> v2, out Vector512<byte> v3)
        {
            TwoBits(w, out v0, out v1, out v2, out v3);
            HighBits(w + 64, 4, ref v0, ref v1, ref v2, ref v3);
        }

        /// <remarks>The stored values are q + 4.</remarks>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Scales(byte* w, out Vector512<short> s0, out Vector512<short> s1, out Vector512<short> s2, out Vector512<short> s3,
            out Vector256<short> factors, out float d, out float dOffset) => ScalesOfOffsetValues(w + 96, 4, out s0, out s1, out s2, out s3, out factors, out d, out dOffset);
    }

    struct Q2KBlock : IKBlock
    {
        public static int Stride => 104;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Values(byte* w, out Vector512<byte> v0, out Vector512<byte> v1, out Vector512<byte> v2, out Vector512<byte> v3) =>
            TwoBits(w, out v0, out v1, out v2, out v3);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Scales(byte* w, out Vector512<short> s0, out Vector512<short> s1, out Vector512<short> s2, out Vector512<short> s3,
            out Vector256<short> factors, out float d, out float dOffset)
        {
            SixteenScales(w + 64, minsAfter: true, out s0, out s1, out s2, out s3, out factors);
            d = *(float*)(w + 96);
            dOffset = *(float*)(w + 100);
        }
    }

    /// <summary>The K-quant kernel: Σ d · xd · scale · q · x less dOffset · xd · Σ factor · (Q8_K's sums of 16), per block.</summary>
    /// <summary>The row sums in one fixed order (the AVX2 path's, QuantizedGemm.Avx2.cs): both paths give the same floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Finish<TRows>(float* c, int ldc, Vector512<float> f0, Vector512<float> f1, Vector512<float> f2, Vector512<float> f3,
        Vector256<float> m0, Vector256<float> m1, Vector256<float> m2, Vector256<float> m3) where TRows : struct, IRows
    {
        c[0] = Total(f0.GetLower(), f0.GetUpper(), m0);
        if (TRows.Count > 1) c[ldc] = Total(f1.GetLower(), f1.GetUpper(), m1);
        if (TRows.Count > 2) { c[2 * ldc] = Total(f2.GetLower(), f2.GetUpper(), m2); c[3 * ldc] = Total(f3.GetLower(), f3.GetUpper(), m3); }
    }

    struct KQuant<TBlock> : IKernel where TBlock : struct, IKBlock
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void Row<TRows>(byte* w, int blocks, byte* x, long xs, int k, float* c, int ldc) where TRows : struct, IRows
        {
            int rows = TRows.Count;
            Vector512<float> f0 = default, f1 = default, f2 = default, f3 = default;
            Vector256<float> m0 = default, m1 = default, m2 = default, m3 = default;
            for (int b = 0; b < blocks; b++, w += TBlock.Stride)
            {
                TBlock.Values(w, out var v0, out var v1, out var v2, out var v3);
                TBlock.Scales(w, out var s0, out var s1, out var s2, out var s3, out var factors, out float d, out float dOffset);
                byte* xb = x + (long)b * Q8KBytes;
                f0 = Products(f0, xb, d, v0, v1, v2, v3, s0, s1, s2, s3); m0 = Offsets(m0, xb, dOffset, factors);
                if (rows > 1) { f1 = Products(f1, xb + xs, d, v0, v1, v2, v3, s0, s1, s2, s3); m1 = Offsets(m1, xb + xs, dOffset, factors); }
                if (rows > 2)
                {
                    f2 = Products(f2, xb + 2 * xs, d, v0, v1, v2, v3, s0, s1, s2, s3); m2 = Offsets(m2, xb + 2 * xs, dOffset, factors);
                    f3 = Products(f3, xb + 3 * xs, d, v0, v1, v2, v3, s0, s1, s2, s3); m3 = Offsets(m3, xb + 3 * xs, dOffset, factors);
                }
            }
            Finish<TRows>(c, ldc, f0, f1, f2, f3, m0, m1, m2, m3);
        }
    }

    /// <summary>A block of 32 values with an fp32 scale first: its values widened to int16.</summary>
    interface IBlock32
    {
        static abstract int Stride { get; }
        static abstract Vector512<short> Values(byte* w);
    }

    struct Q8_0Block : IBlock32
    {
        public static int Stride => 36;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<short> Values(byte* w) => Avx512BW.ConvertToVector512Int16(Vector256.Load((sbyte*)(w + 4)));
    }

    /// <summary>The nibbles at <paramref name="qs"/> (ggml's order) as 32 uint16 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<ushort> Nibbles(byte* qs)
    {
        var b = Vector128.Load(qs);
        var twice = Avx512BW.ConvertToVector512UInt16(Vector256.Create(b, b));
        return Avx512BW.ShiftRightLogicalVariable(twice, NibbleShifts.AsUInt16()) & Vector512.Create((ushort)0xF);
    }

    struct Q4_0Block : IBlock32
    {
        public static int Stride => 20;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<short> Values(byte* w) => Nibbles(w + 4).AsInt16() - Vector512.Create((short)8);
    }

    struct Q5_0Block : IBlock32
    {
        public static int Stride => 24;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<short> Values(byte* w)
        {
            var h = Vector512.Create(*(uint*)(w + 4)).AsUInt16();
            var fifth = Avx512BW.ShiftLeftLogical(Avx512BW.ShiftRightLogicalVariable(h, FifthShifts.AsUInt16()) & Vector512.Create((ushort)1), 4);
            return (Nibbles(w + 8) | fifth).AsInt16() - Vector512.Create((short)16);
        }
    }

    /// <summary>The kernel for blocks of 32 on Q8_0 activations (held widened: k int16 values, then k / 32 fp32 scales).</summary>
    struct Block32<TBlock> : IKernel where TBlock : struct, IBlock32
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void Row<TRows>(byte* w, int blocks, byte* x, long xs, int k, float* c, int ldc) where TRows : struct, IRows
        {
            int rows = TRows.Count;
            Vector512<float> f0 = default, f1 = default, f2 = default, f3 = default;
            short* xq = (short*)x;
            float* xd = (float*)(x + (long)k * 2);
            long xsShorts = xs / 2, xsFloats = xs / 4;
            for (int b = 0; b < blocks; b++, w += TBlock.Stride)
            {
                float dw = *(float*)w;
                var w16 = TBlock.Values(w);
                short* xr = xq + b * QK;
                float* dr = xd + b;
                f0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(w16, Vector512.Load(xr))), Vector512.Create(dw * dr[0]), f0);
                if (rows > 1)
                    f1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(w16, Vector512.Load(xr + xsShorts))), Vector512.Create(dw * dr[xsFloats]), f1);
                if (rows > 2)
                {
                    f2 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(w16, Vector512.Load(xr + 2 * xsShorts))), Vector512.Create(dw * dr[2 * xsFloats]), f2);
                    f3 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(w16, Vector512.Load(xr + 3 * xsShorts))), Vector512.Create(dw * dr[3 * xsFloats]), f3);
                }
            }
            Finish<TRows>(c, ldc, f0, f1, f2, f3, default, default, default, default);
        }
    }
}
