using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SeaLion.Model.Llama;

/// <summary>
/// fp32 C[M, N] = A[M, K] · W[K, N] on one core with AVX-512, W packed once into column panels of
/// <see cref="PanelWidth"/> (each panel [K, PanelWidth] contiguous, the last one zero-padded). W is held in fp32, or
/// in bf16 (half the bytes to stream: each panel row widened to fp32 in registers, fp32 accumulation).
/// <para>
/// Why it exists: libtorch's CPU fp32 GEMM on this class of machine (AMD Zen, where MKL takes its AVX2 path) reaches
/// a fifth of the core's FMA rate for the skinny M of batched decode, so 16 decode tokens cost several times one.
/// The register tile here is 8 rows x 48 columns (24 zmm accumulators); each panel is streamed from memory once
/// per call and re-read from L2 for further 8-row blocks, so batched decode stays bound by the weight traffic.
/// </para>
/// <para>
/// Every output element is one fp32 FMA chain over k in order, whatever M is or which block a row falls in: a row's
/// result does not depend on what else shares the batch.
/// </para>
/// </summary>
internal static unsafe class PackedGemm
{
    public const int PanelWidth = 48;
    const int V = 16;   // floats per zmm

    public static bool IsSupported => Avx512F.IsSupported;

    public static long PackedLength(int k, int n) => (long)Panels(n) * k * PanelWidth;

    static int Panels(int n) => (n + PanelWidth - 1) / PanelWidth;

    /// <summary>Packs row-major bf16 W [k, n] into panels [ceil(n / 48)][k][48], zero-padding the last panel.</summary>
    public static void PackBf16(ushort* w, int k, int n, ushort* packed) => Pack<ushort>(w, k, n, packed);

    /// <summary>Packs row-major W [k, n] into panels [ceil(n / 48)][k][48], zero-padding the last panel.</summary>
    public static void Pack(float* w, int k, int n, float* packed) => Pack<float>(w, k, n, packed);

    static void Pack<T>(T* w, int k, int n, T* packed) where T : unmanaged
    {
        for (int p = 0; p < Panels(n); p++)
        {
            int n0 = p * PanelWidth, cols = Math.Min(PanelWidth, n - n0);
            T* dst = packed + (long)p * k * PanelWidth;
            for (int kk = 0; kk < k; kk++, dst += PanelWidth)
            {
                new ReadOnlySpan<T>(w + (long)kk * n + n0, cols).CopyTo(new Span<T>(dst, cols));
                new Span<T>(dst + cols, PanelWidth - cols).Clear();
            }
        }
    }

    /// <summary>C [m, n] (row-major, row stride n) = A [m, k] (row-major, row stride k) · packed W.</summary>
    public static void Multiply(float* a, int m, int k, float* packed, int n, float* c) => Multiply<F32>(a, m, k, (byte*)packed, n, c);

    /// <summary>As <see cref="Multiply(float*, int, int, float*, int, float*)"/> with W packed in bf16 by <see cref="PackBf16"/>.</summary>
    public static void MultiplyBf16(float* a, int m, int k, ushort* packed, int n, float* c) => Multiply<Bf16>(a, m, k, (byte*)packed, n, c);

    /// <summary>How a panel's elements load as 16 fp32 lanes.</summary>
    interface IWeights
    {
        static abstract int Bytes { get; }
        static abstract Vector512<float> Load(byte* p);
    }

    struct F32 : IWeights
    {
        public static int Bytes => 4;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load(byte* p) => Avx512F.LoadVector512((float*)p);
    }

