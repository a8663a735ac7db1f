using SeaLion.Model.Llama;
using TorchSharp;
using static TorchSharp.torch;

namespace SeaLion.Model.Tests;

[Collection("torch")]
public sealed unsafe class PackedGemmTests
{
    static float[] RandomArray(int n, int seed)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();
    }

    static float[] Multiply(float[] a, int m, int k, float[] w, int n)
    {
        var packed = new float[PackedGemm.PackedLength(k, n)];
        var c = new float[m * n];
        fixed (float* pw = w, pp = packed, pa = a, pc = c)
        {
            PackedGemm.Pack(pw, k, n, pp);
            PackedGemm.Multiply(pa, m, k, pp, n, pc);
        }
        return c;
    }

    [Theory]
    [InlineData(1, 64, 48)]
    [InlineData(3, 64, 100)]
    [InlineData(8, 128, 96)]
    [InlineData(13, 32, 1)]
    [InlineData(16, 512, 500)]
    [InlineData(33, 64, 47)]
    public void Multiply_matches_a_float64_reference(int m, int k, int n)
    {
        if (!PackedGemm.IsSupported) return;   // the fallback is covered by Projection_weight_falls_back_without_the_kernel
        var a = RandomArray(m * k, 1);
        var w = RandomArray(k * n, 2);
        var c = Multiply(a, m, k, w, n);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double want = 0;
                for (int x = 0; x < k; x++) want += (double)a[i * k + x] * w[x * n + j];
                Assert.True(Math.Abs(want - c[i * n + j]) <= 1e-5 * k, $"C[{i},{j}] = {c[i * n + j]}, reference {want} (m={m}, k={k}, n={n})");
            }
    }

    [Fact]
    public void A_row_gets_bitwise_the_same_result_whatever_else_is_in_the_batch()
    {
        if (!PackedGemm.IsSupported) return;
        const int k = 96, n = 150;
        var w = RandomArray(k * n, 3);
        var rows = RandomArray(21 * k, 4);
        var alone = Enumerable.Range(0, 21).Select(i => Multiply(rows[(i * k)..((i + 1) * k)], 1, k, w, n)).ToArray();
        for (int m = 1; m <= 21; m++)
        {
            var batch = Multiply(rows[..(m * k)], m, k, w, n);
            for (int i = 0; i < m; i++)
                Assert.True(alone[i].AsSpan().SequenceEqual(batch.AsSpan(i * n, n)), $"row {i} differs in a batch of {m}");
        }
    }

    [Fact]
    public void Projection_weight_applies_to_views_and_falls_back_without_the_kernel()
    {
        using var w = randn(40, 70, generator: new Generator(5));
        using var x = randn(70, 9, generator: new Generator(6));
        using var xt = x.t();   // [9, 70], not contiguous
        using var expected = xt.matmul(w.t());
        using var packed = new ProjectionWeight(w.t().contiguous(), pack: true);
        using var plain = new ProjectionWeight(w.t().contiguous(), pack: false);
        Assert.Equal(PackedGemm.IsSupported, packed.Packed);
        Assert.False(plain.Packed);
        using var yPacked = packed.Apply(xt);
        using var yPlain = plain.Apply(xt);
        Assert.True(yPacked.allclose(expected, rtol: 1e-5, atol: 1e-5));
        Assert.True(yPlain.allclose(expected, rtol: 1e-5, atol: 1e-5));
        using var bf16 = new ProjectionWeight(w.t().to(ScalarType.BFloat16), pack: true);
        Assert.Equal(PackedGemm.IsSupported, bf16.Packed);   // bf16 weights are packed too (read as bf16, fp32 accumulation)
        using var xBf16 = xt.to(ScalarType.BFloat16);
        using var yBf16 = bf16.Apply(xBf16);
        // Against the product of the same bf16 values in fp32: only the result's rounding to bf16 differs.
        using var expectedBf16 = xBf16.to(ScalarType.Float32).matmul(w.t().to(ScalarType.BFloat16).to(ScalarType.Float32));
        Assert.True(yBf16.to(ScalarType.Float32).allclose(expectedBf16, rtol: 1e-2, atol: 1e-2));
    }

    [Fact]
    public void Model_logits_with_the_packed_kernel_match_libtorch_matmul()
    {
        int[] prompt = [128000, 9906, 11, 1917, 0, 1115, 374, 264, 1296, 315, 279, 1614, 13];
        string dir = TestModels.Get();
        float[][] packed, plain;
        using (var m = LlamaModel.Load(dir, new ModelOptions { DType = ScalarType.Float32, CpuKernels = true })) packed = TeacherForced.AllLogits(m, prompt);
        using (var m = LlamaModel.Load(dir, new ModelOptions { DType = ScalarType.Float32, CpuKernels = false })) plain = TeacherForced.AllLogits(m, prompt);
        for (int t = 0; t < prompt.Length; t++)
        {
            double worst = packed[t].Zip(plain[t]).Max(p => Math.Abs(p.First - p.Second));
            Assert.True(worst < 1e-3, $"position {t}: max |diff| {worst}");
            Assert.Equal(Array.IndexOf(plain[t], plain[t].Max()), Array.IndexOf(packed[t], packed[t].Max()));
        }
    }

    [Fact]
    public void Bf16_weights_multiply_as_their_fp32_values_and_a_row_is_the_same_in_any_batch()
    {
        if (!PackedGemm.IsSupported) return;
        const int k = 160, n = 100;
        var wf = RandomArray(k * n, 7);
        // bf16 = the high half of the fp32 bits (rounded to nearest even, as libtorch converts).
        var wb = wf.Select(f => { uint u = BitConverter.SingleToUInt32Bits(f); return (ushort)((u + 0x7FFF + ((u >> 16) & 1)) >> 16); }).ToArray();
        var wAsFloat = wb.Select(h => BitConverter.UInt32BitsToSingle((uint)h << 16)).ToArray();
        var rows = RandomArray(13 * k, 8);
        var packed = new ushort[PackedGemm.PackedLength(k, n)];
        float[] Run(float[] a, int m)
        {
            var c = new float[m * n];
            fixed (ushort* pw = wb, pp = packed)
            fixed (float* pa = a, pc = c)
            {
                PackedGemm.PackBf16(pw, k, n, pp);
                PackedGemm.MultiplyBf16(pa, m, k, pp, n, pc);
            }
            return c;
        }
        var all = Run(rows, 13);
        for (int i = 0; i < 13; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double want = 0;
                for (int x = 0; x < k; x++) want += (double)rows[i * k + x] * wAsFloat[x * n + j];
                Assert.True(Math.Abs(want - all[i * n + j]) <= 1e-5 * k, $"C[{i},{j}] = {all[i * n + j]}, reference {want}");
            }
            Assert.True(Run(rows[(i * k)..((i + 1) * k)], 1).AsSpan().SequenceEqual(all.AsSpan(i * n, n)), $"row {i} differs alone");
        }
        // Through ProjectionWeight on bf16 tensors: packed, and within bf16 rounding of libtorch's bf16 matmul.
        using var w = randn(k, n, generator: new Generator(9)).to(ScalarType.BFloat16);
        using var xs = randn(5, k, generator: new Generator(10)).to(ScalarType.BFloat16);
        using var expected = xs.to(ScalarType.Float32).matmul(w.to(ScalarType.Float32));
        using var projection = new ProjectionWeight(w.clone(), pack: true);
        Assert.True(projection.Packed);
        using var y = projection.Apply(xs);
        Assert.Equal(ScalarType.BFloat16, y.dtype);
        Assert.True(y.to(ScalarType.Float32).allclose(expected, rtol: 1e-2, atol: 1e-2));
    }
}
