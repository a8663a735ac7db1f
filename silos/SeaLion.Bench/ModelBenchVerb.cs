using System.Text.Json;
using SeaLion.Hosting;
using SeaLion.Model.Llama;

namespace SeaLion.Bench;

/// <summary>`bench model`: single-sequence prefill and decode tokens/s (<see cref="ModelBenchmark"/>), one JSON object on stdout.</summary>
public static class ModelBenchVerb
{
    public static int Run(CliArgs a, TextWriter stdout)
    {
        var (load, name, _, options) = ModelArgs.ReadForBench(a, defaultDtype: "fp32");
        int promptLen = a.Int("prompt-len", 128, 1, 1 << 20), genLen = a.Int("gen-len", 128, 1, 1 << 20);
        int repeats = a.Int("repeats", 3, 1, 100);
        a.EnsureAllUsed();
        var r = ModelBenchmark.Run(load, options, promptLen, genLen, repeats);
        stdout.WriteLine(JsonSerializer.Serialize(new
        {
            bench = "model", model = name, device = options.Device.ToString().ToLowerInvariant(), dtype = r.Dtype, tp = r.TensorParallel, threads = r.Threads,
            prompt_len = r.PromptLength, gen_len = r.GenLength, load_s = Math.Round(r.LoadSeconds, 3),
            prefill_tok_s = Math.Round(r.PrefillTokensPerSecond, 1), decode_tok_s = Math.Round(r.DecodeTokensPerSecond, 1),
            decode_ms_per_token = Math.Round(r.DecodeMsPerToken, 3),
        }));
        return 0;
    }
}
