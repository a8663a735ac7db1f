using SeaLion.Model;
using SeaLion.Model.Gguf;
using SeaLion.Model.Llama;
using SeaLion.Tokenization;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SeaLion.Oracle.Tests;

/// <summary>
/// GGUF files read by this project: the F32 file as the safetensors model it came from, and each of the seed's eight
/// quantizations, made by llama.cpp's own quantizer, against llama.cpp on the same file (teacher-forced argmax).
/// Dimensions are multiples of 256 so the K-quants are used as in the published files.
/// </summary>
[Collection("oracle")]
public sealed class GgufOracleTests(OracleModels models, ITestOutputHelper output)
{
    internal static readonly int[] Prompt = [128000, 9906, 11, 1917, 0, 1115, 374, 264, 1296, 315, 279, 1614, 13, 57664, 3907, 5034, 13];

    (string HfDir, string Gguf) Model() => models.Get(256, 2, 4, 2, 512, 21);

    internal static float[][] OurLogits(string dir, int[] ids, Action<LlamaModel>? inspect = null)
    {
        using var model = LlamaModel.Load(dir, new ModelOptions { DType = ScalarType.Float32, TensorParallel = 1, Threads = 2 });
        inspect?.Invoke(model);
        return TeacherForced.AllLogits(model, ids);
    }

    [Fact]
    public void The_f32_gguf_describes_and_computes_the_same_model_as_its_safetensors()
    {
        var (hf, gguf) = Model();
        string dir = GgufModel.Describe(gguf, Path.Combine(models.Root, "cache"));
        var a = LlamaConfig.FromDirectory(hf);
        var b = LlamaConfig.FromDirectory(dir);
        Assert.Equal((a.HiddenSize, a.IntermediateSize, a.NumLayers, a.NumHeads, a.NumKvHeads, a.HeadDim, a.VocabSize, a.RopeTheta, a.TieWordEmbeddings),
            (b.HiddenSize, b.IntermediateSize, b.NumLayers, b.NumHeads, b.NumKvHeads, b.HeadDim, b.VocabSize, b.RopeTheta, b.TieWordEmbeddings));
        // The tokenizer rebuilt from tokenizer.ggml.* encodes as the original files do, in the five languages.
        var original = BpeTokenizer.FromDirectory(hf);
        var fromGguf = BpeTokenizer.FromDirectory(dir);
        foreach (var text in new[] { "Hello, world! 12345", "Selamat pagi, apa kabar?", "สวัสดีครับ ยินดีที่ได้รู้จัก", "Xin chào, bạn khỏe không?", "வணக்கம், எப்படி இருக்கிறீர்கள்?", "<|start_header_id|>user<|end_header_id|>\n\nHalo<|eot_id|>" })
            Assert.Equal(original.Encode(text), fromGguf.Encode(text));
        Assert.Equal(original.BosTokenId, fromGguf.BosTokenId);
        // The weights: the same logits at every position (q/k rows un-permuted from llama.cpp's layout).
        var want = OurLogits(hf, Prompt);
        var got = OurLogits(dir, Prompt);
        for (int i = 0; i < Prompt.Length; i++)
            for (int j = 0; j < want[i].Length; j += 97)
                Assert.True(Math.Abs(want[i][j] - got[i][j]) < 1e-4, $"position {i}, token {j}: {got[i][j]} vs {want[i][j]}");
    }

