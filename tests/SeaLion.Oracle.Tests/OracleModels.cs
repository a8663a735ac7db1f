using SeaLion.LlamaCppRef;
using SeaLion.Model.Weights;

namespace SeaLion.Oracle.Tests;

/// <summary>
/// Seeded random Llama 3 models (HF folder + the same weights as GGUF), written once per test run into a temp
/// folder of this process and deleted when the collection is done.
/// </summary>
public sealed class OracleModels : IDisposable
{
    public static string TokenizerDir => Path.Combine(AppContext.BaseDirectory, "assets", "llama3-tokenizer");

    readonly Dictionary<string, (string HfDir, string Gguf)> _made = new();
    public string Root { get; } = Path.Combine(Path.GetTempPath(), $"sealion-oracle-{Environment.ProcessId}-{Guid.NewGuid():N}");

    /// <summary>A Llama 3 shaped model (the real 128256-token vocabulary) with the given dimensions.</summary>
    public (string HfDir, string Gguf) Get(int hidden, int layers, int heads, int kvHeads, int ffn, ulong seed)
    {
        string key = $"h{hidden}-l{layers}-a{heads}-kv{kvHeads}-f{ffn}-s{seed}";
        lock (_made)
        {
            if (_made.TryGetValue(key, out var made)) return made;
            Directory.CreateDirectory(Root);
            string cfg = Path.Combine(Root, key + ".json"), dir = Path.Combine(Root, key), gguf = Path.Combine(Root, key + ".gguf");
            File.WriteAllText(cfg, $$"""
                {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 128256,
                 "max_position_embeddings": 8192, "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "hidden_act": "silu",
                 "tie_word_embeddings": false, "bos_token_id": 128000, "eos_token_id": [128001, 128009],
                 "hidden_size": {{hidden}}, "intermediate_size": {{ffn}}, "num_hidden_layers": {{layers}},
                 "num_attention_heads": {{heads}}, "num_key_value_heads": {{kvHeads}}, "torch_dtype": "float32" }
                """);
            RandomCheckpoint.Write(cfg, dir, seed, TokenizerDir, StoredDType.F32);
            GgufWriter.Write(dir, gguf, name: key);
            return _made[key] = (dir, gguf);
        }
    }

    public void Dispose()
    {
        try { if (Directory.Exists(Root)) Directory.Delete(Root, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

/// <summary>Oracle tests run one at a time: the machine has two cores and both libraries use them all.</summary>
[CollectionDefinition("oracle", DisableParallelization = true)]
public sealed class OracleCollection : ICollectionFixture<OracleModels>;
