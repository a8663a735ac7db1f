using SeaLion.Model.Llama;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SeaLion.Oracle.Tests;

/// <summary>Our TorchSharp forward pass and greedy decode against llama.cpp on the same random weights.</summary>
[Collection("oracle")]
public sealed class ForwardOracleTests(OracleModels models, ITestOutputHelper output)
{
    // "<|begin_of_text|>Hello, world! This is a test of the model."
    static readonly int[] Prompt = [128000, 9906, 11, 1917, 0, 1115, 374, 264, 1296, 315, 279, 1614, 13];
    const int NewTokens = 16;
    const int BlockSize = 16;

    /// <summary>A token counts as llama.cpp's greedy choice if its logit is within this of llama.cpp's maximum.</summary>
    const float ArgmaxSlack = 0.01f;

    /// <summary>Logit tolerance relative to the row's largest |logit|; see <see cref="Greedy_generation_matches_llama_cpp_teacher_forced"/>.</summary>
    const double RelativeTolerance = 1e-4;

    [Theory]
    [InlineData(64, 2, 4, 2, 192, 7UL)]     // GQA 4:2
    [InlineData(64, 2, 4, 4, 192, 11UL)]    // MHA 4:4
    [InlineData(128, 4, 8, 2, 384, 13UL)]   // GQA 8:2, 4 layers
    public void Greedy_generation_matches_llama_cpp_teacher_forced(int hidden, int layers, int heads, int kvHeads, int ffn, ulong seed)
    {
        var (hfDir, gguf) = models.Get(hidden, layers, heads, kvHeads, ffn, seed);

        // Ours: prefill the prompt (logits of every position), then greedy decode steps through the KV cache.
        // The last generated token is decoded too, so there is one logit row per token of prompt + generated.
        float[][] ours;
        int[] generated;
        using (var model = LlamaModel.Load(hfDir, new ModelOptions { DType = ScalarType.Float32, TensorParallel = 1, Threads = 2 }))
            (ours, generated) = TeacherForced.GreedyDecode(model, Prompt, NewTokens, BlockSize);

        // llama.cpp, teacher-forced: prompt + our tokens in one batch, logits at every position.
        int[] all = [.. Prompt, .. generated];
        var theirs = LlamaCpp.AllLogits(gguf, all);
        Assert.Equal(all.Length, theirs.Length);
        Assert.Equal(ours[0].Length, theirs[0].Length);

        // 1. Every token we chose is llama.cpp's argmax at that position, or within ArgmaxSlack of its maximum.
        // 2. The logits themselves, bounded relative to each row's scale (its largest |logit|, at least 1): rows
        // reach |logit| ~ 30 here and rounding grows with it. With flash attention off (see LlamaCpp) llama.cpp is
        // an F32 pass like ours; both agree with a double-precision naive pass to ~1e-4 absolute, and with each
        // other to ~2e-4 absolute, ~1e-5 of the row scale. 1e-4 of the row scale leaves 10x for other CPUs'
        // kernels and summation orders, and is still ~100x below a real bug (a wrong rope layout, norm, mask or
        // KV-cache slot moves logits by O(scale)) and ~10x below what llama.cpp's own F16 flash attention costs.
        // (TeacherForced.Compare is the same judgement the GPU check, `check-cuda`, applies to CUDA against the CPU.)
        var r = TeacherForced.Compare(ours, generated, theirs, Prompt.Length, new GreedyCriteria(ArgmaxSlack, 0, RelativeTolerance, 0));
        double maxLogit = theirs.Max(row => row.Max(Math.Abs));
        output.WriteLine($"h{hidden} l{layers} {heads}:{kvHeads}: generated [{string.Join(", ", generated)}]; {r.ExactArgmax}/{NewTokens} exact argmax; " +
                         $"max |logit| {maxLogit:F2}; max |diff| {r.MaxAbsDiff:E3}; max |diff|/row scale {r.MaxRelativeDiff:E3}");
        Assert.True(r.Passed, string.Join("\n", r.Failures));
    }
}
