using SeaLion.Model.Llama;
using TorchSharp;
using static TorchSharp.torch;

namespace SeaLion.Model.Tests;

[Collection("torch")]
public sealed class ForwardTests
{
    static readonly int[] Prompt = [128000, 9906, 11, 1917, 0, 1115, 374, 264, 1296, 315, 279, 1614, 13];

    static void AssertClose(float[] expected, float[] actual, double tol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double worst = 0; int at = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double d = Math.Abs(expected[i] - actual[i]);
            if (d > worst) { worst = d; at = i; }
        }
        Assert.True(worst <= tol, $"{what}: max |diff| {worst:g4} at {at} (expected {expected[at]}, got {actual[at]}) > {tol}");
    }

    [Fact]
    public void Forward_matches_naive_reference_pass()
    {
        string dir = TestModels.Get();
        var reference = new NaiveLlama(dir).Forward(Prompt);
        using var model = LlamaModel.Load(dir, new ModelOptions { DType = ScalarType.Float32 });
        var logits = TeacherForced.AllLogits(model, Prompt);
        for (int t = 0; t < Prompt.Length; t++)
        {
            AssertClose(reference[t].Select(x => (float)x).ToArray(), logits[t], 2e-3, $"position {t}");
            Assert.Equal(Array.IndexOf(reference[t], reference[t].Max()), TeacherForced.ArgMax(logits[t]));
        }
    }

    [Fact]
    public void Decode_with_kv_cache_equals_full_forward()
    {
        using var model = LlamaModel.Load(TestModels.Get(), new ModelOptions { DType = ScalarType.Float32 });
        var full = TeacherForced.AllLogits(model, Prompt);
        using var cache = model.CreateKvCache(numBlocks: 4, blockSize: 4);
        int[] table = [2, 0, 3, 1];   // deliberately not contiguous
        int prefill = 5;
        using (var l = model.Forward(new ForwardBatch { TokenIds = Prompt[..prefill], Sequences = [new SequenceChunk(prefill, prefill, table)] }, cache))
            AssertClose(full[prefill - 1], TeacherForced.Rows(l)[0], 1e-4, "prefill last");
        for (int t = prefill; t < Prompt.Length; t++)
        {
            using var l = model.Forward(new ForwardBatch { TokenIds = [Prompt[t]], Sequences = [new SequenceChunk(1, t + 1, table)] }, cache);
            AssertClose(full[t], TeacherForced.Rows(l)[0], 1e-4, $"decode position {t}");
        }
    }

    [Fact]
    public void Chunked_prefill_over_cached_prefix_equals_full_forward()
    {
        using var model = LlamaModel.Load(TestModels.Get(), new ModelOptions { DType = ScalarType.Float32 });
        var full = TeacherForced.AllLogits(model, Prompt);
        using var cache = model.CreateKvCache(numBlocks: 4);
        int[] table = [0];
        using (model.Forward(new ForwardBatch { TokenIds = Prompt[..6], Sequences = [new SequenceChunk(6, 6, table)] }, cache)) { }
        using var l = model.Forward(new ForwardBatch { TokenIds = Prompt[6..], Sequences = [new SequenceChunk(Prompt.Length - 6, Prompt.Length, table)], AllLogits = true }, cache);
        var rows = TeacherForced.Rows(l);
        for (int i = 0; i < rows.Length; i++) AssertClose(full[6 + i], rows[i], 1e-4, $"chunk row {i}");
    }

    [Fact]
    public void Mixed_batch_of_sequences_equals_each_run_alone()
    {
        using var model = LlamaModel.Load(TestModels.Get(), new ModelOptions { DType = ScalarType.Float32 });
        int[] a = Prompt, b = [128000, 791, 4062, 14198, 39935];
        var fullA = TeacherForced.AllLogits(model, a);
        var fullB = TeacherForced.AllLogits(model, b);
        using var cache = model.CreateKvCache(numBlocks: 6, blockSize: 4);
        // a: prefill 8 first; then one step with a's remaining chunk and b's whole prompt together.
        using (model.Forward(new ForwardBatch { TokenIds = a[..8], Sequences = [new SequenceChunk(8, 8, [0, 1, 2, 3])] }, cache)) { }
        var batch = new ForwardBatch
        {
            TokenIds = [.. a[8..], .. b],
            Sequences = [new SequenceChunk(a.Length - 8, a.Length, [0, 1, 2, 3]), new SequenceChunk(b.Length, b.Length, [5, 4])],
        };
        using var l = model.Forward(batch, cache);
        var rows = TeacherForced.Rows(l);
        AssertClose(fullA[^1], rows[0], 1e-4, "sequence a");
        AssertClose(fullB[^1], rows[1], 1e-4, "sequence b");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Batched_decode_attention_equals_each_sequence_alone(bool withPrefillChunk)
    {
        using var model = LlamaModel.Load(TestModels.Get(), new ModelOptions { DType = ScalarType.Float32 });
        int[][] prompts = [Prompt, [128000, 791, 4062, 14198, 39935], [128000, 40, 1093], [128000, 9906, 1070, 527, 264, 3230, 1984, 11, 323]];
        var full = prompts.Select(p => TeacherForced.AllLogits(model, p)).ToArray();
        using var cache = model.CreateKvCache(numBlocks: 16, blockSize: 4);
        int[][] tables = [[0, 5, 9, 13], [1, 6], [2], [3, 7, 10]];   // interleaved, not contiguous
        // Prefill all but the last token of each sequence (the last one keeps a prefill chunk if asked).
        int last = prompts.Length - 1;
        for (int i = 0; i < prompts.Length; i++)
        {
            int n = withPrefillChunk && i == last ? 4 : prompts[i].Length - 1;
            using (model.Forward(new ForwardBatch { TokenIds = prompts[i][..n], Sequences = [new SequenceChunk(n, n, tables[i])] }, cache)) { }
        }
        var seqs = new List<SequenceChunk>();
        var tokens = new List<int>();
        for (int i = 0; i < prompts.Length; i++)
        {
            int start = withPrefillChunk && i == last ? 4 : prompts[i].Length - 1;
            tokens.AddRange(prompts[i][start..]);
            seqs.Add(new SequenceChunk(prompts[i].Length - start, prompts[i].Length, tables[i]));
        }
        using var l = model.Forward(new ForwardBatch { TokenIds = tokens.ToArray(), Sequences = seqs }, cache);
        var rows = TeacherForced.Rows(l);
        for (int i = 0; i < prompts.Length; i++) AssertClose(full[i][^1], rows[i], 1e-4, $"sequence {i}");
    }

    [Theory]
    [InlineData(4, 2)]
    [InlineData(4, 4)]
    public void Tensor_parallel_two_ranks_equal_one(int heads, int kvHeads)
    {
        string dir = TestModels.Get(heads: heads, kvHeads: kvHeads);
        float[][] one, two;
        using (var m1 = LlamaModel.Load(dir, new ModelOptions { DType = ScalarType.Float32, TensorParallel = 1 })) one = TeacherForced.AllLogits(m1, Prompt);
        using (var m2 = LlamaModel.Load(dir, new ModelOptions { DType = ScalarType.Float32, TensorParallel = 2 })) two = TeacherForced.AllLogits(m2, Prompt);
        for (int t = 0; t < Prompt.Length; t++)
        {
            AssertClose(one[t], two[t], 1e-4, $"position {t}");
            Assert.Equal(TeacherForced.ArgMax(one[t]), TeacherForced.ArgMax(two[t]));
        }
    }

    [Fact]
    public void Random_models_made_on_the_device_are_seeded_and_tensor_parallel_consistent()
    {
        var config = LlamaConfig.FromDirectory(TestModels.Get());
        float[][] a, b, c, tp2;
        using (var m = LlamaModel.CreateRandom(config, 11, new ModelOptions { DType = ScalarType.Float32, TensorParallel = 1 })) a = TeacherForced.AllLogits(m, Prompt);
        using (var m = LlamaModel.CreateRandom(config, 11, new ModelOptions { DType = ScalarType.Float32, TensorParallel = 1 })) b = TeacherForced.AllLogits(m, Prompt);
        using (var m = LlamaModel.CreateRandom(config, 12, new ModelOptions { DType = ScalarType.Float32, TensorParallel = 1 })) c = TeacherForced.AllLogits(m, Prompt);
        using (var m = LlamaModel.CreateRandom(config, 11, new ModelOptions { DType = ScalarType.Float32, TensorParallel = 2 })) tp2 = TeacherForced.AllLogits(m, Prompt);
        Assert.Equal(a[^1], b[^1]);
        Assert.NotEqual(a[^1], c[^1]);
        AssertClose(a[^1], tp2[^1], 1e-4, "tp=2");
        // Decisive logits, as the checkpoint writer's: the top logit stands well clear of the rest.
        var sorted = a[^1].OrderDescending().ToArray();
        Assert.True(sorted[0] - sorted[1] > 0.01 && sorted[0] > 5, $"top logits {sorted[0]}, {sorted[1]}");
    }

    [Fact]
    public void Bf16_logits_are_within_tolerance_of_fp32()
    {
        string dir = TestModels.Get();
        float[][] f32, bf16;
        using (var m = LlamaModel.Load(dir, new ModelOptions { DType = ScalarType.Float32 })) f32 = TeacherForced.AllLogits(m, Prompt);
        using (var m = LlamaModel.Load(dir, new ModelOptions { DType = ScalarType.BFloat16 })) bf16 = TeacherForced.AllLogits(m, Prompt);
        int agree = 0;
        for (int t = 0; t < Prompt.Length; t++)
        {
            // bf16 keeps 8 mantissa bits: logits of magnitude ~10 move by a few tenths.
            double scale = f32[t].Max(Math.Abs);
            AssertClose(f32[t], bf16[t], 0.06 * scale, $"position {t}");
            if (TeacherForced.ArgMax(f32[t]) == TeacherForced.ArgMax(bf16[t])) agree++;
        }
        Assert.True(agree >= Prompt.Length - 2, $"bf16 argmax agreed with fp32 at {agree} of {Prompt.Length} positions");
    }
}
