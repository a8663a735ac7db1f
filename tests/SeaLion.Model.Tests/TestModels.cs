using SeaLion.Model.Weights;

namespace SeaLion.Model.Tests;

/// <summary>Seeded random models written once per test run into a temp folder, shared by the tests.</summary>
public static class TestModels
{
    public static string TokenizerDir => Path.Combine(AppContext.BaseDirectory, "assets", "llama3-tokenizer");
    static readonly string Root = Path.Combine(Path.GetTempPath(), $"sealion-tests-{Environment.ProcessId}");
    static readonly Dictionary<string, string> Made = new();

    /// <summary>A Llama 3 shaped model (real vocabulary) with the given dimensions.</summary>
    public static string Get(int hidden = 64, int layers = 2, int heads = 4, int kvHeads = 2, int ffn = 192, ulong seed = 7,
        string extraConfig = "", StoredDType dtype = StoredDType.F32, long maxShardBytes = 2L << 30)
    {
        string key = $"h{hidden}-l{layers}-a{heads}-kv{kvHeads}-f{ffn}-s{seed}-{dtype}-{maxShardBytes}-{extraConfig.GetHashCode():x}";
        lock (Made)
        {
            if (Made.TryGetValue(key, out var dir)) return dir;
            dir = Path.Combine(Root, key);
            Directory.CreateDirectory(Root);
            string cfg = Path.Combine(Root, key + ".json");
            File.WriteAllText(cfg, $$"""
                {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 128256,
                 "max_position_embeddings": 8192, "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "hidden_act": "silu",
                 "tie_word_embeddings": false, "bos_token_id": 128000, "eos_token_id": [128001, 128009],
                 "hidden_size": {{hidden}}, "intermediate_size": {{ffn}}, "num_hidden_layers": {{layers}},
                 "num_attention_heads": {{heads}}, "num_key_value_heads": {{kvHeads}}, "torch_dtype": "float32" {{extraConfig}} }
                """);
            RandomCheckpoint.Write(cfg, dir, seed, TokenizerDir, dtype, maxShardBytes);
            Made[key] = dir;
            return dir;
        }
    }
}
