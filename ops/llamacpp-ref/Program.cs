// llama.cpp as the reference arm of `./sealion bench gguf` (which runs this tool; see docs/benchmarks.md):
//   gguf HF_DIR OUT.gguf [--bf16] [--random-seed S]   an HF Llama 3 folder (F32 or BF16) as GGUF F32, or BF16 matrices;
//                                                     with --random-seed the folder holds only config and tokenizer, and
//                                                     the tensors are the project's seeded random ones (RandomCheckpoint)
//   quantize SRC.gguf DST.gguf TYPE                   llama.cpp's own quantizer (Q8_0 Q4_0 Q5_0 Q2_K Q3_K_M Q4_K_M
//                                                     Q5_K_M Q6_K), output.weight quantized too as in published files
//   bench MODEL.gguf --prompt P --n N --threads T [--repeats R]
//                                                     single-sequence prefill and greedy decode tokens/s, best of R
//                                                     after a warm-up, F32 KV cache; one JSON line
using System.Diagnostics;
using System.Text.Json;
using LLama;
using LLama.Common;
using LLama.Native;
using SeaLion.LlamaCppRef;
using SeaLion.Model;
using SeaLion.Model.Weights;

if (args.Length < 2) { Console.Error.WriteLine("usage: llamacpp-ref gguf|quantize|bench ..."); return 2; }
string Arg(string name, string fallback) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback; }
NativeLogConfig.llama_log_set((_, _) => { });

switch (args[0])
{
    case "gguf":
    {
        IEnumerable<SafetensorsWriter.Entry>? tensors = null;
        if (Arg("--random-seed", "") is { Length: > 0 } seed)
        {
            string config = Path.Combine(args[1], "config.json");
            tensors = RandomCheckpoint.Entries(LlamaConfig.Parse(File.ReadAllText(config), config), ulong.Parse(seed));
        }
        GgufWriter.Write(args[1], args[2], name: Path.GetFileName(Path.GetFullPath(args[1]).TrimEnd('/')), bf16: args.Contains("--bf16"), tensors: tensors);
        Console.WriteLine(JsonSerializer.Serialize(new { wrote = args[2] }));
        return 0;
    }
    case "quantize":
    {
        NativeApi.llama_empty_call();   // loads the native library through LLamaSharp's resolver (the quantizer alone does not)
        var ftype = Enum.Parse<LLamaFtype>("MOSTLY_" + args[3].ToUpperInvariant());
        if (!LLamaQuantizer.Quantize(args[1], args[2], ftype, 2, allowRequantize: true, quantizeOutputTensor: true))
        {
            Console.Error.WriteLine($"llama.cpp could not quantize {args[1]} to {args[3]}");
            return 1;
        }
        Console.WriteLine(JsonSerializer.Serialize(new { wrote = args[2], type = args[3] }));
        return 0;
    }
    case "bench":
    {
        int prompt = int.Parse(Arg("--prompt", "128")), n = int.Parse(Arg("--n", "64")), threads = int.Parse(Arg("--threads", "2"));
        int repeats = int.Parse(Arg("--repeats", "1"));
        var p = new ModelParams(args[1])
        {
            ContextSize = (uint)Math.Max(512, prompt + n + 16), BatchSize = (uint)Math.Max(512, prompt), UBatchSize = (uint)Math.Max(512, prompt),
            GpuLayerCount = 0, Threads = threads, BatchThreads = threads, TypeK = GGMLType.GGML_TYPE_F32, TypeV = GGMLType.GGML_TYPE_F32,
        };
        var load = Stopwatch.StartNew();
        using var weights = LLamaWeights.LoadFromFile(p);
        double loadSeconds = load.Elapsed.TotalSeconds;
        var rnd = new Random(1);
        var ids = Enumerable.Range(0, prompt).Select(_ => rnd.Next(1000, 100000)).ToArray();
        double bestPrefill = double.MaxValue, bestDecode = double.MaxValue;
        for (int rep = 0; rep <= repeats; rep++)   // rep 0 warms up
        {
            using var ctx = weights.CreateContext(p);
            var batch = new LLamaBatch();
            for (int i = 0; i < prompt; i++) batch.Add((LLamaToken)ids[i], i, LLamaSeqId.Zero, i == prompt - 1);
            var sw = Stopwatch.StartNew();
            if (ctx.Decode(batch) != DecodeResult.Ok) throw new InvalidOperationException("llama_decode failed on the prompt");
            double prefill = sw.Elapsed.TotalSeconds;
            var logits = ctx.NativeHandle.GetLogitsIth(prompt - 1);
            sw.Restart();
            for (int s = 0; s < n; s++)
            {
                int next = ArgMax(logits);
                batch.Clear();
                batch.Add((LLamaToken)next, prompt + s, LLamaSeqId.Zero, true);
                if (ctx.Decode(batch) != DecodeResult.Ok) throw new InvalidOperationException("llama_decode failed");
                logits = ctx.NativeHandle.GetLogitsIth(0);
            }
            double decode = sw.Elapsed.TotalSeconds;
            if (rep > 0) { bestPrefill = Math.Min(bestPrefill, prefill); bestDecode = Math.Min(bestDecode, decode); }
        }
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            engine = "llama.cpp", threads, prompt_len = prompt, gen_len = n, load_s = Math.Round(loadSeconds, 3),
            prefill_tok_s = Math.Round(prompt / bestPrefill, 1), decode_tok_s = Math.Round(n / bestDecode, 1),
        }));
        return 0;
    }
    default:
        Console.Error.WriteLine($"unknown verb '{args[0]}'");
        return 2;
}

static int ArgMax(Span<float> l)
{
    int best = 0;
    for (int i = 1; i < l.Length; i++) if (l[i] > l[best]) best = i;
    return best;
}