    [Theory]
    [InlineData("Q8_0")]
    [InlineData("Q4_0")]
    [InlineData("Q5_0")]
    [InlineData("Q2_K")]
    [InlineData("Q3_K_M")]
    [InlineData("Q4_K_M")]
    [InlineData("Q5_K_M")]
    [InlineData("Q6_K")]
    [InlineData("F16")]
    public void A_quantized_file_gives_llama_cpps_greedy_choice_at_every_position(string type)
    {
        var (_, gguf) = Model();
        string quantized = Path.Combine(models.Root, $"model-{type}.gguf");
        if (!File.Exists(quantized)) LlamaCpp.Quantize(gguf, quantized, type);
        // Block decoding: every tensor equals ggml's own dequantization (llama.cpp requantizing the file to F32), exactly.
        string dequantized = Path.Combine(models.Root, $"model-{type}-as-f32.gguf");
        if (!File.Exists(dequantized)) LlamaCpp.Quantize(quantized, dequantized, "F32");
        using (var f = GgufFile.Open(quantized))
        using (var reference = GgufFile.Open(dequantized))
        {
            output.WriteLine($"{type}: " + string.Join(", ", f.Tensors.Values.GroupBy(t => t.Type).Select(g => $"{g.Key} x{g.Count()}")));
            foreach (var t in f.Tensors.Values)
            {
                var mine = new float[t.Elements];
                GgmlTypes.Dequantize(t.Type, f.Data(t), mine);
                var r = reference.Tensors[t.Name];
                Assert.Equal(GgmlType.F32, r.Type);
                var ggml = new float[r.Elements];
                GgmlTypes.Dequantize(r.Type, reference.Data(r), ggml);
                int bad = Enumerable.Range(0, mine.Length).FirstOrDefault(i => mine[i] != ggml[i], -1);
                Assert.True(bad < 0, $"{type}: tensor {t.Name} ({t.Type}) value {bad}: {(bad < 0 ? 0 : mine[bad])} vs ggml's {(bad < 0 ? 0 : ggml[bad])}");
            }
        }
        string dir = GgufModel.Describe(quantized, Path.Combine(models.Root, "cache"));
        // Every projection of a quantized file stays quantized in the formats the file stores (mixed files: several,
        // fused q/k/v or gate/up parts of different types included); none is dequantized to fp32.
        HashSet<QuantFormat> stored;
        using (var f = GgufFile.Open(quantized))
            stored = [.. f.Tensors.Values.Where(t => t.Name.EndsWith(".weight", StringComparison.Ordinal) && t.Shape.Length == 2 && t.Name != "token_embd.weight")
                .Select(t => QuantizedGemm.FormatOf(t.Type)).OfType<QuantFormat>()];
        var ours = OurLogits(dir, Prompt, model =>
        {
            var held = model.Projections.Select(p => p.QuantizedFormats).ToArray();
            output.WriteLine($"{type}: projections held as " + string.Join(", ", held.Select(h => h.Count == 0 ? "fp32" : string.Join("+", h)).GroupBy(x => x).Select(g => $"{g.Key} x{g.Count()}")));
            if (type == "F16" || !QuantizedGemm.IsSupported) return;
            Assert.All(held, h => Assert.NotEmpty(h));
            Assert.Equal(stored.Order(), held.SelectMany(h => h).Distinct().Order());
        });
        var theirs = LlamaCpp.AllLogits(quantized, Prompt);
        // The forward pass end to end. llama.cpp multiplies quantized weights by activations it rounds to 8 bits; this
        // random 2-layer network amplifies such rounding (here Q8_0's own weight rounding moves its logits 2-20% rms
        // from the F32 model's), so the check is agreement within that: the rows stay close, and the greedy choice is
        // llama.cpp's or a near-tie of it. A wrong decode or layout gives rows as far apart as unrelated logits.
        int agree = 0;
        double worst = 0;
        for (int i = 0; i < Prompt.Length; i++)
        {
            double rmsDiff = Math.Sqrt(ours[i].Zip(theirs[i]).Average(p => (double)(p.First - p.Second) * (p.First - p.Second)));
            double rms = Math.Sqrt(theirs[i].Average(x => (double)x * x));
            worst = Math.Max(worst, rmsDiff / rms);
            Assert.True(rmsDiff < 0.25 * rms, $"{type} position {i}: logits differ by {rmsDiff} rms (the row's rms is {rms})");
            int mine = Array.IndexOf(ours[i], ours[i].Max());
            float best = theirs[i].Max();
            Assert.True(theirs[i][mine] >= best - 3 * rmsDiff, $"{type} position {i}: our argmax {mine} has llama.cpp logit {theirs[i][mine]}, its best {best}");
            if (theirs[i][mine] == best) agree++;
        }
        output.WriteLine($"{type}: same argmax as llama.cpp at {agree}/{Prompt.Length} positions; worst rms difference {worst:P6} of the row's rms");
        Assert.True(agree >= Prompt.Length * 2 / 3, $"{type}: the same greedy choice as llama.cpp at only {agree}/{Prompt.Length} positions");
        // Where the weights stay quantized (QuantizedGemm: every type here but F16) the activations are rounded to 8 bits as
        // llama.cpp rounds them and the dot products are its own: the logits then agree to float summation order, here to
        // 0.0000% rms for Q8_0, Q4_0, Q5_0, Q4_K_M and Q6_K. Q2_K, Q3_K_M and Q5_K_M agree to 1-3% rms only, though every
        // dot product (QuantizedKernelOracleTests; checked once also on the Q3_K_M file's own tensors) equals ggml's
        // vec_dot on the same activations to float order (~1e-6 absolute), llama.cpp with its repacking buffers off gives
        // the same logits to 0.0000%, and the Q2_K and Q5_K_M files requantized with a Q8_0 token embedding agree to
        // 0.0000%. That fits float-order differences flipping the 8-bit rounding of some activation (the model decides
        // where), which this random network amplifies to percents as it amplifies weight rounding; not proven.
        if (type != "F16" && QuantizedGemm.IsSupported)
        {
            Assert.True(worst < (type is "Q2_K" or "Q3_K_M" or "Q5_K_M" ? 0.05 : 1e-3), $"{type}: the quantized kernel's logits differ from llama.cpp's by {worst:P4} rms");
            Assert.Equal(Prompt.Length, agree);
        }
    }

