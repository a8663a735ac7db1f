using System.Reflection;
using SeaLion.Model.Llama;
using SeaLion.Model.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace SeaLion.Model.Tests;

/// <summary>
/// TorchSharp Scalars made on the fly are freed by their finalizer, possibly while libtorch still reads them
/// (see SeaLion.Model.Llama.Scalars). These tests keep such temporaries out of the model code and run the serving
/// path while another thread forces collections.
/// </summary>
[Collection("torch")]
public sealed class ScalarLifetimeTests
{
    static bool AllowedHolder(MethodBase m) =>
        m.DeclaringType == typeof(Scalars)
        || m.DeclaringType == typeof(ScalarScope) && m.Name == nameof(ScalarScope.Of)
        || m.DeclaringType == typeof(LlamaShard) && m.Name == "get_EpsScalar";

    [Fact]
    public void Model_code_never_hands_libtorch_a_temporary_scalar()
    {
        var offences = ScalarLifetimeScan.Offences(typeof(LlamaModel).Assembly, AllowedHolder);
        Assert.True(offences.Count == 0, "temporary Scalars passed to libtorch:\n" + string.Join("\n", offences));
    }

    // What the scan must catch: an implicit alpha (add_), an implicit conversion at the call site, and an operator.
    static class Offender
    {
        public static void ImplicitAlpha(Tensor a, Tensor b) => a.add_(b);
        public static Tensor CallSiteConversion(Tensor a) => a.mul_(0.5);
        public static Tensor Operator(Tensor a) => a * 2.0;
        public static Tensor Square(Tensor a) => a.square();
        public static Tensor Fine(Tensor a, Tensor b) => a.add_(b, Scalars.One).mul_(b);
    }

    [Fact]
    public void Scan_catches_each_kind_of_temporary_scalar()
    {
        var offences = ScalarLifetimeScan.Offences(typeof(ScalarLifetimeTests).Assembly, m => m.DeclaringType != typeof(Offender));
        foreach (var name in new[] { "ImplicitAlpha", "CallSiteConversion", "Operator", "Square" })
            Assert.Contains(offences, o => o.Contains("Offender." + name + " ", StringComparison.Ordinal));
        Assert.DoesNotContain(offences, o => o.Contains("Offender.Fine ", StringComparison.Ordinal));
    }

    static readonly int[] PromptA = [128000, 9906, 11, 1917, 0, 1115, 374, 264, 1296, 315, 279, 1614, 13];
    static readonly int[] PromptB = [128000, 40, 1093, 311, 2019, 922, 35971, 13, 578, 3363];

    static SamplingParams[] Params() =>
    [
        new() { Temperature = 0 },
        new() { Temperature = 0, RepetitionPenalty = 1.3, Logprobs = 3 },
        new() { Temperature = 0.8, TopP = 0.9, TopK = 50, MinP = 0.02, PresencePenalty = 0.4, FrequencyPenalty = 0.3, Seed = 7 },
    ];

    /// <summary>Two steps over three sequences (prefill, then a chunk continuation beside two decodes), sampled with penalties.</summary>
    static string Run(LlamaModel model, KvCache cache)
    {
        var p = Params();
        var states = new[] { new SamplingState(p[0], PromptA), new SamplingState(p[1], PromptB), new SamplingState(p[2], PromptA[..5]) };
        int[] step1 = [.. PromptA, .. PromptB[..7], .. PromptA[..5]];
        var batch1 = new ForwardBatch
        {
            TokenIds = step1,
            Sequences = [new SequenceChunk(13, 13, [0]), new SequenceChunk(7, 7, [2]), new SequenceChunk(5, 5, [4])],
        };
        SampledToken[] first, second;
        using (var logits = model.Forward(batch1, cache)) first = Sampler.Sample(logits, states);
        foreach (var (s, t) in states.Zip(first)) s.Append(t.TokenId);
        int[] step2 = [first[0].TokenId, .. PromptB[7..], first[2].TokenId];
        var batch2 = new ForwardBatch
        {
            TokenIds = step2,
            Sequences = [new SequenceChunk(1, 14, [0]), new SequenceChunk(3, 10, [2]), new SequenceChunk(1, 6, [4])],
        };
        using (var logits = model.Forward(batch2, cache)) second = Sampler.Sample(logits, states);
        return string.Join(" ", first.Concat(second).Select(t => $"{t.TokenId}:{t.Logprob:R}:{string.Join(",", t.TopLogprobs?.Select(x => $"{x.TokenId}={x.Logprob:R}") ?? [])}"));
    }

    [Fact]
    public void Serving_path_gives_identical_results_while_collections_are_forced()
    {
        using var model = LlamaModel.Load(TestModels.Get(), new ModelOptions { DType = ScalarType.Float32, TensorParallel = 2 });
        using var cache = model.CreateKvCache(numBlocks: 8);
        string expected = Run(model, cache);

        // A fixed number of runs, not a time budget: a slow or busy machine must not fail this, only make it longer.
        const int Runs = 15;
        bool stop = false;
        int collections = 0;
        var collector = new Thread(() =>
        {
            while (!Volatile.Read(ref stop)) { GC.Collect(); GC.WaitForPendingFinalizers(); Interlocked.Increment(ref collections); }
        }) { IsBackground = true };
        collector.Start();
        int during;
        try
        {
            for (int i = 0; i < Runs; i++) Assert.Equal(expected, Run(model, cache));
            during = Volatile.Read(ref collections);
        }
        finally
        {
            Volatile.Write(ref stop, true);
            collector.Join();
        }
        Assert.True(during > 0, $"no forced collection overlapped the {Runs} runs");
    }
}
