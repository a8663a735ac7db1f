using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SeaLion.Model.Gguf;

namespace SeaLion.Model.Llama;

/// <summary>The quantized weight formats the CPU kernel runs on as they are stored (Q4_K_M files are Q4_K and Q6_K, Q5_K_M files Q5_K and Q6_K).</summary>
internal enum QuantFormat { Q8_0, Q4_K, Q5_K, Q6_K }

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
/// C[M, N] = A[M, K] · Wᵀ with W quantized (Q8_0, Q4_K, Q5_K, Q6_K), on one core with AVX-512BW integer dot products, as
/// llama.cpp computes them: each activation row is quantized (Q8_0 blocks of 32 for Q8_0 weights, Q8_K blocks of 256
/// for the K-quants, exactly as ggml's <c>quantize_row_q8_0</c> / <c>quantize_row_q8_K</c> do), block dot products are
/// exact in integers (<c>vpmaddubsw</c> + <c>vpmaddwd</c>; this CPU's .NET exposes no 512-bit VNNI), scaled and summed
/// in fp32.
/// <para>
/// Layouts (repacked from ggml's at load: the same values, arranged so one 64-byte load feeds one instruction):
/// Q8_0: fp32 scale, 32 int8 (36 bytes). Q4_K: 128 bytes of nibbles, byte i holding values i and i + 64 of its half
/// (so the low and high nibbles of 64 bytes are 64 consecutive values), 8 6-bit scales, 8 6-bit mins as bytes, fp32 d
/// and dmin (152 bytes). Q5_K: as Q4_K with ggml's 32 bytes of fifth bits after the nibbles (184 bytes). Q6_K: the same nibble planes for the low four bits, 64 bytes of the high two bits of values
/// i, i + 64, i + 128, i + 192, 16 int8 scales, fp32 d (212 bytes).
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

    public static QuantFormat? FormatOf(GgmlType t) => t switch
    {
        GgmlType.Q8_0 => QuantFormat.Q8_0,
        GgmlType.Q4_K => QuantFormat.Q4_K,
        GgmlType.Q5_K => QuantFormat.Q5_K,
        GgmlType.Q6_K => QuantFormat.Q6_K,
        _ => null,
    };

    public static int BlockSize(QuantFormat f) => f == QuantFormat.Q8_0 ? QK : QKK;
    public static int BlockBytes(QuantFormat f) => f switch { QuantFormat.Q8_0 => 36, QuantFormat.Q4_K => 152, QuantFormat.Q5_K => 184, _ => 212 };
    static GgmlType Ggml(QuantFormat f) => f switch
    {
        QuantFormat.Q8_0 => GgmlType.Q8_0, QuantFormat.Q4_K => GgmlType.Q4_K, QuantFormat.Q5_K => GgmlType.Q5_K, _ => GgmlType.Q6_K,
    };

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
            d[128 + i] = (byte)(v[i] >> 4 | (v[i + 64] >> 4) << 2 | (v[i + 128] >> 4) << 4 | (v[i + 192] >> 4) << 6);
        }
        g.Slice(192, 16).CopyTo(d[192..]);
        MemoryMarshal.Write(d[208..], Half(g, 208));
    }

    // ---- activations ----

    /// <summary>Bytes of one row of <paramref name="k"/> activations quantized for <paramref name="f"/>.</summary>
    public static long ActivationRowBytes(QuantFormat f, int k) => f == QuantFormat.Q8_0 ? (long)k * 2 + k / QK * 4 : (long)k / QKK * Q8KBytes;

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
                    if (isa == QuantIsa.Avx2) { Avx2Row(w.Format, rows, wr, blocks, x, xs, w.Cols, ci + n, ldc); continue; }
                    switch (w.Format, rows)
                    {
                        case (QuantFormat.Q4_K, 4): Q4K<R4, Four>(wr, blocks, x, xs, ci + n, ldc); break;
                        case (QuantFormat.Q4_K, 2): Q4K<R2, Four>(wr, blocks, x, xs, ci + n, ldc); break;
                        case (QuantFormat.Q4_K, _): Q4K<R1, Four>(wr, blocks, x, xs, ci + n, ldc); break;
                        case (QuantFormat.Q5_K, 4): Q4K<R4, Five>(wr, blocks, x, xs, ci + n, ldc); break;
                        case (QuantFormat.Q5_K, 2): Q4K<R2, Five>(wr, blocks, x, xs, ci + n, ldc); break;
                        case (QuantFormat.Q5_K, _): Q4K<R1, Five>(wr, blocks, x, xs, ci + n, ldc); break;
                        case (QuantFormat.Q6_K, 4): Q6K<R4>(wr, blocks, x, xs, ci + n, ldc); break;
                        case (QuantFormat.Q6_K, 2): Q6K<R2>(wr, blocks, x, xs, ci + n, ldc); break;
                        case (QuantFormat.Q6_K, _): Q6K<R1>(wr, blocks, x, xs, ci + n, ldc); break;
                        case (QuantFormat.Q8_0, 4): Q80<R4>(wr, blocks, x, xs, w.Cols, ci + n, ldc); break;
                        case (QuantFormat.Q8_0, 2): Q80<R2>(wr, blocks, x, xs, w.Cols, ci + n, ldc); break;
                        default: Q80<R1>(wr, blocks, x, xs, w.Cols, ci + n, ldc); break;
                    }
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
    // Q6_K: s16 lanes of zmm t are sub-blocks of 16: 4t + lane / 8.
    static readonly Vector512<short> Q6Scale0 = Lanes(i => i / 8), Q6Scale1 = Lanes(i => 4 + i / 8),
        Q6Scale2 = Lanes(i => 8 + i / 8), Q6Scale3 = Lanes(i => 12 + i / 8);

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

    // Q5_K's fifth bits: zmm t takes bit 2t of qh[l] for its first 32 values and bit 2t + 1 for the next 32.
    static readonly Vector512<byte> Q5Bit0 = Bits(0), Q5Bit1 = Bits(1), Q5Bit2 = Bits(2), Q5Bit3 = Bits(3);

    static Vector512<byte> Bits(int t)
    {
        var v = new byte[64];
        for (int i = 0; i < 64; i++) v[i] = (byte)(1 << (2 * t + i / 32));
        return Vector512.Create(v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<byte> FifthBit(Vector512<byte> qh, Vector512<byte> bit) =>
        Vector512.AndNot(Vector512.Create((byte)0x10), Vector512.Equals(qh & bit, Vector512<byte>.Zero));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Q4K<TRows, TBits>(byte* w, int blocks, byte* x, long xs, float* c, int ldc) where TRows : struct, IRows where TBits : struct, IBits
    {
        int rows = TRows.Count;
        int meta = TBits.HasFifthBit ? 160 : 128, stride = TBits.HasFifthBit ? 184 : 152;
        Vector512<float> f0 = default, f1 = default, f2 = default, f3 = default;
        Vector256<float> m0 = default, m1 = default, m2 = default, m3 = default;
        var low = Vector512.Create((byte)0x0F);
        for (int b = 0; b < blocks; b++, w += stride)
        {
            var q0 = Vector512.Load(w);
            var q1 = Vector512.Load(w + 64);
            var v0 = q0 & low;
            var v1 = Avx512BW.ShiftRightLogical(q0.AsUInt16(), 4).AsByte() & low;
            var v2 = q1 & low;
            var v3 = Avx512BW.ShiftRightLogical(q1.AsUInt16(), 4).AsByte() & low;
            if (TBits.HasFifthBit)
            {
                var h = Vector256.Load(w + 128);
                var qh = Vector512.Create(h, h);
                v0 |= FifthBit(qh, Q5Bit0); v1 |= FifthBit(qh, Q5Bit1); v2 |= FifthBit(qh, Q5Bit2); v3 |= FifthBit(qh, Q5Bit3);
            }
            var scm = Avx512BW.ConvertToVector512Int16(Vector256.Load(w + meta));   // lanes 0-7 scales, 8-15 mins
            var s0 = Avx512BW.PermuteVar32x16(scm, Q4Scale0);
            var s1 = Avx512BW.PermuteVar32x16(scm, Q4Scale1);
            var s2 = Avx512BW.PermuteVar32x16(scm, Q4Scale2);
            var s3 = Avx512BW.PermuteVar32x16(scm, Q4Scale3);
            var mins = Avx512BW.PermuteVar32x16(scm, Q4Mins).GetLower();
            float d = *(float*)(w + meta + 16), dmin = *(float*)(w + meta + 20);
            byte* xb = x + (long)b * Q8KBytes;
            f0 = Products(f0, xb, d, v0, v1, v2, v3, s0, s1, s2, s3); m0 = Offsets(m0, xb, dmin, mins);
            if (rows > 1) { f1 = Products(f1, xb + xs, d, v0, v1, v2, v3, s0, s1, s2, s3); m1 = Offsets(m1, xb + xs, dmin, mins); }
            if (rows > 2)
            {
                f2 = Products(f2, xb + 2 * xs, d, v0, v1, v2, v3, s0, s1, s2, s3); m2 = Offsets(m2, xb + 2 * xs, dmin, mins);
                f3 = Products(f3, xb + 3 * xs, d, v0, v1, v2, v3, s0, s1, s2, s3); m3 = Offsets(m3, xb + 3 * xs, dmin, mins);
            }
        }
        Finish<TRows>(c, ldc, f0, f1, f2, f3, m0, m1, m2, m3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Finish<TRows>(float* c, int ldc, Vector512<float> f0, Vector512<float> f1, Vector512<float> f2, Vector512<float> f3,
        Vector256<float> m0, Vector256<float> m1, Vector256<float> m2, Vector256<float> m3) where TRows : struct, IRows
    {
        c[0] = Total(f0.GetLower(), f0.GetUpper(), m0);
        if (TRows.Count > 1) c[ldc] = Total(f1.GetLower(), f1.GetUpper(), m1);
        if (TRows.Count > 2) { c[2 * ldc] = Total(f2.GetLower(), f2.GetUpper(), m2); c[3 * ldc] = Total(f3.GetLower(), f3.GetUpper(), m3); }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Q6K<TRows>(byte* w, int blocks, byte* x, long xs, float* c, int ldc) where TRows : struct, IRows
    {
        int rows = TRows.Count;
        Vector512<float> f0 = default, f1 = default, f2 = default, f3 = default;
        Vector256<float> m0 = default, m1 = default, m2 = default, m3 = default;
        var low = Vector512.Create((byte)0x0F);
        var high = Vector512.Create((byte)0x30);
        for (int b = 0; b < blocks; b++, w += 212)
        {
            var l0 = Vector512.Load(w);
            var l1 = Vector512.Load(w + 64);
            var h = Vector512.Load(w + 128).AsUInt16();
            var v0 = (l0 & low) | (Avx512BW.ShiftLeftLogical(h, 4).AsByte() & high);
            var v1 = (Avx512BW.ShiftRightLogical(l0.AsUInt16(), 4).AsByte() & low) | (Avx512BW.ShiftLeftLogical(h, 2).AsByte() & high);
            var v2 = (l1 & low) | (h.AsByte() & high);
            var v3 = (Avx512BW.ShiftRightLogical(l1.AsUInt16(), 4).AsByte() & low) | (Avx512BW.ShiftRightLogical(h, 2).AsByte() & high);
            var sc = Avx512BW.ConvertToVector512Int16(Vector256.Load((sbyte*)(w + 192)));   // lanes 0-15: the int8 scales
            var s0 = Avx512BW.PermuteVar32x16(sc, Q6Scale0);
            var s1 = Avx512BW.PermuteVar32x16(sc, Q6Scale1);
            var s2 = Avx512BW.PermuteVar32x16(sc, Q6Scale2);
            var s3 = Avx512BW.PermuteVar32x16(sc, Q6Scale3);
            var sc16 = sc.GetLower();
            // The stored values are q + 32: 32 · scale · (the sums of 16) is taken off per sub-block.
            float d = *(float*)(w + 208), d32 = 32 * d;
            byte* xb = x + (long)b * Q8KBytes;
            f0 = Products(f0, xb, d, v0, v1, v2, v3, s0, s1, s2, s3); m0 = Offsets(m0, xb, d32, sc16);
            if (rows > 1) { f1 = Products(f1, xb + xs, d, v0, v1, v2, v3, s0, s1, s2, s3); m1 = Offsets(m1, xb + xs, d32, sc16); }
            if (rows > 2)
            {
                f2 = Products(f2, xb + 2 * xs, d, v0, v1, v2, v3, s0, s1, s2, s3); m2 = Offsets(m2, xb + 2 * xs, d32, sc16);
                f3 = Products(f3, xb + 3 * xs, d, v0, v1, v2, v3, s0, s1, s2, s3); m3 = Offsets(m3, xb + 3 * xs, d32, sc16);
            }
        }
        Finish<TRows>(c, ldc, f0, f1, f2, f3, m0, m1, m2, m3);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Q80<TRows>(byte* w, int blocks, byte* x, long xs, int k, float* c, int ldc) where TRows : struct, IRows
    {
        int rows = TRows.Count;
        Vector512<float> f0 = default, f1 = default, f2 = default, f3 = default;
        short* xq = (short*)x;
        float* xd = (float*)(x + (long)k * 2);
        long xsShorts = xs / 2, xsFloats = xs / 4;
        for (int b = 0; b < blocks; b++, w += 36)
        {
            float dw = *(float*)w;
            var w16 = Avx512BW.ConvertToVector512Int16(Vector256.Load((sbyte*)(w + 4)));
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