    [Theory]
    [InlineData("Q4_K_M")]
    [InlineData("Q5_K_M")]
    [InlineData("Q6_K")]
    [InlineData("Q8_0")]
    public void Quantized_weights_give_the_same_logits_on_the_avx2_path_as_on_avx512(string type)
    {
        // Hosts without AVX-512BW (AMD Zen 2/3, older Intel) run the AVX2 kernels: forced here, the whole forward pass
        // gives the AVX-512 one's logits. Bitwise, as each product is (QuantizedKernelOracleTests); agreement to float
        // order alone would not hold: this network turns one activation rounded the other way into a 1% logit change.
        if (QuantizedGemm.Detected != QuantIsa.Avx512)
        {
            output.WriteLine($"this host runs only the {QuantizedGemm.Detected} path: nothing to compare");
            return;
        }
        var (_, gguf) = Model();
        string quantized = Path.Combine(models.Root, $"model-{type}.gguf");
        if (!File.Exists(quantized)) LlamaCpp.Quantize(gguf, quantized, type);
        string dir = GgufModel.Describe(quantized, Path.Combine(models.Root, "cache"));
        var wide = OurLogits(dir, Prompt);
        float[][] narrow;
        QuantizedGemm.Isa = QuantIsa.Avx2;
        try { narrow = OurLogits(dir, Prompt); }
        finally { QuantizedGemm.Isa = QuantizedGemm.Detected; }
        for (int i = 0; i < Prompt.Length; i++)
        {
            int differ = Enumerable.Range(0, wide[i].Length).Count(j => BitConverter.SingleToInt32Bits(wide[i][j]) != BitConverter.SingleToInt32Bits(narrow[i][j]));
            double diff = wide[i].Zip(narrow[i]).Max(p => Math.Abs(p.First - p.Second)), scale = wide[i].Max(Math.Abs);
            Assert.True(differ == 0, $"{type} position {i}: {differ} AVX2 logits differ from AVX-512's, by up to {diff} (the row's largest is {scale})");
        }
        output.WriteLine($"{type}: AVX2 and AVX-512 logits bitwise equal at all {Prompt.Length} positions");
    }

    [Fact]
    public void Bf16_values_are_the_high_halves_of_their_float32_bits_and_a_malformed_file_is_refused_by_name()
    {
        // (llama.cpp's quantizer does not write BF16 through LLamaSharp: the format's definition is the check.)
        float[] values = [1f, -2.5f, 3.140625f, 65280f, -0.0078125f];
        var bytes = values.SelectMany(v => BitConverter.GetBytes((ushort)(BitConverter.SingleToInt32Bits(v) >> 16))).ToArray();
        var decoded = new float[values.Length];
        GgmlTypes.Dequantize(GgmlType.BF16, bytes, decoded);
        Assert.Equal(values, decoded);

        var (_, gguf) = Model();
        string cut = Path.Combine(models.Root, "truncated.gguf");
        using (var src = File.OpenRead(gguf))
        using (var dst = File.Create(cut))
        {
            var buffer = new byte[src.Length / 2];
            src.ReadExactly(buffer);
            dst.Write(buffer);
        }
        var e = Assert.Throws<InvalidDataException>(() => GgufFile.Open(cut));
        Assert.Contains("runs past the end of the file", e.Message);
        string notGguf = Path.Combine(models.Root, "config-as-gguf.gguf");
        File.WriteAllText(notGguf, new string('x', 64));
        Assert.Contains("not a GGUF file", Assert.Throws<InvalidDataException>(() => GgufFile.Open(notGguf)).Message);
    }
}
