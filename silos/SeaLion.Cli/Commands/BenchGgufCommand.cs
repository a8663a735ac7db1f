using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using SeaLion.Model;
using SeaLion.Model.Llama;
using SeaLion.Model.Weights;

namespace SeaLion.Cli.Commands;

/// <summary>
/// `bench gguf`: SeaLion and llama.cpp side by side on the same GGUF files. A seeded random model of a config is
/// written as GGUF (F32, and BF16), quantized by llama.cpp's own quantizer into each type asked for, and each file is
/// measured by both engines in alternating rounds (the VM drifts: the ratio within a round is the figure), same
/// prompt length, generated length and threads. llama.cpp runs in the reference tool ops/llamacpp-ref (LLamaSharp),
/// built on first use. JSON: one line per type and round, then a summary line with median ratios.
/// </summary>
internal static class BenchGgufCommand
{
    public static int Run(CliArgs a)
    {
        string config = ModelLocator.ConfigPath(a.String("random-config") ?? "small");
        ulong seed = unchecked((ulong)(a.Long("seed") ?? 1));
        var types = (a.String("types") ?? "Q4_K_M,Q8_0,BF16").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        string[] known = ["F32", "BF16", "Q8_0", "Q4_0", "Q5_0", "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K"];
        foreach (var t in types)
            if (!known.Contains(t, StringComparer.OrdinalIgnoreCase)) throw new UsageException($"--types: '{t}' is not one of {string.Join(", ", known)}");
        int rounds = a.Int("rounds", 2, 1, 20), promptLen = a.Int("prompt-len", 128, 1, 4096), genLen = a.Int("gen-len", 64, 1, 4096);
        int threads = a.Int("threads", 2, 1, 256);
        string root = RepositoryRoot();
        string work = a.String("work") ?? Path.Combine(root, "artifacts", "bench-gguf", $"{Path.GetFileNameWithoutExtension(config)}-{seed}");
        bool prepareOnly = a.Flag("prepare-only");   // make the files now (slow for 8B), measure in a quiet moment later
        a.EnsureAllUsed();

        // Above 2G parameters (the 8B shape: 32 GB in F32) no F32 copy is made: the BF16 GGUF is written straight from the
        // seeded tensors and is what llama.cpp quantizes (its converter's usual route for big models too).
        var tensors = RandomCheckpoint.Entries(LlamaConfig.Parse(File.ReadAllText(config), config), seed);   // shapes only: drawn when produced
        bool large = tensors.Sum(t => t.Shape.Aggregate(1L, (x, y) => x * y)) > 2_000_000_000;
        if (large && types.Contains("F32", StringComparer.OrdinalIgnoreCase))
            throw new UsageException($"--types F32: {Path.GetFileNameWithoutExtension(config)} has over 2G parameters; its F32 GGUF is not made (use BF16)");

        string tool = BuildTool(root);
        Directory.CreateDirectory(work);
        string hf = Path.Combine(work, "hf");
        if (!File.Exists(Path.Combine(hf, "config.json")))
        {
            Console.Error.WriteLine($"bench gguf: writing a random {Path.GetFileNameWithoutExtension(config)} model (seed {seed}) to {hf}{(large ? " (config and tokenizer only)" : "")}");
            RandomCheckpoint.Write(config, hf, seed, ModelLocator.TokenizerDir, large ? StoredDType.BF16 : StoredDType.F32, weights: !large);
        }
        string bf16 = Path.Combine(work, "model-BF16.gguf");
        string source = large ? bf16 : Path.Combine(work, "model-F32.gguf");
        if (!File.Exists(source))
        {
            Console.Error.WriteLine($"bench gguf: writing {source}");
            if (large) Tool(tool, "gguf", hf, source, "--bf16", "--random-seed", $"{seed}");
            else Tool(tool, "gguf", hf, source);
        }

        var ratios = new Dictionary<string, (List<double> Prefill, List<double> Decode)>();
        foreach (var type in types.Select(t => t.ToUpperInvariant()))
        {
            string file = Path.Combine(work, $"model-{type}.gguf");
            if (!File.Exists(file))
            {
                Console.Error.WriteLine($"bench gguf: writing {file}");
                if (type == "BF16") Tool(tool, "gguf", hf, file, "--bf16");
                else if (type != "F32") Tool(tool, "quantize", source, file, type);
            }
            // Quantized and F32 files: fp32 activations and KV cache, as llama.cpp runs them; BF16: the bf16 serving dtype.
            if (prepareOnly) { Console.Out.WriteLine(JsonSerializer.Serialize(new { bench = "gguf", type, prepared = file, file_mb = Math.Round(new FileInfo(file).Length / 1e6, 1) })); continue; }
            var options = new ModelOptions { DType = type == "BF16" ? TorchSharp.torch.ScalarType.BFloat16 : TorchSharp.torch.ScalarType.Float32, Threads = threads };
            string dir = ModelLocator.Resolve(file);
            var r = ratios[type] = ([], []);
            for (int round = 1; round <= rounds; round++)
            {
                var ours = ModelBenchmark.Run(() => LlamaModel.Load(dir, options), options, promptLen, genLen, repeats: 1);
                var theirs = JsonNode.Parse(Tool(tool, "bench", file, "--prompt", $"{promptLen}", "--n", $"{genLen}", "--threads", $"{threads}", "--repeats", "1"))!;
                double tp = theirs["prefill_tok_s"]!.GetValue<double>(), td = theirs["decode_tok_s"]!.GetValue<double>();
                r.Prefill.Add(ours.PrefillTokensPerSecond / tp);
                r.Decode.Add(ours.DecodeTokensPerSecond / td);
                Console.Out.WriteLine(JsonSerializer.Serialize(new
                {
                    bench = "gguf", config = Path.GetFileNameWithoutExtension(config), type, round, threads, prompt_len = promptLen, gen_len = genLen,
                    sealion_dtype = ours.Dtype, sealion_tp = ours.TensorParallel,
                    sealion_prefill_tok_s = Math.Round(ours.PrefillTokensPerSecond, 1), llamacpp_prefill_tok_s = tp,
                    sealion_decode_tok_s = Math.Round(ours.DecodeTokensPerSecond, 1), llamacpp_decode_tok_s = td,
                    prefill_ratio = Math.Round(ours.PrefillTokensPerSecond / tp, 3), decode_ratio = Math.Round(ours.DecodeTokensPerSecond / td, 3),
                    file_mb = Math.Round(new FileInfo(file).Length / 1e6, 1),
                }));
            }
        }
        Console.Out.WriteLine(JsonSerializer.Serialize(new
        {
            bench = "gguf-summary", config = Path.GetFileNameWithoutExtension(config), rounds,
            median_ratio = ratios.ToDictionary(kv => kv.Key, kv => new { prefill = Math.Round(Median(kv.Value.Prefill), 3), decode = Math.Round(Median(kv.Value.Decode), 3) }),
        }));
        return 0;
    }