    struct Bf16 : IWeights
    {
        public static int Bytes => 2;
        // bf16 is the high half of an fp32: widen 16 of them to 32 bits and shift them up.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load(byte* p) =>
            Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512UInt32(Avx.LoadVector256((ushort*)p)), 16).AsSingle();
    }

    static void Multiply<TW>(float* a, int m, int k, byte* packed, int n, float* c) where TW : struct, IWeights
    {
        if (!IsSupported) throw new PlatformNotSupportedException("PackedGemm needs AVX-512F");
        int panels = Panels(n);
        // A partial last panel goes through a full-width scratch tile, so the kernel only ever stores whole vectors.
        float* scratch = stackalloc float[8 * PanelWidth];
        for (int p = 0; p < panels; p++)
        {
            byte* b = packed + (long)p * k * PanelWidth * TW.Bytes;
            int n0 = p * PanelWidth, cols = Math.Min(PanelWidth, n - n0);
            for (int r = 0; r < m;)
            {
                int rows = m - r >= 8 ? 8 : m - r >= 4 ? 4 : m - r >= 2 ? 2 : 1;
                float* ar = a + (long)r * k, cr = c + (long)r * n + n0;
                bool full = cols == PanelWidth;
                float* dst = full ? cr : scratch;
                int ldd = full ? n : PanelWidth;
                // The last row block of a panel reads it from cache: meanwhile, pull the next panel in from memory.
                byte* next = r + rows == m && (rows >= 4 || r > 0) && p + 1 < panels ? b + (long)k * PanelWidth * TW.Bytes : null;
                switch (rows)
                {
                    case 8: Tile<R8, TW>(ar, k, b, dst, ldd, next); break;
                    case 4: Tile<R4, TW>(ar, k, b, dst, ldd, next); break;
                    case 2: Tile<R2, TW>(ar, k, b, dst, ldd, next); break;
                    default: Tile<R1, TW>(ar, k, b, dst, ldd, next); break;
                }
                if (!full)
                    for (int i = 0; i < rows; i++)
                        new ReadOnlySpan<float>(scratch + i * PanelWidth, cols).CopyTo(new Span<float>(cr + (long)i * n, cols));
                r += rows;
            }
        }
    }

    interface IRows { static abstract int Count { get; } }
    struct R1 : IRows { public static int Count => 1; }
    struct R2 : IRows { public static int Count => 2; }
    struct R4 : IRows { public static int Count => 4; }
    struct R8 : IRows { public static int Count => 8; }

    /// <summary>Rows [0, R) of A times one panel: R x 48 accumulators, one broadcast of A and three panel loads per k.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Tile<TRows, TW>(float* a, int k, byte* b, float* c, int ldc, byte* prefetch) where TRows : struct, IRows where TW : struct, IWeights
    {
        int row = PanelWidth * TW.Bytes, vec = V * TW.Bytes;
        int rows = TRows.Count;
        Vector512<float> c00 = default, c01 = default, c02 = default, c10 = default, c11 = default, c12 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c30 = default, c31 = default, c32 = default;
        Vector512<float> c40 = default, c41 = default, c42 = default, c50 = default, c51 = default, c52 = default;
        Vector512<float> c60 = default, c61 = default, c62 = default, c70 = default, c71 = default, c72 = default;
        float* a0 = a, a1 = a + k, a2 = a + 2 * k, a3 = a + 3 * k, a4 = a + 4 * k, a5 = a + 5 * k, a6 = a + 6 * k, a7 = a + 7 * k;
        for (int i = 0; i < k; i++, b += row)
        {
            if (prefetch != null)
            {
                // One panel row of the next panel per k step (192 bytes in fp32, 96 in bf16).
                byte* pf = prefetch + (long)i * row;
                Sse.Prefetch0(pf); Sse.Prefetch0(pf + 64); if (row > 128) Sse.Prefetch0(pf + 128);
            }
            var b0 = TW.Load(b);
            var b1 = TW.Load(b + vec);
            var b2 = TW.Load(b + 2 * vec);
            var x = Vector512.Create(a0[i]);
            c00 = Avx512F.FusedMultiplyAdd(x, b0, c00); c01 = Avx512F.FusedMultiplyAdd(x, b1, c01); c02 = Avx512F.FusedMultiplyAdd(x, b2, c02);
            if (rows > 1)
            {
                x = Vector512.Create(a1[i]);
                c10 = Avx512F.FusedMultiplyAdd(x, b0, c10); c11 = Avx512F.FusedMultiplyAdd(x, b1, c11); c12 = Avx512F.FusedMultiplyAdd(x, b2, c12);
            }
            if (rows > 2)
            {
                x = Vector512.Create(a2[i]);
                c20 = Avx512F.FusedMultiplyAdd(x, b0, c20); c21 = Avx512F.FusedMultiplyAdd(x, b1, c21); c22 = Avx512F.FusedMultiplyAdd(x, b2, c22);
                x = Vector512.Create(a3[i]);
                c30 = Avx512F.FusedMultiplyAdd(x, b0, c30); c31 = Avx512F.FusedMultiplyAdd(x, b1, c31); c32 = Avx512F.FusedMultiplyAdd(x, b2, c32);
            }
            if (rows > 4)
            {
                x = Vector512.Create(a4[i]);
                c40 = Avx512F.FusedMultiplyAdd(x, b0, c40); c41 = Avx512F.FusedMultiplyAdd(x, b1, c41); c42 = Avx512F.FusedMultiplyAdd(x, b2, c42);
                x = Vector512.Create(a5[i]);
                c50 = Avx512F.FusedMultiplyAdd(x, b0, c50); c51 = Avx512F.FusedMultiplyAdd(x, b1, c51); c52 = Avx512F.FusedMultiplyAdd(x, b2, c52);
                x = Vector512.Create(a6[i]);
                c60 = Avx512F.FusedMultiplyAdd(x, b0, c60); c61 = Avx512F.FusedMultiplyAdd(x, b1, c61); c62 = Avx512F.FusedMultiplyAdd(x, b2, c62);
                x = Vector512.Create(a7[i]);
                c70 = Avx512F.FusedMultiplyAdd(x, b0, c70); c71 = Avx512F.FusedMultiplyAdd(x, b1, c71); c72 = Avx512F.FusedMultiplyAdd(x, b2, c72);
            }
        }
        Store(c, c00, c01, c02);
        if (rows > 1) Store(c + ldc, c10, c11, c12);
        if (rows > 2) { Store(c + 2 * ldc, c20, c21, c22); Store(c + 3 * ldc, c30, c31, c32); }
        if (rows > 4)
        {
            Store(c + 4 * ldc, c40, c41, c42); Store(c + 5 * ldc, c50, c51, c52);
            Store(c + 6 * ldc, c60, c61, c62); Store(c + 7 * ldc, c70, c71, c72);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(float* c, Vector512<float> v0, Vector512<float> v1, Vector512<float> v2)
    {
        Avx512F.Store(c, v0); Avx512F.Store(c + V, v1); Avx512F.Store(c + 2 * V, v2);
    }
}

/// <summary>Raw data pointers of CPU tensors, through LibTorchSharp's own export (TorchSharp exposes no public one).</summary>
internal static unsafe partial class TensorMemory
{
    [System.Runtime.InteropServices.LibraryImport("LibTorchSharp")]
    private static partial IntPtr THSTensor_data(IntPtr tensor);

    /// <summary>The first element of a contiguous CPU bf16 tensor, as its raw 16-bit patterns.</summary>
    public static ushort* Bf16(TorchSharp.torch.Tensor t)
    {
        if (t.dtype != TorchSharp.torch.ScalarType.BFloat16 || t.device_type != TorchSharp.DeviceType.CPU || !t.is_contiguous())
            throw new ArgumentException($"expected a contiguous CPU bfloat16 tensor, got {t.dtype} on {t.device_type} (contiguous: {t.is_contiguous()})");
        var p = THSTensor_data(t.Handle);
        if (p == IntPtr.Zero) throw new InvalidOperationException("libtorch returned no data pointer");
        return (ushort*)p;
    }

    /// <summary>The first byte of a contiguous CPU tensor of any type.</summary>
    public static void* Raw(TorchSharp.torch.Tensor t)
    {
        if (t.device_type != TorchSharp.DeviceType.CPU || !t.is_contiguous())
            throw new ArgumentException($"expected a contiguous CPU tensor, got {t.dtype} on {t.device_type} (contiguous: {t.is_contiguous()})");
        var p = THSTensor_data(t.Handle);
        if (p == IntPtr.Zero) throw new InvalidOperationException("libtorch returned no data pointer");
        return (void*)p;
    }

    /// <summary>The first fp32 element of a CPU float32 tensor (storage offset included); contiguous unless told otherwise (the caller then walks its strides).</summary>
    public static float* Floats(TorchSharp.torch.Tensor t, bool contiguous = true)
    {
        if (t.dtype != TorchSharp.torch.ScalarType.Float32 || t.device_type != TorchSharp.DeviceType.CPU || contiguous && !t.is_contiguous())
            throw new ArgumentException($"expected a contiguous CPU float32 tensor, got {t.dtype} on {t.device_type} (contiguous: {t.is_contiguous()})");
        var p = THSTensor_data(t.Handle);
        if (p == IntPtr.Zero) throw new InvalidOperationException("libtorch returned no data pointer");
        return (float*)p;
    }
}

/// <summary>
/// A projection weight held as [in, out], applied as x · W. On a CPU with AVX-512 and fp32 or bf16 weights it is held
/// packed for <see cref="PackedGemm"/> (the [in, out] layout is not kept: no second copy; bf16 stays bf16, read at
/// half the bytes, accumulated in fp32, so each row's result is the same whatever shares its batch); otherwise it is
/// a plain tensor and libtorch's matmul runs.
/// </summary>
internal sealed unsafe class ProjectionWeight : IDisposable
{
    readonly TorchSharp.torch.Tensor? _tensor;   // [in, out], or the packed panels; null when quantized
    readonly QuantizedMatrix[]? _quantized;      // or quantized weights kept as stored: column ranges of the output, in order
    public int In { get; }
    public int Out { get; }
    public bool Packed { get; }

    /// <summary>Takes ownership of <paramref name="weight"/> [in, out] (disposed here when packed).</summary>
    public ProjectionWeight(TorchSharp.torch.Tensor weight, bool pack)
    {
        In = (int)weight.shape[0];
        Out = (int)weight.shape[1];
        _bf16 = weight.dtype == TorchSharp.torch.ScalarType.BFloat16;
        Packed = pack && PackedGemm.IsSupported && (weight.dtype == TorchSharp.torch.ScalarType.Float32 || _bf16) && weight.device_type == TorchSharp.DeviceType.CPU;
        if (!Packed) { _tensor = weight; return; }
        using (weight)
        using (var dense = weight.contiguous())
        {
            // Held for the model's lifetime, not by whatever dispose scope the loader runs in.
            _tensor = TorchSharp.torch.empty(PackedGemm.PackedLength(In, Out), weight.dtype).DetachFromDisposeScope();
            if (_bf16) PackedGemm.PackBf16(TensorMemory.Bf16(dense), In, Out, TensorMemory.Bf16(_tensor));
            else PackedGemm.Pack(TensorMemory.Floats(dense), In, Out, TensorMemory.Floats(_tensor));
        }
    }

    readonly bool _bf16;

    /// <summary>
    /// Quantized weights kept as stored (<see cref="QuantizedGemm"/>), taking ownership: each part is [rows, in] in ggml's
    /// orientation and gives the next rows.Count output columns (q, k and v of one fused projection may differ in type).
    /// </summary>
    public ProjectionWeight(QuantizedMatrix[] parts)
    {
        if (parts.Length == 0 || parts.Any(p => p.Cols != parts[0].Cols)) throw new ArgumentException("quantized parts must share their input width");
        _quantized = parts;
        // Which activation forms the parts need, fixed with the weight: Q8_K for the K-quants, Q8_0 for Q8_0, Q4_0 and Q5_0.
        _q8kRow = parts.Any(p => QuantizedGemm.TakesQ8K(p.Format)) ? QuantizedGemm.ActivationRowBytes(QuantFormat.Q4_K, parts[0].Cols) : 0;
        _q80Row = parts.Any(p => !QuantizedGemm.TakesQ8K(p.Format)) ? QuantizedGemm.ActivationRowBytes(QuantFormat.Q8_0, parts[0].Cols) : 0;
        In = parts[0].Cols;
        Out = parts.Sum(p => p.Rows);
        Packed = true;
    }

    /// <summary>The formats of the quantized parts, in order; empty when the weight is not held quantized.</summary>
    public IReadOnlyList<QuantFormat> QuantizedFormats => _quantized is null ? [] : [.. _quantized.Select(p => p.Format)];

    readonly long _q8kRow, _q80Row;   // activation bytes per row in each form the quantized parts need (0: not needed)
    [ThreadStatic] static byte[]? _activations;   // per rank thread: the quantized activation rows, pinned

    /// <summary>The quantized product of fp32 rows src [rows, In] into dst [rows, Out].</summary>
    void MultiplyQuantized(float* src, int rows, float* dst)
    {
        long kBytes = _q8kRow * rows, q80Bytes = _q80Row * rows;
        if (_activations is null || _activations.LongLength < kBytes + q80Bytes + 64)
            _activations = GC.AllocateUninitializedArray<byte>((int)Math.Max(kBytes + q80Bytes + 64, (_activations?.LongLength ?? 0) * 3 / 2), pinned: true);
        fixed (byte* buffer = _activations)
        {
            byte* kq = (byte*)(((nint)buffer + 63) & ~(nint)63), q8 = kq + kBytes;
            for (int r = 0; r < rows; r++)
            {
                if (_q8kRow > 0) QuantizedGemm.QuantizeQ8K(src + (long)r * In, In, kq + r * _q8kRow);
                if (_q80Row > 0) QuantizedGemm.QuantizeQ8_0(src + (long)r * In, In, q8 + r * _q80Row);
            }
            int col = 0;
            foreach (var part in _quantized!)
            {
                QuantizedGemm.Multiply(QuantizedGemm.TakesQ8K(part.Format) ? kq : q8, rows, part, dst, Out, col);
                col += part.Rows;
            }
        }
    }

    /// <summary>x [rows, in] · W: [rows, out].</summary>
    public TorchSharp.torch.Tensor Apply(TorchSharp.torch.Tensor x)
    {
        if (_quantized is null && !Packed) return x.matmul(_tensor!);
        if (x.dim() != 2 || x.shape[1] != In) throw new ArgumentException($"expected [rows, {In}], got [{string.Join(", ", x.shape)}]");
        // bf16 activations are widened to fp32 for the kernels and their fp32 result is rounded back once.
        var a = x.dtype == TorchSharp.torch.ScalarType.Float32 ? (x.is_contiguous() ? x : x.contiguous()) : x.to(TorchSharp.torch.ScalarType.Float32).contiguous();
        try
        {
            int rows = (int)a.shape[0];
            var y = TorchSharp.torch.empty(rows, Out, TorchSharp.torch.ScalarType.Float32);
            if (rows > 0)
            {
                if (_quantized is not null) MultiplyQuantized(TensorMemory.Floats(a), rows, TensorMemory.Floats(y));
                else if (_bf16) PackedGemm.MultiplyBf16(TensorMemory.Floats(a), rows, In, TensorMemory.Bf16(_tensor!), Out, TensorMemory.Floats(y));
                else PackedGemm.Multiply(TensorMemory.Floats(a), rows, In, TensorMemory.Floats(_tensor!), Out, TensorMemory.Floats(y));
            }
            if (x.dtype == TorchSharp.torch.ScalarType.Float32) return y;
            using (y) return y.to(x.dtype);
        }
        finally
        {
            if (!ReferenceEquals(a, x)) a.Dispose();
        }
    }

    public void Dispose()
    {
        _tensor?.Dispose();
        if (_quantized is not null) foreach (var p in _quantized) p.Dispose();
    }
}
