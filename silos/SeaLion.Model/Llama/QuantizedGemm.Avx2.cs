using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SeaLion.Model.Llama;

/// <summary>The instruction sets <see cref="QuantizedGemm"/> runs on, the better last.</summary>
internal enum QuantIsa { None, Avx2, Avx512 }

/// <summary>
/// The AVX2 + FMA path, for hosts without AVX-512BW (AMD Zen 2/3, Intel before Skylake-SP): the same repacked layouts,
/// the same activation bytes (ggml's rounding: <c>vcvtps2dq</c> rounds half to even, the packs saturate) and the same
/// exact integer block products (<c>vpmaddubsw</c> + <c>vpmaddwd</c>), each 64-byte chunk of a block read as two 32-byte
/// halves. A half is one Q4_K / Q5_K sub-block of 32 values (one scale) or two Q6_K sub-blocks of 16 (one scale per
/// 128-bit lane): the scales are widened to int32 lanes that hold the int16 scale twice, then spread by <c>vpermd</c>.
/// The fp32 sums run over 8 lanes, not 16, so the results equal the AVX-512 path's to float rounding, not bitwise; a
/// row's result still does not depend on its batch (the same operations per row in every tile).
/// </summary>
internal static unsafe partial class QuantizedGemm
{
    /// <summary>The best path this host has: AVX-512BW, else AVX2 with FMA, else none (the loader dequantizes).</summary>
    public static QuantIsa Detected { get; } =
        Avx512BW.IsSupported ? QuantIsa.Avx512 : Avx2.IsSupported && Fma.IsSupported ? QuantIsa.Avx2 : QuantIsa.None;

    static QuantIsa _isa = Detected;

    /// <summary>
    /// The path <see cref="Multiply(byte*, int, QuantizedMatrix, float*, int, int)"/> and the quantizers take:
    /// <see cref="Detected"/>, or a lower one a test forces (AVX2 on an AVX-512 host). Process-wide: a test sets it only
    /// where nothing else is multiplying, and the kernel tests pass the path explicitly instead.
    /// </summary>
    internal static QuantIsa Isa
    {
        get => _isa;
        set => _isa = value <= Detected ? value : throw new PlatformNotSupportedException($"this host has no {value} path (it has {Detected})");
    }

    // ---- activations: the same bytes as the AVX-512 quantizers ----

    static float AbsMaxAvx2(float* x, int n)
    {
        var m = Vector256<float>.Zero;
        for (int i = 0; i < n; i += 8) m = Vector256.Max(m, Vector256.Abs(Vector256.Load(x + i)));
        return MaxOf(m);
    }

