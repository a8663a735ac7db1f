using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SeaLion.Model.Gguf;

/// <summary>
/// A GGUF Llama 3 file as the model folder every verb takes: its llama.* metadata become config.json, its
/// tokenizer.ggml.* vocabulary, merges and token types become tokenizer.json (byte-level BPE, the llama-bpe
/// pre-tokenizer), its chat template and special tokens tokenizer_config.json, in a folder under the cache that
/// names the GGUF file it describes; the weights stay in the GGUF file and are read from it at load.
/// </summary>
public static class GgufModel
{
    /// <summary>The file in a described folder that holds the GGUF file's path.</summary>
    public const string SourceMarker = "gguf-source.txt";

    static readonly (string Hf, string Gguf)[] LayerNames =
    [
        ("input_layernorm.weight", "attn_norm.weight"), ("self_attn.q_proj.weight", "attn_q.weight"), ("self_attn.k_proj.weight", "attn_k.weight"),
        ("self_attn.v_proj.weight", "attn_v.weight"), ("self_attn.o_proj.weight", "attn_output.weight"), ("post_attention_layernorm.weight", "ffn_norm.weight"),
        ("mlp.gate_proj.weight", "ffn_gate.weight"), ("mlp.up_proj.weight", "ffn_up.weight"), ("mlp.down_proj.weight", "ffn_down.weight"),
    ];

    /// <summary>The GGUF tensor that holds an HF tensor (lm_head falls back to the embeddings when the file ties them).</summary>
    public static string GgufName(string hf, GgufFile f)
    {
        switch (hf)
        {
            case "model.embed_tokens.weight": return "token_embd.weight";
            case "model.norm.weight": return "output_norm.weight";
            case "lm_head.weight": return f.Tensors.ContainsKey("output.weight") ? "output.weight" : "token_embd.weight";
        }
        var parts = hf.Split('.');
        if (parts.Length >= 5 && parts[0] == "model" && parts[1] == "layers")
        {
            string rest = string.Join('.', parts[3..]);
            foreach (var (h, g) in LayerNames)
                if (h == rest) return $"blk.{parts[2]}.{g}";
        }
        throw new InvalidDataException($"no GGUF name for tensor '{hf}'");
    }

    /// <summary>The GGUF file a described folder stands for, or null for an ordinary folder.</summary>
    public static string? SourceOf(string dir)
    {
        string marker = System.IO.Path.Combine(dir, SourceMarker);
        return File.Exists(marker) ? File.ReadAllText(marker).Trim() : null;
    }

    /// <summary>The folder describing <paramref name="ggufPath"/> under <paramref name="cacheRoot"/>, written on first use.</summary>
    public static string Describe(string ggufPath, string cacheRoot)
    {
        string full = System.IO.Path.GetFullPath(ggufPath);
        var info = new FileInfo(full);
        if (!info.Exists) throw new FileNotFoundException($"--model: GGUF file '{ggufPath}' does not exist", ggufPath);
        string key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{full}|{info.Length}|{info.LastWriteTimeUtc.Ticks}")))[..16].ToLowerInvariant();
        string dir = System.IO.Path.Combine(cacheRoot, "gguf", $"{System.IO.Path.GetFileNameWithoutExtension(full)}-{key}");
        if (File.Exists(System.IO.Path.Combine(dir, SourceMarker))) return dir;
        string tmp = dir + $".tmp-{Environment.ProcessId}";
        Directory.CreateDirectory(tmp);
        using (var f = GgufFile.Open(full))
        {
            File.WriteAllText(System.IO.Path.Combine(tmp, "config.json"), Config(f));
            File.WriteAllText(System.IO.Path.Combine(tmp, "tokenizer.json"), TokenizerJson(f));
            File.WriteAllText(System.IO.Path.Combine(tmp, "tokenizer_config.json"), TokenizerConfig(f));
        }
        File.WriteAllText(System.IO.Path.Combine(tmp, SourceMarker), full);
        try { Directory.Move(tmp, dir); }
        catch (IOException) when (File.Exists(System.IO.Path.Combine(dir, SourceMarker))) { Directory.Delete(tmp, recursive: true); }
        return dir;
    }