    static double Median(List<double> v)
    {
        var s = v.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    /// <summary>The repository this CLI was built from (the launcher says; else the folder holding the solution above the binary).</summary>
    static string RepositoryRoot()
    {
        if (Environment.GetEnvironmentVariable("SEALION_ROOT") is { Length: > 0 } r && File.Exists(Path.Combine(r, "SeaLion.Cluster.sln"))) return r;
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "SeaLion.Cluster.sln"))) return d.FullName;
        throw new UsageException("bench gguf: run it from the repository (./sealion bench gguf): it builds ops/llamacpp-ref, the llama.cpp arm");
    }

    static string BuildTool(string root)
    {
        string output = Path.Combine(root, "artifacts", "llamacpp-ref");
        Console.Error.WriteLine("bench gguf: building the llama.cpp reference tool (ops/llamacpp-ref) ...");
        var psi = new ProcessStartInfo("dotnet", ["build", Path.Combine(root, "ops", "llamacpp-ref", "LlamaCppRef.csproj"), "-c", "Release", "-o", output, "--nologo", "-v", "q"])
        { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        string log = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"bench gguf: building ops/llamacpp-ref failed:\n{log}");
        return Path.Combine(output, "llamacpp-ref.dll");
    }

    /// <summary>Runs the tool; its last stdout line (JSON) is returned, a failure is thrown with its stderr.</summary>
    static string Tool(string dll, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet", [dll, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"llamacpp-ref {string.Join(' ', args)} failed ({p.ExitCode}): {err.Result}");
        return stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last();
    }
}
