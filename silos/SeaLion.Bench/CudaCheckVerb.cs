using System.Text.Json.Nodes;
using SeaLion.Hosting;
using SeaLion.Model;
using SeaLion.Model.Llama;
using SeaLion.Model.Weights;
using TorchSharp;

namespace SeaLion.Bench;

/// <summary>
/// `check-cuda`: is the model on a device the same model as on the CPU? Seeded random checkpoints are written once and
/// loaded several ways. (1) fp32: on --device it decodes greedily through its KV cache; fp32 on the CPU,
/// teacher-forced on those tokens, must agree (TeacherForced.Compare: each token the CPU's argmax or a tie within
/// 0.01, logits within --tolerance of the row scale); --config, default `small`. (2) bf16: on --device it decodes
/// greedily; fp32 on --device, teacher-forced, must agree as closely as bf16 and fp32 agree on the CPU
/// (GreedyCriteria.LowerPrecisionThan, the CPU's rms difference as the yardstick); --bf16-config, default `tiny`:
/// random weights amplify bf16 rounding layer by layer, and on `small` the CPU's own bf16 logits already differ from
/// fp32 by half the row scale (rms 2.4, 18 of 32 greedy tokens exact), as far from fp32 as a bug would be. JSON on
/// stdout (agreement counts, max and rms logit differences); exit code 1 when a check fails.
/// With --device cpu both checks are the trivial CPU-against-CPU case (how it is tested without a GPU);
/// --reference-seed S gives the fp32 check's CPU reference other weights, a planted disagreement that must fail.
/// </summary>
public static class CudaCheckVerb
{
    public static int Run(CliArgs a, TextWriter stdout)
    {
        string configPath = ModelLocator.ConfigPath(a.String("config") ?? "small");
        string bf16ConfigPath = ModelLocator.ConfigPath(a.String("bf16-config") ?? "tiny");
        ulong seed = unchecked((ulong)(a.Long("seed") ?? 1));
        ulong referenceSeed = unchecked((ulong)(a.Long("reference-seed") ?? (long)seed));
        var device = ModelArgs.ParseDevice(a.String("device") ?? "cuda");
        int promptLen = a.Int("prompt-len", 24, 2, 4096), genLen = a.Int("gen-len", 32, 1, 4096);
        double tolerance = a.Double("tolerance") ?? 1e-3;
        if (tolerance is <= 0 or > 1) throw new UsageException($"--tolerance must be in (0, 1], got {tolerance}");
        int threads = a.Int("threads", 0, 0, 1024);
        a.EnsureAllUsed();

        var config = LlamaConfig.Parse(File.ReadAllText(configPath), configPath);
        var bf16Config = LlamaConfig.Parse(File.ReadAllText(bf16ConfigPath), bf16ConfigPath);
        if (promptLen + genLen > Math.Min(config.MaxPositions, bf16Config.MaxPositions))
            throw new UsageException($"--prompt-len + --gen-len ({promptLen + genLen}) exceed the configs' {Math.Min(config.MaxPositions, bf16Config.MaxPositions)} positions");
        var rnd = new Random(unchecked((int)seed));
        int[] prompt = [config.BosTokenId ?? 0, .. Enumerable.Range(0, promptLen - 1).Select(_ => rnd.Next(1000, Math.Min(100000, Math.Min(config.VocabSize, bf16Config.VocabSize))))];
        string dev = device.ToString().ToLowerInvariant();

        string root = Path.Combine(Path.GetTempPath(), $"sealion-check-cuda-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            string dir = Path.Combine(root, "fp32"), referenceDir = dir, bf16Dir = dir;
            RandomCheckpoint.Write(configPath, dir, seed, ModelLocator.TokenizerDir);
            if (referenceSeed != seed) RandomCheckpoint.Write(configPath, referenceDir = Path.Combine(root, "reference"), referenceSeed, ModelLocator.TokenizerDir);
            if (bf16ConfigPath != configPath) RandomCheckpoint.Write(bf16ConfigPath, bf16Dir = Path.Combine(root, "bf16"), seed, ModelLocator.TokenizerDir);

            ModelOptions On(DeviceType d, torch.ScalarType t) => new() { Device = d, DType = t, TensorParallel = 1, Threads = threads };
            // bf16 greedy on `device` against fp32 on `device` teacher-forced, both from bf16Dir.
            (GreedyComparison, int[]) Bf16AgainstFp32(DeviceType d, GreedyCriteria criteria)
            {
                float[][] rows; int[] generated;
                using (var bf16 = LlamaModel.Load(bf16Dir, On(d, torch.ScalarType.BFloat16)))
                    (rows, generated) = TeacherForced.GreedyDecode(bf16, prompt, genLen);
                float[][] reference;
                using (var f32 = LlamaModel.Load(bf16Dir, On(d, torch.ScalarType.Float32)))
                    reference = TeacherForced.AllLogits(f32, [.. prompt, .. generated]);
                return (TeacherForced.Compare(rows, generated, reference, prompt.Length, criteria), generated);
            }

            var checks = new JsonArray();
            // The device first: a CUDA libtorch named by SEALION_LIBTORCH_DIR is loaded before anything else looks for CUDA.
            float[][] deviceRows; int[] deviceTokens;
            using (var f32 = LlamaModel.Load(dir, On(device, torch.ScalarType.Float32)))
                (deviceRows, deviceTokens) = TeacherForced.GreedyDecode(f32, prompt, genLen);
            float[][] cpuRows;
            using (var cpu = LlamaModel.Load(referenceDir, On(DeviceType.CPU, torch.ScalarType.Float32)))
                cpuRows = TeacherForced.AllLogits(cpu, [.. prompt, .. deviceTokens]);
            var fp32 = TeacherForced.Compare(deviceRows, deviceTokens, cpuRows, prompt.Length, GreedyCriteria.SamePrecision(tolerance));
            checks.Add(Report($"fp32 {dev} vs fp32 cpu", Path.GetFileNameWithoutExtension(configPath), fp32, deviceTokens, new JsonObject { ["tolerance_rel"] = tolerance }));

            // The yardstick: how far bf16 is from fp32 on the CPU, the path the CPU tests cover; then the device's bf16.
            var (cpuBf16, _) = Bf16AgainstFp32(DeviceType.CPU, GreedyCriteria.SamePrecision(1));
            var bf16Criteria = GreedyCriteria.LowerPrecisionThan(cpuBf16.RmsDiff);
            var (bf16, bf16Tokens) = Bf16AgainstFp32(device, bf16Criteria);
            checks.Add(Report($"bf16 {dev} vs fp32 {dev}", Path.GetFileNameWithoutExtension(bf16ConfigPath), bf16, bf16Tokens, new JsonObject
            {
                ["cpu_bf16_vs_fp32_rms_logit_diff"] = Math.Round(cpuBf16.RmsDiff, 6), ["cpu_bf16_vs_fp32_max_rel_logit_diff"] = Math.Round(cpuBf16.MaxRelativeDiff, 6),
                ["cpu_bf16_exact_argmax"] = cpuBf16.ExactArgmax, ["max_rms_logit_diff_allowed"] = Math.Round(bf16Criteria.MaxRmsDiff, 6),
            }));
            bool passed = checks.All(c => c!["passed"]!.GetValue<bool>());
            stdout.WriteLine(new JsonObject
            {
                ["bench"] = "check-cuda", ["seed"] = seed, ["reference_seed"] = referenceSeed,
                ["device"] = dev, ["prompt_len"] = prompt.Length, ["gen_len"] = genLen, ["checks"] = checks, ["passed"] = passed,
            }.ToJsonString());
            return passed ? 0 : 1;
        }
        finally
        {
            try { if (Directory.Exists(root)) Directory.Delete(root, recursive: true); }
            catch (IOException) { }
        }
    }

    static JsonObject Report(string name, string config, GreedyComparison r, int[] generated, JsonObject bounds)
    {
        var o = new JsonObject
        {
            ["name"] = name, ["config"] = config, ["passed"] = r.Passed, ["positions"] = r.Positions, ["generated"] = r.Generated,
            ["exact_argmax"] = r.ExactArgmax, ["within_tie_slack"] = r.WithinSlack,
            ["max_abs_logit_diff"] = Math.Round(r.MaxAbsDiff, 6), ["max_rel_logit_diff"] = Math.Round(r.MaxRelativeDiff, 8),
            ["rms_logit_diff"] = Math.Round(r.RmsDiff, 6),
        };
        foreach (var (k, v) in bounds.ToArray()) { bounds.Remove(k); o[k] = v; }
        o["tokens"] = new JsonArray(generated.Take(16).Select(t => (JsonNode)t).ToArray());
        o["failures"] = new JsonArray(r.Failures.Take(5).Select(f => (JsonNode)f).ToArray());
        return o;
    }
}