    static string Config(GgufFile f)
    {
        string arch = f.String("general.architecture");
        if (arch != "llama") throw new InvalidDataException($"{f.Path}: general.architecture is '{arch}'; only Llama models ('llama') are supported");
        long heads = f.Int("llama.attention.head_count"), hidden = f.Int("llama.embedding_length");
        long kv = f.OptionalInt("llama.attention.head_count_kv") ?? heads;
        long headDim = f.OptionalInt("llama.rope.dimension_count") ?? hidden / heads;
        long vocab = f.OptionalInt("llama.vocab_size") ?? f.Array("tokenizer.ggml.tokens").Length;
        if (f.Metadata.ContainsKey("llama.rope.scaling.type") && f.Metadata["llama.rope.scaling.type"] is string st && st != "none")
            throw new InvalidDataException($"{f.Path}: llama.rope.scaling.type '{st}' is not supported");
        var eos = new List<long>();
        foreach (var k in new[] { "tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id" })
            if (f.OptionalInt(k) is { } id && !eos.Contains(id)) eos.Add(id);
        var cfg = new JsonObject
        {
            ["architectures"] = new JsonArray("LlamaForCausalLM"), ["model_type"] = "llama",
            ["hidden_size"] = hidden, ["intermediate_size"] = f.Int("llama.feed_forward_length"), ["num_hidden_layers"] = f.Int("llama.block_count"),
            ["num_attention_heads"] = heads, ["num_key_value_heads"] = kv, ["head_dim"] = headDim,
            ["max_position_embeddings"] = f.OptionalInt("llama.context_length") ?? 8192,
            ["rms_norm_eps"] = f.OptionalFloat("llama.attention.layer_norm_rms_epsilon") ?? 1e-5,
            ["rope_theta"] = f.OptionalFloat("llama.rope.freq_base") ?? 500000.0,
            ["vocab_size"] = vocab, ["hidden_act"] = "silu",
            ["tie_word_embeddings"] = !f.Tensors.ContainsKey("output.weight"),
            ["bos_token_id"] = f.OptionalInt("tokenizer.ggml.bos_token_id"),
            ["eos_token_id"] = eos.Count == 1 ? eos[0] : new JsonArray([.. eos.Select(e => (JsonNode)e)]),
        };
        return cfg.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    const int TokenControl = 3, TokenUserDefined = 4;

    static string TokenizerJson(GgufFile f)
    {
        string model = f.String("tokenizer.ggml.model");
        if (model != "gpt2") throw new InvalidDataException($"{f.Path}: tokenizer.ggml.model is '{model}'; only byte-level BPE ('gpt2', Llama 3's) is supported");
        if (!f.Metadata.TryGetValue("tokenizer.ggml.pre", out var pre))
            Console.Error.WriteLine($"sealion: warning: {f.Path} has no tokenizer.ggml.pre; assuming Llama 3's pre-tokenizer ('llama-bpe'), as llama.cpp does with a warning");
        else if (pre is not ("llama-bpe" or "llama3" or "smaug-bpe"))
            throw new InvalidDataException($"{f.Path}: tokenizer.ggml.pre is '{pre}'; only Llama 3's pre-tokenizer ('llama-bpe') is supported");
        var tokens = f.Array("tokenizer.ggml.tokens");
        var types = f.Metadata.TryGetValue("tokenizer.ggml.token_type", out var t) && t is object[] ta ? ta : null;
        var merges = f.Array("tokenizer.ggml.merges");
        var vocab = new JsonObject();
        var added = new JsonArray();
        for (int i = 0; i < tokens.Length; i++)
        {
            string s = tokens[i] as string ?? throw new InvalidDataException($"{f.Path}: tokenizer.ggml.tokens[{i}] is not a string");
            long type = types is null ? 1 : Convert.ToInt64(types[i]);
            if (type is TokenControl or TokenUserDefined)
                added.Add(new JsonObject { ["id"] = i, ["content"] = s, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = type == TokenUserDefined, ["special"] = type == TokenControl });
            if (!vocab.ContainsKey(s)) vocab[s] = i;
        }
        var json = new JsonObject
        {
            ["version"] = "1.0", ["truncation"] = null, ["padding"] = null, ["added_tokens"] = added, ["normalizer"] = null,
            ["pre_tokenizer"] = JsonNode.Parse(Llama3PreTokenizer),
            ["post_processor"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = false, ["use_regex"] = true },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = true, ["use_regex"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = null, ["end_of_word_suffix"] = null,
                ["fuse_unk"] = false, ["byte_fallback"] = false, ["ignore_merges"] = true, ["vocab"] = vocab,
                ["merges"] = new JsonArray([.. merges.Select(m => (JsonNode)(m as string ?? throw new InvalidDataException($"{f.Path}: tokenizer.ggml.merges holds a non-string")))]),
            },
        };
        return json.ToJsonString();
    }

    /// <summary>Llama 3's pre-tokenizer (llama.cpp's 'llama-bpe'): its split regex, then byte-level mapping.</summary>
    const string Llama3PreTokenizer = """
        {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]}
        """;

    static string TokenizerConfig(GgufFile f)
    {
        var tokens = f.Array("tokenizer.ggml.tokens");
        string? Token(string key) => f.OptionalInt(key) is { } id && id >= 0 && id < tokens.Length ? tokens[id] as string : null;
        var cfg = new JsonObject
        {
            ["bos_token"] = Token("tokenizer.ggml.bos_token_id") ?? throw new InvalidDataException($"{f.Path}: tokenizer.ggml.bos_token_id is missing"),
            ["eos_token"] = Token("tokenizer.ggml.eos_token_id"),
            ["add_bos_token"] = f.Metadata.TryGetValue("tokenizer.ggml.add_bos_token", out var ab) && ab is bool b ? b : null,
        };
        if (f.Metadata.TryGetValue("tokenizer.chat_template", out var ct) && ct is string template) cfg["chat_template"] = template;
        return cfg.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>
    /// An HF tensor's values from the GGUF file as float32 in HF's layout: dequantized, and for q_proj / k_proj with
    /// llama.cpp's rope row permutation undone (it interleaves each head's two halves; HF keeps them split).
    /// </summary>
    public static float[] ReadHf(GgufFile f, string hf, int heads, int kvHeads, out long[] shape)
    {
        var t = Find(f, hf);
        shape = t.Shape;
        var values = new float[t.Elements];
        GgmlTypes.Dequantize(t.Type, f.Data(t), values);
        long cols = shape.Length > 1 ? shape[1] : 1;
        return RopeHeads(hf, heads, kvHeads) is int h and > 0 ? UnpermuteRows(values, shape[0], cols, h) : values;
    }

    /// <summary>
    /// An HF tensor's stored blocks, as they are (not dequantized), its rows in HF's order: llama.cpp's q/k permutation
    /// moves whole rows, and a quantized row is whole blocks, so it is undone by moving rows.
    /// </summary>
    public static byte[] ReadHfRows(GgufFile f, string hf, int heads, int kvHeads, out GgmlType type, out long[] shape)
    {
        var t = Find(f, hf);
        shape = t.Shape;
        type = t.Type;
        var bytes = f.Data(t).ToArray();
        long rows = shape[0];
        return RopeHeads(hf, heads, kvHeads) is int h and > 0 ? UnpermuteRows(bytes, rows, bytes.LongLength / rows, h) : bytes;
    }

    static GgufTensor Find(GgufFile f, string hf) =>
        f.Tensors.TryGetValue(GgufName(hf, f), out var found) ? found : throw new InvalidDataException($"{f.Path}: tensor '{GgufName(hf, f)}' (for '{hf}') is missing");

    static int RopeHeads(string hf, int heads, int kvHeads) =>
        hf.EndsWith("q_proj.weight", StringComparison.Ordinal) ? heads : hf.EndsWith("k_proj.weight", StringComparison.Ordinal) ? kvHeads : 0;

    /// <summary>llama.cpp interleaves each head's two rotary halves by rows; HF keeps them split: row 2i + j goes to j · half + i.</summary>
    static T[] UnpermuteRows<T>(T[] values, long rows, long rowLength, int heads)
    {
        long headDim = rows / heads, half = headDim / 2;
        var hfValues = new T[values.Length];
        for (long h = 0; h < heads; h++)
            for (long i = 0; i < half; i++)
                for (long j = 0; j < 2; j++)
                {
                    long src = h * headDim + 2 * i + j, dst = h * headDim + j * half + i;
                    Array.Copy(values, src * rowLength, hfValues, dst * rowLength, rowLength);
                }
        return hfValues;
    }
}
