using System.Diagnostics;
using static TorchSharp.torch;

namespace SeaLion.Model.Llama;

public sealed record ModelBenchmarkResult(
    string Dtype, int TensorParallel, int Threads, int PromptLength, int GenLength,
    double LoadSeconds, double PrefillTokensPerSecond, double DecodeTokensPerSecond, double DecodeMsPerToken);

/// <summary>
/// Single-sequence speed of the forward pass: one prefill of a random prompt, then greedy decode steps, each
/// a full forward + argmax, as a serving loop would run them. A warm-up run precedes the timed one.
/// </summary>
public static class ModelBenchmark
{
    public static ModelBenchmarkResult Run(string dir, ModelOptions options, int promptLength, int genLength, int repeats = 3) =>
        Run(() => LlamaModel.Load(dir, options), options, promptLength, genLength, repeats);

    public static ModelBenchmarkResult Run(Func<LlamaModel> load, ModelOptions options, int promptLength, int genLength, int repeats = 3)
    {
        var loading = Stopwatch.StartNew();
        using var model = load();
        double loadSeconds = loading.Elapsed.TotalSeconds;
        var rnd = new Random(1);
        int[] prompt = Enumerable.Range(0, promptLength).Select(_ => rnd.Next(1000, 100000)).ToArray();
        int total = promptLength + genLength;
        using var cache = model.CreateKvCache((total + 15) / 16);
        int[] table = Enumerable.Range(0, cache.NumBlocks).ToArray();
        using var mode = inference_mode();

        double bestPrefill = double.MaxValue, bestDecode = double.MaxValue;
        for (int rep = 0; rep <= repeats; rep++)   // rep 0 warms up
        {
            var sw = Stopwatch.StartNew();
            int next;
            using (var logits = model.Forward(new ForwardBatch { TokenIds = prompt, Sequences = [new SequenceChunk(promptLength, promptLength, table)] }, cache))
                next = (int)logits.argmax(-1).item<long>();
            double prefill = sw.Elapsed.TotalSeconds;
            sw.Restart();
            for (int i = 0; i < genLength; i++)
            {
                using var logits = model.Forward(new ForwardBatch { TokenIds = [next], Sequences = [new SequenceChunk(1, promptLength + i + 1, table)] }, cache);
                using var arg = logits.argmax(-1);
                next = (int)arg.item<long>();
            }
            double decode = sw.Elapsed.TotalSeconds;
            if (rep > 0) { bestPrefill = Math.Min(bestPrefill, prefill); bestDecode = Math.Min(bestDecode, decode); }
        }
        int threads = options.Threads > 0 ? options.Threads : Environment.ProcessorCount;
        return new ModelBenchmarkResult(model.DType.ToString(), model.TensorParallel, threads, promptLength, genLength,
            loadSeconds, promptLength / bestPrefill, genLength / bestDecode, bestDecode / genLength * 1000);
    }
}
