using System.Text.Json;
using System.Text.Json.Nodes;

namespace SeaLion.Model.Weights;

/// <summary>
/// Writes a complete Hugging Face model folder with seeded random weights for any Llama config: config.json,
/// generation_config.json, safetensors (sharded with an index above a size), and the tokenizer files.
/// Each tensor draws from its own stream (seed, tensor name), so values do not depend on sharding or order.
/// Scales follow the reference oracle's: decisive logits (embeddings std 1, LM head 0.5), so greedy
/// comparisons between implementations are meaningful.
/// </summary>
public static class RandomCheckpoint
{
    /// <param name="weights">false: only config.json, generation_config.json and the tokenizer files (for a writer that
    /// takes the tensors from <see cref="Entries"/> straight into another format, e.g. an 8B GGUF without the 16 GB folder).</param>
    public static void Write(string configPath, string outDir, ulong seed, string tokenizerDir, StoredDType? dtype = null, long maxShardBytes = 2L << 30,
        bool weights = true)
    {
        string configJson = File.ReadAllText(configPath);
        var config = LlamaConfig.Parse(configJson, configPath);
        var stored = dtype ?? StoredOf(config);
        Directory.CreateDirectory(outDir);

        var entries = weights ? Entries(config, seed, stored) : [];
        var shards = new List<List<SafetensorsWriter.Entry>> { new() };
        long size = 0;
        foreach (var e in entries)
        {
            if (shards[^1].Count > 0 && size + e.Bytes > maxShardBytes) { shards.Add(new()); size = 0; }
            shards[^1].Add(e);
            size += e.Bytes;
        }
        foreach (var old in Directory.GetFiles(outDir, "model*.safetensors*")) File.Delete(old);
        if (weights && shards.Count == 1) SafetensorsWriter.Write(Path.Combine(outDir, "model.safetensors"), shards[0]);
        else if (weights)
        {
            var map = new JsonObject();
            for (int i = 0; i < shards.Count; i++)
            {
                string file = $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
                SafetensorsWriter.Write(Path.Combine(outDir, file), shards[i]);
                foreach (var e in shards[i]) map[e.Name] = file;
            }
            var index = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = entries.Sum(e => e.Bytes) }, ["weight_map"] = map };
            File.WriteAllText(Path.Combine(outDir, "model.safetensors.index.json"), index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        }

        var cfg = JsonNode.Parse(configJson)!.AsObject();
        cfg["torch_dtype"] = stored switch { StoredDType.BF16 => "bfloat16", StoredDType.F16 => "float16", _ => "float32" };
        File.WriteAllText(Path.Combine(outDir, "config.json"), cfg.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        var gen = new JsonObject { ["bos_token_id"] = config.BosTokenId, ["eos_token_id"] = new JsonArray(config.EosTokenIds.Select(i => (JsonNode)i).ToArray()), ["do_sample"] = false };
        File.WriteAllText(Path.Combine(outDir, "generation_config.json"), gen.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        foreach (var f in new[] { "tokenizer.json", "tokenizer_config.json" })
            File.Copy(Path.Combine(tokenizerDir, f), Path.Combine(outDir, f), overwrite: true);
    }

    /// <summary>The checkpoint's tensors in the order <see cref="Write"/> stores them, each drawn when produced.</summary>
    public static List<SafetensorsWriter.Entry> Entries(LlamaConfig config, ulong seed, StoredDType? dtype = null)
    {
        var stored = dtype ?? StoredOf(config);
        return CheckpointLoader.ExpectedShapes(config).Select(kv =>
            new SafetensorsWriter.Entry(kv.Key, kv.Value, stored, () => Generate(kv.Key, kv.Value, seed, stored))).ToList();
    }

    static StoredDType StoredOf(LlamaConfig config) =>
        config.TorchDtype switch { "bfloat16" => StoredDType.BF16, "float16" => StoredDType.F16, _ => StoredDType.F32 };

    internal static double Std(string name) => name switch
    {
        _ when name.EndsWith("embed_tokens.weight") => 1.0,
        _ when name.EndsWith("lm_head.weight") => 0.5,
        _ when name.Contains("q_proj") || name.Contains("k_proj") || name.Contains("v_proj") => 0.25,
        _ when name.Contains("gate_proj") || name.Contains("up_proj") => 0.2,
        _ => 0.1,   // o_proj, down_proj; norms are 1 + N(0, 0.1)
    };

    static byte[] Generate(string name, long[] shape, ulong seed, StoredDType dtype)
    {
        long n = shape.Aggregate(1L, (a, b) => a * b);
        bool norm = name.EndsWith("norm.weight");
        double std = Std(name);
        var values = new float[n];
        const int Block = 1 << 16;
        // Blocks draw from independent streams so generation parallelises and stays deterministic.
        System.Threading.Tasks.Parallel.For(0, (int)((n + Block - 1) / Block), b =>
        {
            var rng = new SplitMix64(seed ^ Fnv1a(name) ^ ((ulong)b * 0x9E3779B97F4A7C15UL));
            long end = Math.Min(n, (long)(b + 1) * Block);
            for (long i = (long)b * Block; i < end; i += 2)
            {
                // Box-Muller: two standard normals from two uniforms in (0, 1].
                double u1 = rng.NextDouble() + 1e-300, u2 = rng.NextDouble();
                double r = Math.Sqrt(-2 * Math.Log(u1));
                values[i] = (float)((norm ? 1.0 : 0.0) + std * r * Math.Cos(2 * Math.PI * u2));
                if (i + 1 < end) values[i + 1] = (float)((norm ? 1.0 : 0.0) + std * r * Math.Sin(2 * Math.PI * u2));
            }
        });
        return Encode(values, dtype);
    }

    internal static byte[] Encode(float[] values, StoredDType dtype)
    {
        if (dtype == StoredDType.F32)
        {
            var bytes = new byte[values.LongLength * 4];
            Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
            return bytes;
        }
        var outBytes = new byte[values.LongLength * 2];
        for (long i = 0; i < values.LongLength; i++)
        {
            ushort h = dtype == StoredDType.BF16 ? ToBFloat16(values[i]) : BitConverter.HalfToUInt16Bits((Half)values[i]);
            outBytes[2 * i] = (byte)h; outBytes[2 * i + 1] = (byte)(h >> 8);
        }
        return outBytes;
    }

    /// <summary>float32 to bfloat16, round to nearest even (as torch does).</summary>
    internal static ushort ToBFloat16(float f)
    {
        uint bits = BitConverter.SingleToUInt32Bits(f);
        if (float.IsNaN(f)) return (ushort)((bits >> 16) | 0x40);
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }

    internal static ulong NameHash(string s) => Fnv1a(s);

    static ulong Fnv1a(string s)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in s) { h ^= c; h *= 1099511628211UL; }
        return h;
    }
}
