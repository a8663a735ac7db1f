using SeaLion.Model.Weights;

namespace SeaLion.Model.Tests;

/// <summary>
/// Seeded random models written once per test run into a temp folder of this process, shared by the tests; the folder
/// (and every <see cref="Scratch"/> folder in it) is deleted when the process exits, and folders left by earlier test
/// processes that were killed are swept at start (each run wrote ~180 MB, and CI runs on the same machine every time).
/// </summary>
public static class TestModels
{
    public static string TokenizerDir => Path.Combine(AppContext.BaseDirectory, "assets", "llama3-tokenizer");
    static readonly string Root = CreateRoot();
    static readonly Dictionary<string, string> Made = new();

    static string CreateRoot()
    {
        const string Prefix = "sealion-tests-";
        foreach (var old in Directory.GetDirectories(Path.GetTempPath(), Prefix + "*"))
            if (int.TryParse(Path.GetFileName(old)[Prefix.Length..], out int pid) && !Alive(pid)) Delete(old);
        string root = Path.Combine(Path.GetTempPath(), $"{Prefix}{Environment.ProcessId}");
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Delete(root);
        return root;
    }

    static bool Alive(int pid)
    {
        try { using var p = System.Diagnostics.Process.GetProcessById(pid); return !p.HasExited; }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    static void Delete(string dir)
    {
        try { Directory.Delete(dir, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>A new empty folder of this test process (deleted with it), for a test that writes files.</summary>
    public static string Scratch(string prefix)
    {
        string dir = Path.Combine(Root, $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }

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