    /// <summary>q = round-half-even(x · scale) saturated to int8, n a multiple of 32.</summary>
    static void RoundToSBytesAvx2(float* x, float scale, sbyte* q, int n)
    {
        var s = Vector256.Create(scale);
        // The packs interleave 128-bit lanes: dword t of the result holds values 4 · order[t]..+3.
        var order = Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7);
        for (int i = 0; i < n; i += 32)
        {
            var a = Avx2.PackSignedSaturate(Avx.ConvertToVector256Int32(Vector256.Load(x + i) * s), Avx.ConvertToVector256Int32(Vector256.Load(x + i + 8) * s));
            var b = Avx2.PackSignedSaturate(Avx.ConvertToVector256Int32(Vector256.Load(x + i + 16) * s), Avx.ConvertToVector256Int32(Vector256.Load(x + i + 24) * s));
            Avx2.PermuteVar8x32(Avx2.PackSignedSaturate(a, b).AsInt32(), order).AsSByte().Store(q + i);
        }
    }

    /// <summary>One Q8_0 block of 32 as <see cref="QuantizeQ8_0(float*, int, byte*, QuantIsa)"/> holds it: int16 values, the fp16 scale as fp32.</summary>
    static void QuantizeQ8_0BlockAvx2(float* x, short* q, float* scale)
    {
        float amax = AbsMaxAvx2(x, QK);
        *scale = (float)(Half)(amax / 127f);
        var id = Vector256.Create(amax != 0 ? 127f / amax : 0f);
        for (int i = 0; i < QK; i += 16)
        {
            var packed = Avx2.PackSignedSaturate(Avx.ConvertToVector256Int32(Vector256.Load(x + i) * id), Avx.ConvertToVector256Int32(Vector256.Load(x + i + 8) * id));
            Avx2.Permute4x64(packed.AsInt64(), 0b11_01_10_00).AsInt16().Store(q + i);   // qwords 0, 2, 1, 3: undo the lane interleave
        }
    }

    // ---- the product: one weight row against 1, 2 or 4 activation rows (the tile loop is Multiply's) ----

    static void Avx2Row(QuantFormat f, int rows, byte* w, int blocks, byte* x, long xs, int k, float* c, int ldc)
    {
        switch (f, rows)
        {
            case (QuantFormat.Q4_K, 4): Q4KAvx2<R4, Four>(w, blocks, x, xs, c, ldc); break;
            case (QuantFormat.Q4_K, 2): Q4KAvx2<R2, Four>(w, blocks, x, xs, c, ldc); break;
            case (QuantFormat.Q4_K, _): Q4KAvx2<R1, Four>(w, blocks, x, xs, c, ldc); break;
            case (QuantFormat.Q5_K, 4): Q4KAvx2<R4, Five>(w, blocks, x, xs, c, ldc); break;
            case (QuantFormat.Q5_K, 2): Q4KAvx2<R2, Five>(w, blocks, x, xs, c, ldc); break;
            case (QuantFormat.Q5_K, _): Q4KAvx2<R1, Five>(w, blocks, x, xs, c, ldc); break;
            case (QuantFormat.Q6_K, 4): Q6KAvx2<R4>(w, blocks, x, xs, c, ldc); break;
            case (QuantFormat.Q6_K, 2): Q6KAvx2<R2>(w, blocks, x, xs, c, ldc); break;
            case (QuantFormat.Q6_K, _): Q6KAvx2<R1>(w, blocks, x, xs, c, ldc); break;
            case (QuantFormat.Q8_0, 4): Q80Avx2<R4>(w, blocks, x, xs, k, c, ldc); break;
            case (QuantFormat.Q8_0, 2): Q80Avx2<R2>(w, blocks, x, xs, k, c, ldc); break;
            case (QuantFormat.Q8_0, _): Q80Avx2<R1>(w, blocks, x, xs, k, c, ldc); break;
            default: throw new PlatformNotSupportedException($"{f}: no AVX2 kernel");
        }
    }

    /// <summary>8 int8 scales widened to int32 lanes that hold the scale in both int16 halves (vpermd then spreads them).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Doubled(Vector256<int> v) => (v & Vector256.Create(0xFFFF)) | Avx2.ShiftLeftLogical(v, 16);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Dot(Vector256<byte> w, byte* x, Vector256<short> scales) =>
        Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(w, Vector256.Load((sbyte*)x)), scales);

    /// <summary>Two halves' scaled products for one activation row: values at <paramref name="x"/> and 64 bytes on.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Dot2(Vector256<int> acc, byte* x, Vector256<byte> lo, Vector256<short> slo, Vector256<byte> hi, Vector256<short> shi) =>
        acc + Dot(lo, x, slo) + Dot(hi, x + 64, shi);

    /// <summary>acc + d · xd · p, xd the activation block's scale at <paramref name="xb"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Scaled(Vector256<float> acc, Vector256<int> p, byte* xb, float d) =>
        Fma.MultiplyAdd(Avx.ConvertToVector256Single(p), Vector256.Create(d * *(float*)xb), acc);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<byte> FifthBit(Vector256<byte> qh, int bit) =>
        Vector256.AndNot(Vector256.Create((byte)0x10), Vector256.Equals(qh & Vector256.Create((byte)(1 << bit)), Vector256<byte>.Zero));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Q4KAvx2<TRows, TBits>(byte* w, int blocks, byte* x, long xs, float* c, int ldc) where TRows : struct, IRows where TBits : struct, IBits
    {
        int rows = TRows.Count;
        int meta = TBits.HasFifthBit ? 160 : 128, stride = TBits.HasFifthBit ? 184 : 152;
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default, m0 = default, m1 = default, m2 = default, m3 = default;
        var low = Vector256.Create((byte)0x0F);
        for (int b = 0; b < blocks; b++, w += stride)
        {
            var sc = Doubled(Avx2.ConvertToVector256Int32(w + meta));   // lane j: sub-block j's scale
            var mins = Doubled(Avx2.ConvertToVector256Int32(w + meta + 8)).AsInt16();   // int16 lane i: sub-block i / 2's min
            byte* xb = x + (long)b * Q8KBytes;
            Vector256<int> p0 = default, p1 = default, p2 = default, p3 = default;
            for (int g = 0; g < 4; g++)
            {
                // 32 bytes: the low nibbles are sub-block h (values 32h..), the high ones sub-block h + 2.
                int h = (g & 1) + 4 * (g >> 1);
                var q = Vector256.Load(w + 32 * g);
                var lo = q & low;
                var hi = Avx2.ShiftRightLogical(q.AsUInt16(), 4).AsByte() & low;
                if (TBits.HasFifthBit)
                {
                    var qh = Vector256.Load(w + 128);
                    lo |= FifthBit(qh, h);
                    hi |= FifthBit(qh, h + 2);
                }
                var slo = Avx2.PermuteVar8x32(sc, Vector256.Create(h)).AsInt16();
                var shi = Avx2.PermuteVar8x32(sc, Vector256.Create(h + 2)).AsInt16();
                byte* xh = xb + 4 + 32 * h;
                p0 = Dot2(p0, xh, lo, slo, hi, shi);
                if (rows > 1) p1 = Dot2(p1, xh + xs, lo, slo, hi, shi);
                if (rows > 2) { p2 = Dot2(p2, xh + 2 * xs, lo, slo, hi, shi); p3 = Dot2(p3, xh + 3 * xs, lo, slo, hi, shi); }
            }
            float d = *(float*)(w + meta + 16), dmin = *(float*)(w + meta + 20);
            f0 = Scaled(f0, p0, xb, d); m0 = Offsets(m0, xb, dmin, mins);
            if (rows > 1) { f1 = Scaled(f1, p1, xb + xs, d); m1 = Offsets(m1, xb + xs, dmin, mins); }
            if (rows > 2)
            {
                f2 = Scaled(f2, p2, xb + 2 * xs, d); m2 = Offsets(m2, xb + 2 * xs, dmin, mins);
                f3 = Scaled(f3, p3, xb + 3 * xs, d); m3 = Offsets(m3, xb + 3 * xs, dmin, mins);
            }
        }
        FinishAvx2<TRows>(c, ldc, f0 - m0, f1 - m1, f2 - m2, f3 - m3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void FinishAvx2<TRows>(float* c, int ldc, Vector256<float> r0, Vector256<float> r1, Vector256<float> r2, Vector256<float> r3) where TRows : struct, IRows
    {
        c[0] = Vector256.Sum(r0);
        if (TRows.Count > 1) c[ldc] = Vector256.Sum(r1);
        if (TRows.Count > 2) { c[2 * ldc] = Vector256.Sum(r2); c[3 * ldc] = Vector256.Sum(r3); }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Q6KAvx2<TRows>(byte* w, int blocks, byte* x, long xs, float* c, int ldc) where TRows : struct, IRows
    {
        int rows = TRows.Count;
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default, m0 = default, m1 = default, m2 = default, m3 = default;
        var low = Vector256.Create((byte)0x0F);
        var high = Vector256.Create((byte)0x30);
        var pair = Vector256.Create(0, 0, 0, 0, 1, 1, 1, 1);   // a half's two sub-blocks of 16, one per 128-bit lane
        for (int b = 0; b < blocks; b++, w += 212)
        {
            var sc0 = Doubled(Avx2.ConvertToVector256Int32((sbyte*)(w + 192)));   // lane j: sub-block j's scale, j < 8
            var sc1 = Doubled(Avx2.ConvertToVector256Int32((sbyte*)(w + 200)));   // sub-block 8 + j's
            var sc16 = Avx2.ConvertToVector256Int16((sbyte*)(w + 192));
            byte* xb = x + (long)b * Q8KBytes;
            Vector256<int> p0 = default, p1 = default, p2 = default, p3 = default;
            for (int g = 0; g < 4; g++)
            {
                // 32 bytes of low bits: the low nibbles are half h (values 32h.., sub-blocks 2h, 2h + 1), the high
                // ones half h + 2; their high bits sit at bits 2t of the 32 bytes at 128 + 32 (g % 2), t the group of 64.
                int h = (g & 1) + 4 * (g >> 1);
                var l = Vector256.Load(w + 32 * g);
                var hb = Vector256.Load(w + 128 + 32 * (g & 1)).AsUInt16();
                if (g >= 2) hb = Avx2.ShiftRightLogical(hb, 4);
                var lo = (l & low) | (Avx2.ShiftLeftLogical(hb, 4).AsByte() & high);
                var hi = (Avx2.ShiftRightLogical(l.AsUInt16(), 4).AsByte() & low) | (Avx2.ShiftLeftLogical(hb, 2).AsByte() & high);
                var sc = g < 2 ? sc0 : sc1;
                var first = pair + Vector256.Create(2 * (g & 1));
                var slo = Avx2.PermuteVar8x32(sc, first).AsInt16();
                var shi = Avx2.PermuteVar8x32(sc, first + Vector256.Create(4)).AsInt16();
                byte* xh = xb + 4 + 32 * h;
                p0 = Dot2(p0, xh, lo, slo, hi, shi);
                if (rows > 1) p1 = Dot2(p1, xh + xs, lo, slo, hi, shi);
                if (rows > 2) { p2 = Dot2(p2, xh + 2 * xs, lo, slo, hi, shi); p3 = Dot2(p3, xh + 3 * xs, lo, slo, hi, shi); }
            }
            // The stored values are q + 32: 32 · scale · (the sums of 16) is taken off per sub-block.
            float d = *(float*)(w + 208), d32 = 32 * d;
            f0 = Scaled(f0, p0, xb, d); m0 = Offsets(m0, xb, d32, sc16);
            if (rows > 1) { f1 = Scaled(f1, p1, xb + xs, d); m1 = Offsets(m1, xb + xs, d32, sc16); }
            if (rows > 2)
            {
                f2 = Scaled(f2, p2, xb + 2 * xs, d); m2 = Offsets(m2, xb + 2 * xs, d32, sc16);
                f3 = Scaled(f3, p3, xb + 3 * xs, d); m3 = Offsets(m3, xb + 3 * xs, d32, sc16);
            }
        }
        FinishAvx2<TRows>(c, ldc, f0 - m0, f1 - m1, f2 - m2, f3 - m3);
    }

    /// <summary>acc + d · (a Q8_0 block's 32 int16 products with the widened weights).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Q80Step(Vector256<float> acc, Vector256<short> w0, Vector256<short> w1, short* x, float d) =>
        Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(w0, Vector256.Load(x)) + Avx2.MultiplyAddAdjacent(w1, Vector256.Load(x + 16))),
            Vector256.Create(d), acc);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Q80Avx2<TRows>(byte* w, int blocks, byte* x, long xs, int k, float* c, int ldc) where TRows : struct, IRows
    {
        int rows = TRows.Count;
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default;
        short* xq = (short*)x;
        float* xd = (float*)(x + (long)k * 2);
        long xsShorts = xs / 2, xsFloats = xs / 4;
        for (int b = 0; b < blocks; b++, w += 36)
        {
            float dw = *(float*)w;
            var w0 = Avx2.ConvertToVector256Int16((sbyte*)(w + 4));
            var w1 = Avx2.ConvertToVector256Int16((sbyte*)(w + 20));
            short* xr = xq + b * QK;
            float* dr = xd + b;
            f0 = Q80Step(f0, w0, w1, xr, dw * dr[0]);
            if (rows > 1) f1 = Q80Step(f1, w0, w1, xr + xsShorts, dw * dr[xsFloats]);
            if (rows > 2)
            {
                f2 = Q80Step(f2, w0, w1, xr + 2 * xsShorts, dw * dr[2 * xsFloats]);
                f3 = Q80Step(f3, w0, w1, xr + 3 * xsShorts, dw * dr[3 * xsFloats]);
            }
        }
        FinishAvx2<TRows>(c, ldc, f0, f1, f2, f3);
    }
}
