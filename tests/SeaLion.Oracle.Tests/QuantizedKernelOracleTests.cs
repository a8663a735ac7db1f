using System.Runtime.InteropServices;
using SeaLion.Model.Gguf;
using SeaLion.Model.Llama;

namespace SeaLion.Oracle.Tests;

/// <summary>
/// The quantized CPU kernel against ggml's own functions, called in llama.cpp's native libraries (the ones LLamaSharp
/// ships and runs): weights quantized by ggml's reference quantizers, activations quantized by ggml's run-time
/// quantize_row_q8_0 / quantize_row_q8_K (ours must give the same bytes), and every dot product compared with ggml's
/// ggml_vec_dot_* on those same quantized activations (equal up to float summation order). Every check runs on each
/// path this host has (AVX-512BW, and AVX2 + FMA forced on an AVX-512 host).
/// </summary>
public sealed unsafe class QuantizedKernelOracleTests
{
    static readonly Lazy<(nint Base, nint Cpu)> Libraries = new(() =>
    {
        // The AVX-512 build of the libraries the test host carries (LLamaSharp.Backend.Cpu), as llama.cpp picks here.
        string dir = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "avx512");
        var b = NativeLibrary.Load(Path.Combine(dir, "libggml-base.so"));
        var cpu = NativeLibrary.Load(Path.Combine(dir, "libggml-cpu.so"));
        ((delegate* unmanaged<void>)NativeLibrary.GetExport(cpu, "ggml_cpu_init"))();   // its conversion tables
        return (b, cpu);
    });

    static nint Base(string name) => NativeLibrary.GetExport(Libraries.Value.Base, name);
    static nint Cpu(string name) => NativeLibrary.GetExport(Libraries.Value.Cpu, name);

    static float[] Random(int n, int seed, float scale)
    {
        var r = new Random(seed);
        // Some rows with outliers, as real activations have: the block maximum then decides the scale.
        return Enumerable.Range(0, n).Select(i => (float)((r.NextDouble() * 2 - 1) * scale * (i % 97 == 0 ? 8 : 1))).ToArray();
    }

    /// <summary>The kernel's paths this host runs: AVX2 always where AVX-512BW is (a subset of it), and AVX-512BW.</summary>
    static IEnumerable<string> HostPaths() => new[] { QuantIsa.Avx512, QuantIsa.Avx2 }.Where(isa => isa <= QuantizedGemm.Detected).Select(isa => isa.ToString());

    public static TheoryData<string> Paths() => new(HostPaths());

    /// <summary>Whether <paramref name="isa"/> has a kernel for the format (AVX2: Q8_0 and Q4_K-Q6_K; the rest are dequantized there).</summary>
    static bool Runs(string isa, string format) =>
        isa == nameof(QuantIsa.Avx512) || QuantizedGemm.HasAvx2Kernel(Enum.Parse<QuantFormat>(format));

    public static TheoryData<string, string, int, string> Cases()
    {
        var cases = new TheoryData<string, string, int, string>();
        foreach (var isa in HostPaths())
            foreach (var (format, ggml, k) in new[] { ("Q8_0", "q8_0", 512), ("Q4_K", "q4_K", 512), ("Q6_K", "q6_K", 768), ("Q4_K", "q4_K", 2048), ("Q5_K", "q5_K", 1024),
                         ("Q4_0", "q4_0", 512), ("Q5_0", "q5_0", 1024), ("Q2_K", "q2_K", 768), ("Q3_K", "q3_K", 1024), ("Q3_K", "q3_K", 2048) })
                if (Runs(isa, format)) cases.Add(format, ggml, k, isa);
        return cases;
    }

    public static TheoryData<string, string, string> SliceCases()
    {
        var cases = new TheoryData<string, string, string>();
        foreach (var isa in HostPaths())
            foreach (var (format, ggml) in new[] { ("Q4_K", "q4_K"), ("Q2_K", "q2_K"), ("Q3_K", "q3_K"), ("Q4_0", "q4_0"), ("Q5_0", "q5_0") })
                if (Runs(isa, format)) cases.Add(format, ggml, isa);
        return cases;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Dot_products_equal_ggmls_on_the_same_quantized_activations(string formatName, string ggmlName, int k, string path)
    {
        var format = Enum.Parse<QuantFormat>(formatName);
        var isa = Enum.Parse<QuantIsa>(path);
        const int n = 37, m = 7;   // 7 activation rows: tiles of 4, 2 and 1
        var type = Enum.Parse<GgmlType>(format.ToString());
        var (bs, bb) = GgmlTypes.Layout(type);
        long rowBytes = (long)k / bs * bb;

        // Weights quantized by ggml's reference quantizer.
        var weights = Random(n * k, 1, 0.05f);
        var stored = new byte[n * rowBytes];
        var quantizeRef = (delegate* unmanaged<float*, byte*, long, void>)Base($"quantize_row_{ggmlName}_ref");
        fixed (float* w = weights)
        fixed (byte* q = stored)
            for (int r = 0; r < n; r++) quantizeRef(w + (long)r * k, q + r * rowBytes, k);

        // Activations: ours and ggml's run-time quantization give the same bytes.
        var x = Random(m * k, 2, 1.5f);
        // The last row is all ties: each block's first value -127 makes the scale 1 and the rest are halves (rounded to even).
        for (int i = 0; i < k; i++) x[(m - 1) * k + i] = i % 32 == 0 ? -127 : (i % 255 - 127) * 0.5f;
        bool kQuant = QuantizedGemm.TakesQ8K(format);
        var actType = kQuant ? "q8_K" : "q8_0";
        int actBlock = kQuant ? 256 : 32, actBytes = kQuant ? QuantizedGemm.Q8KBytes : 34;
        var theirs = new byte[m * (k / actBlock) * actBytes];
        var quantizeAct = (delegate* unmanaged<float*, byte*, long, void>)Cpu($"quantize_row_{actType}");
        var ours = new byte[m * QuantizedGemm.ActivationRowBytes(format, k) + 64];
        long ourRow = QuantizedGemm.ActivationRowBytes(format, k);
        fixed (float* xs = x)
        fixed (byte* t = theirs)
        fixed (byte* o = ours)
        {
            for (int r = 0; r < m; r++)
            {
                quantizeAct(xs + (long)r * k, t + r * (k / actBlock) * actBytes, k);
                if (kQuant) QuantizedGemm.QuantizeQ8K(xs + (long)r * k, k, o + r * ourRow, isa);
                else QuantizedGemm.QuantizeQ8_0(xs + (long)r * k, k, o + r * ourRow, isa);
            }
            for (int r = 0; r < m; r++)
                for (int b = 0; b < k / actBlock; b++)
                {
                    byte* g = t + (r * (k / actBlock) + b) * actBytes;
                    if (kQuant)
                        Assert.True(new ReadOnlySpan<byte>(g, actBytes).SequenceEqual(new ReadOnlySpan<byte>(o + r * ourRow + b * actBytes, actBytes)),
                            $"row {r} block {b}: our Q8_K block differs from ggml's");
                    else
                    {
                        short* q = (short*)(o + r * ourRow) + b * 32;
                        float d = ((float*)(o + r * ourRow + (long)k * 2))[b];
                        Assert.Equal((float)BitConverter.UInt16BitsToHalf(*(ushort*)g), d);
                        for (int i = 0; i < 32; i++) Assert.Equal(((sbyte*)(g + 2))[i], q[i]);
                    }
                }

            // The product, against ggml_vec_dot on the same quantized activations.
            using var matrix = QuantizedGemm.Repack(format, stored, n, k, 0, k);
            var c = new float[m * n];
            fixed (float* cp = c) QuantizedGemm.Multiply(o, m, matrix, cp, n, 0, isa);
            // Each row gives bitwise the result it gets in the batch of 7 (tiles of 4, 2 and 1) alone and in batches of
            // 2 to 5 (whichever tile it lands in).
            foreach (int size in new[] { 1, 2, 3, 4, 5 })
            {
                var batch = new float[size * n];
                for (int r0 = 0; r0 + size <= m; r0 += size)
                {
                    fixed (float* bp = batch) QuantizedGemm.Multiply(o + r0 * ourRow, size, matrix, bp, n, 0, isa);
                    for (int r = 0; r < size; r++)
                        for (int j = 0; j < n; j++)
                            Assert.True(BitConverter.SingleToInt32Bits(c[(r0 + r) * n + j]) == BitConverter.SingleToInt32Bits(batch[r * n + j]),
                                $"{isa}: row {r0 + r}, output {j}: {batch[r * n + j]} in a batch of {size}, {c[(r0 + r) * n + j]} in the batch of {m}");
                }
            }
            // The AVX2 path's floats are the AVX-512 path's, bitwise: the same integer lanes, scaled and summed in the same order.
            if (isa != QuantIsa.Avx512 && QuantizedGemm.Detected == QuantIsa.Avx512)
            {
                var wide = new float[m * n];
                fixed (float* wp = wide) QuantizedGemm.Multiply(o, m, matrix, wp, n, 0, QuantIsa.Avx512);
                for (int i = 0; i < m * n; i++)
                    Assert.True(BitConverter.SingleToInt32Bits(wide[i]) == BitConverter.SingleToInt32Bits(c[i]), $"{format} k={k}: row {i / n}, output {i % n}: {c[i]} on {isa}, {wide[i]} on AVX-512");
            }
            var dot = (delegate* unmanaged<int, float*, nuint, byte*, nuint, byte*, nuint, int, void>)Cpu($"ggml_vec_dot_{ggmlName}_{actType}");
            fixed (byte* w = stored)
                for (int r = 0; r < m; r++)
                    for (int j = 0; j < n; j++)
                    {
                        float s;
                        dot(k, &s, 0, w + j * rowBytes, 0, t + r * (k / actBlock) * actBytes, 0, 1);
                        float got = c[r * n + j];
                        Assert.True(Math.Abs(got - s) <= 2e-5f * (1 + Math.Abs(s)) + 1e-6f * k, $"{format} {isa} k={k}: row {r}, output {j}: {got} vs ggml's {s}");
                    }
        }
    }

    [Theory]
    [MemberData(nameof(SliceCases))]
    public void A_column_range_of_the_rows_is_the_same_product_as_those_columns_alone(string formatName, string ggmlName, string path)
    {
        var isa = Enum.Parse<QuantIsa>(path);
        // Row-parallel ranks take input columns of a quantized weight: the slice must be the same blocks.
        var format = Enum.Parse<QuantFormat>(formatName);
        var type = Enum.Parse<GgmlType>(formatName);
        const int n = 5, k = 1024;
        var weights = Random(n * k, 3, 0.05f);
        var (bs, bb) = GgmlTypes.Layout(type);
        long rowBytes = k / bs * bb;
        var stored = new byte[n * rowBytes];
        var quantizeRef = (delegate* unmanaged<float*, byte*, long, void>)Base($"quantize_row_{ggmlName}_ref");
        fixed (float* w = weights)
        fixed (byte* q = stored)
            for (int r = 0; r < n; r++) quantizeRef(w + (long)r * k, q + r * rowBytes, k);
        var full = new float[n * k];
        GgmlTypes.Dequantize(type, stored, full);
        using var half = QuantizedGemm.Repack(format, stored, n, k, 512, 512);
        // A one-hot activation row reads back one weight column (times the activation's own rounding of 1, q · d):
        // the slice's column j is the full row's 512 + j.
        var x = new float[512];
        long actRow = QuantizedGemm.ActivationRowBytes(format, 512);
        var act = new byte[actRow + 64];
        var c = new float[n];
        foreach (int j in new[] { 0, 1, 15, 16, 31, 63, 64, 255, 256, 511 })
        {
            Array.Clear(x);
            x[j] = 1;
            float one;
            fixed (float* xp = x)
            fixed (byte* a = act)
            fixed (float* cp = c)
            {
                if (QuantizedGemm.TakesQ8K(format))
                {
                    QuantizedGemm.QuantizeQ8K(xp, 512, a, isa);
                    byte* block = a + j / 256 * QuantizedGemm.Q8KBytes;
                    one = *(float*)block * ((sbyte*)(block + 4))[j % 256];
                }
                else
                {
                    QuantizedGemm.QuantizeQ8_0(xp, 512, a, isa);
                    one = ((float*)(a + 512 * 2))[j / 32] * ((short*)a)[j];
                }
                QuantizedGemm.Multiply(a, 1, half, cp, n, 0, isa);
            }
            for (int r = 0; r < n; r++)
            {
                float want = full[r * k + 512 + j] * one;
                Assert.True(Math.Abs(c[r] - want) <= 1e-6f * (1 + Math.Abs(want)), $"{format} row {r}, column {512 + j}: {c[r]} vs {want}");
            }
        }
    }
}
