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
/// The halves that are the AVX-512 path's lanes 0-7 and 8-15 accumulate apart and every row ends in the same fixed-order
/// sum (<c>Total</c>), so the results equal the AVX-512 path's bitwise; a row's result does not depend on its batch.
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

    // ---- the product: Multiply's tile loop over these row kernels ----

    /// <summary>Whether <paramref name="f"/> has an AVX2 kernel (the others are dequantized at load on an AVX2 host).</summary>
    internal static bool HasAvx2Kernel(QuantFormat f) => f is QuantFormat.Q8_0 or QuantFormat.Q4_K or QuantFormat.Q5_K or QuantFormat.Q6_K;

    static void MultiplyAvx2(byte* aq, int m, QuantizedMatrix w, float* c, int ldc, int col0)
    {
        switch (w.Format)
        {
            case QuantFormat.Q8_0: Tiles<Q80Avx2Kernel>(aq, m, w, c, ldc, col0); break;
            case QuantFormat.Q4_K: Tiles<KQuantAvx2Kernel<Q4KLayout<Four>>>(aq, m, w, c, ldc, col0); break;
            case QuantFormat.Q5_K: Tiles<KQuantAvx2Kernel<Q4KLayout<Five>>>(aq, m, w, c, ldc, col0); break;
            case QuantFormat.Q6_K: Tiles<KQuantAvx2Kernel<Q6KLayout>>(aq, m, w, c, ldc, col0); break;
            default: throw new PlatformNotSupportedException($"{w.Format}: no AVX2 kernel");
        }
    }

    struct Q80Avx2Kernel : IKernel
    {
        public static void Row<TRows>(byte* w, int blocks, byte* x, long xs, int k, float* c, int ldc) where TRows : struct, IRows =>
            Q80Avx2<TRows>(w, blocks, x, xs, k, c, ldc);
    }

    struct KQuantAvx2Kernel<TLayout> : IKernel where TLayout : struct, IKFormat
    {
        public static void Row<TRows>(byte* w, int blocks, byte* x, long xs, int k, float* c, int ldc) where TRows : struct, IRows =>
            KQuantAvx2<TRows, TLayout>(w, blocks, x, xs, c, ldc);
    }

    /// <summary>8 int8 scales widened to int32 lanes that hold the scale in both int16 halves (vpermd then spreads them).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Doubled(Vector256<int> v) => (v & Vector256.Create(0xFFFF)) | Avx2.ShiftLeftLogical(v, 16);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Dot(Vector256<byte> w, byte* x, Vector256<short> scales) =>
        Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(w, Vector256.Load((sbyte*)x)), scales);

    /// <summary>
    /// Σ of the 16 lanes (<paramref name="lo"/>, <paramref name="hi"/>) minus Σ of the 8 <paramref name="offsets"/>, in
    /// one fixed order: the AVX-512 path (a zmm's halves) and the AVX2 one (two ymm accumulators) give the same float.
    /// </summary>
    static float Total(Vector256<float> lo, Vector256<float> hi, Vector256<float> offsets) => Sum8(lo + hi) - Sum8(offsets);

    static float Sum8(Vector256<float> v)
    {
        var t = v.GetLower() + v.GetUpper();
        return t[0] + t[2] + (t[1] + t[3]);
    }

    /// <summary>One 32-byte half of a K-quant block for one activation row: acc + Σ scale · q · x, the lanes as the AVX-512 path's.</summary>
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

    /// <summary>
    /// The 32 values of half <c>h + 2 · hi</c> of a Q4_K / Q5_K block (values 32h.., one sub-block), g = the 32 bytes read,
    /// and its scale in every int16 lane.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (Vector256<byte> Lo, Vector256<short> SLo, Vector256<byte> Hi, Vector256<short> SHi) Q4Halves<TBits>(byte* w, int g, Vector256<int> sc) where TBits : struct, IBits
    {
        // The low nibbles of bytes 32g.. are half h (values 32h..), the high ones half h + 2.
        int h = (g & 1) + 4 * (g >> 1);
        var low = Vector256.Create((byte)0x0F);
        var q = Vector256.Load(w + 32 * g);
        var lo = q & low;
        var hi = Avx2.ShiftRightLogical(q.AsUInt16(), 4).AsByte() & low;
        if (TBits.HasFifthBit)
        {
            var qh = Vector256.Load(w + 128);
            lo |= FifthBit(qh, h);
            hi |= FifthBit(qh, h + 2);
        }
        return (lo, Avx2.PermuteVar8x32(sc, Vector256.Create(h)).AsInt16(), hi, Avx2.PermuteVar8x32(sc, Vector256.Create(h + 2)).AsInt16());
    }

    /// <summary>The same for Q6_K: half h holds sub-blocks 2h and 2h + 1 of 16 (one scale per 128-bit lane).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (Vector256<byte> Lo, Vector256<short> SLo, Vector256<byte> Hi, Vector256<short> SHi) Q6Halves(byte* w, int g, Vector256<int> sc0, Vector256<int> sc1)
    {
        // The high two bits of value 64t + i sit at bits 2t of byte 128 + i: those of bytes 32g.. at 128 + 32 (g % 2).
        var low = Vector256.Create((byte)0x0F);
        var high = Vector256.Create((byte)0x30);
        var l = Vector256.Load(w + 32 * g);
        var hb = Vector256.Load(w + 128 + 32 * (g & 1)).AsUInt16();
        if (g >= 2) hb = Avx2.ShiftRightLogical(hb, 4);
        var lo = (l & low) | (Avx2.ShiftLeftLogical(hb, 4).AsByte() & high);
        var hi = (Avx2.ShiftRightLogical(l.AsUInt16(), 4).AsByte() & low) | (Avx2.ShiftLeftLogical(hb, 2).AsByte() & high);
        var sc = g < 2 ? sc0 : sc1;   // lanes: sub-blocks 8 (g / 2)..
        var first = Vector256.Create(0, 0, 0, 0, 1, 1, 1, 1) + Vector256.Create(2 * (g & 1));
        return (lo, Avx2.PermuteVar8x32(sc, first).AsInt16(), hi, Avx2.PermuteVar8x32(sc, first + Vector256.Create(4)).AsInt16());
    }

    /// <summary>
    /// The K-quant tile: per block the integer products of its 32-byte halves, even ones (zmm lanes 0-7 of the AVX-512
    /// path) and odd ones (lanes 8-15) apart, scaled into fp32 exactly as that path's lanes are.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void KQuantAvx2<TRows, TFormat>(byte* w, int blocks, byte* x, long xs, float* c, int ldc) where TRows : struct, IRows where TFormat : struct, IKFormat
    {
        int rows = TRows.Count;
        Vector256<float> e0 = default, e1 = default, e2 = default, e3 = default, o0 = default, o1 = default, o2 = default, o3 = default;
        Vector256<float> m0 = default, m1 = default, m2 = default, m3 = default;
        for (int b = 0; b < blocks; b++, w += TFormat.Stride)
        {
            byte* xb = x + (long)b * Q8KBytes;
            Vector256<int> pe0 = default, pe1 = default, pe2 = default, pe3 = default, po0 = default, po1 = default, po2 = default, po3 = default;
            var (sc0, sc1) = TFormat.Scales(w);
            for (int j = 0; j < 2; j++)
            {
                var (lo, slo, hi, shi) = TFormat.Halves(w, 2 * j, sc0, sc1);
                byte* xh = xb + 4 + 128 * j;
                pe0 = Dot2(pe0, xh, lo, slo, hi, shi);
                if (rows > 1) pe1 = Dot2(pe1, xh + xs, lo, slo, hi, shi);
                if (rows > 2) { pe2 = Dot2(pe2, xh + 2 * xs, lo, slo, hi, shi); pe3 = Dot2(pe3, xh + 3 * xs, lo, slo, hi, shi); }
                (lo, slo, hi, shi) = TFormat.Halves(w, 2 * j + 1, sc0, sc1);
                xh += 32;
                po0 = Dot2(po0, xh, lo, slo, hi, shi);
                if (rows > 1) po1 = Dot2(po1, xh + xs, lo, slo, hi, shi);
                if (rows > 2) { po2 = Dot2(po2, xh + 2 * xs, lo, slo, hi, shi); po3 = Dot2(po3, xh + 3 * xs, lo, slo, hi, shi); }
            }
            float d = TFormat.D(w), dOffset = TFormat.DOffset(w);
            var factors = TFormat.OffsetFactors(w);
            e0 = Scaled(e0, pe0, xb, d); o0 = Scaled(o0, po0, xb, d); m0 = Offsets(m0, xb, dOffset, factors);
            if (rows > 1) { e1 = Scaled(e1, pe1, xb + xs, d); o1 = Scaled(o1, po1, xb + xs, d); m1 = Offsets(m1, xb + xs, dOffset, factors); }
            if (rows > 2)
            {
                e2 = Scaled(e2, pe2, xb + 2 * xs, d); o2 = Scaled(o2, po2, xb + 2 * xs, d); m2 = Offsets(m2, xb + 2 * xs, dOffset, factors);
                e3 = Scaled(e3, pe3, xb + 3 * xs, d); o3 = Scaled(o3, po3, xb + 3 * xs, d); m3 = Offsets(m3, xb + 3 * xs, dOffset, factors);
            }
        }
        FinishAvx2<TRows>(c, ldc, e0, o0, m0, e1, o1, m1, e2, o2, m2, e3, o3, m3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void FinishAvx2<TRows>(float* c, int ldc, Vector256<float> e0, Vector256<float> o0, Vector256<float> m0, Vector256<float> e1, Vector256<float> o1, Vector256<float> m1,
        Vector256<float> e2, Vector256<float> o2, Vector256<float> m2, Vector256<float> e3, Vector256<float> o3, Vector256<float> m3) where TRows : struct, IRows
    {
        c[0] = Total(e0, o0, m0);
        if (TRows.Count > 1) c[ldc] = Total(e1, o1, m1);
        if (TRows.Count > 2) { c[2 * ldc] = Total(e2, o2, m2); c[3 * ldc] = Total(e3, o3, m3); }
    }

    /// <summary>What <see cref="KQuantAvx2{TRows, TFormat}"/> reads of a block of one K-quant layout.</summary>
    interface IKFormat
    {
        static abstract int Stride { get; }
        /// <summary>The scales widened for vpermd (<see cref="Doubled"/>).</summary>
        static abstract (Vector256<int>, Vector256<int>) Scales(byte* w);
        static abstract (Vector256<byte>, Vector256<short>, Vector256<byte>, Vector256<short>) Halves(byte* w, int g, Vector256<int> sc0, Vector256<int> sc1);
        /// <summary>Per int16 lane, the factor of the activation sum of 16 there, taken off times <see cref="DOffset"/>.</summary>
        static abstract Vector256<short> OffsetFactors(byte* w);
        static abstract float D(byte* w);
        static abstract float DOffset(byte* w);
    }

    struct Q4KLayout<TBits> : IKFormat where TBits : struct, IBits
    {
        static int Meta => TBits.HasFifthBit ? 160 : 128;
        public static int Stride => TBits.HasFifthBit ? 184 : 152;
        public static (Vector256<int>, Vector256<int>) Scales(byte* w) => (Doubled(Avx2.ConvertToVector256Int32(w + Meta)), default);
        public static (Vector256<byte>, Vector256<short>, Vector256<byte>, Vector256<short>) Halves(byte* w, int g, Vector256<int> sc0, Vector256<int> sc1) => Q4Halves<TBits>(w, g, sc0);
        // Sub-block i / 2's min: its two sums of 16.
        public static Vector256<short> OffsetFactors(byte* w) => Doubled(Avx2.ConvertToVector256Int32(w + Meta + 8)).AsInt16();
        public static float D(byte* w) => *(float*)(w + Meta + 16);
        public static float DOffset(byte* w) => *(float*)(w + Meta + 20);
    }

    struct Q6KLayout : IKFormat
    {
        public static int Stride => 212;
        public static (Vector256<int>, Vector256<int>) Scales(byte* w) =>
            (Doubled(Avx2.ConvertToVector256Int32((sbyte*)(w + 192))), Doubled(Avx2.ConvertToVector256Int32((sbyte*)(w + 200))));
        public static (Vector256<byte>, Vector256<short>, Vector256<byte>, Vector256<short>) Halves(byte* w, int g, Vector256<int> sc0, Vector256<int> sc1) => Q6Halves(w, g, sc0, sc1);
        // The stored values are q + 32: 32 · scale · (the sums of 16) is taken off per sub-block.
        public static Vector256<short> OffsetFactors(byte* w) => Avx2.ConvertToVector256Int16((sbyte*)(w + 192));
        public static float D(byte* w) => *(float*)(w + 208);
        public static float DOffset(byte* w) => 32 * *(float*)(w + 208);
    }

    /// <summary>acc + d · (16 of a Q8_0 block's int16 products with the widened weights).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Q80Step(Vector256<float> acc, Vector256<short> w, short* x, float d) =>
        Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(w, Vector256.Load(x))), Vector256.Create(d), acc);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Q80Avx2<TRows>(byte* w, int blocks, byte* x, long xs, int k, float* c, int ldc) where TRows : struct, IRows
    {
        int rows = TRows.Count;
        Vector256<float> e0 = default, e1 = default, e2 = default, e3 = default, o0 = default, o1 = default, o2 = default, o3 = default;
        short* xq = (short*)x;
        float* xd = (float*)(x + (long)k * 2);
        long xsShorts = xs / 2, xsFloats = xs / 4;
        for (int b = 0; b < blocks; b++, w += 36)
        {
            float dw = *(float*)w;
            var w0 = Avx2.ConvertToVector256Int16((sbyte*)(w + 4));   // the AVX-512 path's lanes 0-7
            var w1 = Avx2.ConvertToVector256Int16((sbyte*)(w + 20));   // and 8-15
            short* xr = xq + b * QK;
            float* dr = xd + b;
            float d0 = dw * dr[0];
            e0 = Q80Step(e0, w0, xr, d0); o0 = Q80Step(o0, w1, xr + 16, d0);
            if (rows > 1)
            {
                float d1 = dw * dr[xsFloats];
                e1 = Q80Step(e1, w0, xr + xsShorts, d1); o1 = Q80Step(o1, w1, xr + xsShorts + 16, d1);
            }
            if (rows > 2)
            {
                float d2 = dw * dr[2 * xsFloats], d3 = dw * dr[3 * xsFloats];
                e2 = Q80Step(e2, w0, xr + 2 * xsShorts, d2); o2 = Q80Step(o2, w1, xr + 2 * xsShorts + 16, d2);
                e3 = Q80Step(e3, w0, xr + 3 * xsShorts, d3); o3 = Q80Step(o3, w1, xr + 3 * xsShorts + 16, d3);
            }
        }
        FinishAvx2<TRows>(c, ldc, e0, o0, default, e1, o1, default, e2, o2, default, e3, o3, default);
    }
}
