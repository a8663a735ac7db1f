using System.Text;
using System.Text.Json;
using SeaLion.Model.Weights;

namespace SeaLion.LlamaCppRef;

/// <summary>
/// GGUF v3 writer for llama.cpp (the oracle tests' and the llama.cpp benchmark's; not the product's): an HF Llama 3 folder (F32 safetensors, config.json, tokenizer.json,
/// tokenizer_config.json) written as llama.cpp reads it, the same file the reference gguf_llama.py writes:
/// the same metadata keys in the same order, the BPE vocabulary, token types and merges from tokenizer.json,
/// HF tensor names mapped to llama.cpp's, q/k rows permuted from HF's rotate_half (half-split) rope layout to
/// llama.cpp's interleaved one, tensor data aligned to 32 bytes. F32 (GGML type 0), or with <c>bf16</c> every matrix in
/// BF16 (type 30, rounded to nearest even as torch rounds) and the norms in F32, as llama.cpp's converter writes --outtype bf16.
/// The config is read straight from config.json, not through the project's LlamaConfig, to keep the oracle
/// independent of the code under test.
/// </summary>
public static class GgufWriter
{
    const uint GgufVersion = 3;
    const int Alignment = 32;
    const uint GgmlTypeF32 = 0, GgmlTypeBF16 = 30;

    // GGUF metadata value types
    const uint TU32 = 4, TI32 = 5, TF32 = 6, TString = 8, TArray = 9;

    // llama.cpp token types (llama_token_type)
    const int TokenNormal = 1, TokenControl = 3, TokenUserDefined = 4, TokenUnused = 5;

    static readonly Dictionary<string, string> TopNames = new()
    {
        ["model.embed_tokens.weight"] = "token_embd.weight",
        ["model.norm.weight"] = "output_norm.weight",
        ["lm_head.weight"] = "output.weight",
    };

    static readonly Dictionary<string, string> LayerNames = new()
    {
        ["input_layernorm"] = "attn_norm",
        ["self_attn.q_proj"] = "attn_q",
        ["self_attn.k_proj"] = "attn_k",
        ["self_attn.v_proj"] = "attn_v",
        ["self_attn.o_proj"] = "attn_output",
        ["post_attention_layernorm"] = "ffn_norm",
        ["mlp.gate_proj"] = "ffn_gate",
        ["mlp.up_proj"] = "ffn_up",
        ["mlp.down_proj"] = "ffn_down",
    };

    /// <summary>
    /// Writes <paramref name="hfDir"/> (tokenizer files taken from it unless given) as GGUF to <paramref name="path"/>; the
    /// tensors are its safetensors (F32 or BF16) unless <paramref name="tensors"/> gives them (e.g. seeded random ones
    /// drawn one at a time, so an 8B BF16 GGUF needs neither a 16 GB folder beside it nor 32 GB of F32).
    /// </summary>
    public static void Write(string hfDir, string path, string? tokenizerDir = null, string name = "model", bool bf16 = false,
        IEnumerable<SafetensorsWriter.Entry>? tensors = null)
    {
        tokenizerDir ??= hfDir;
        using var cfgDoc = JsonDocument.Parse(File.ReadAllText(Path.Combine(hfDir, "config.json")));
        var cfg = cfgDoc.RootElement;
        if (cfg.TryGetProperty("rope_scaling", out var rs) && rs.ValueKind != JsonValueKind.Null)
            throw new NotSupportedException("rope_scaling needs llama.cpp's rope_freqs tensor, which this writer does not make");
        int hidden = Int(cfg, "hidden_size")!.Value, heads = Int(cfg, "num_attention_heads")!.Value;
        int kvHeads = Int(cfg, "num_key_value_heads") ?? heads;
        int headDim = Int(cfg, "head_dim") is int hd && hd != 0 ? hd : hidden / heads;
        int vocab = Int(cfg, "vocab_size")!.Value;

        var kv = new List<byte[]>();
        void Put(string key, uint type, byte[] payload) => kv.Add([.. Str(key), .. U32(type), .. payload]);
        void PutStr(string key, string v) => Put(key, TString, Str(v));
        void PutU32(string key, uint v) => Put(key, TU32, U32(v));
        void PutF32(string key, float v) => Put(key, TF32, BitConverter.GetBytes(v));
        void PutArr(string key, uint elemType, IReadOnlyCollection<byte[]> items)
        {
            var ms = new MemoryStream();
            ms.Write(U32(elemType)); ms.Write(U64((ulong)items.Count));
            foreach (var i in items) ms.Write(i);
            Put(key, TArray, ms.ToArray());
        }

        PutStr("general.architecture", "llama"); PutStr("general.name", name);
        PutU32("general.alignment", Alignment); PutU32("general.file_type", bf16 ? 32u : 0u);   // llama_ftype: ALL_F32 or MOSTLY_BF16
        PutU32("llama.context_length", (uint)(Int(cfg, "max_position_embeddings") ?? 8192));
        PutU32("llama.embedding_length", (uint)hidden); PutU32("llama.block_count", (uint)Int(cfg, "num_hidden_layers")!.Value);
        PutU32("llama.feed_forward_length", (uint)Int(cfg, "intermediate_size")!.Value); PutU32("llama.rope.dimension_count", (uint)headDim);
        PutU32("llama.attention.head_count", (uint)heads); PutU32("llama.attention.head_count_kv", (uint)kvHeads);
        PutF32("llama.attention.layer_norm_rms_epsilon", (float)(Dbl(cfg, "rms_norm_eps") ?? 1e-5));
        PutF32("llama.rope.freq_base", (float)(Dbl(cfg, "rope_theta") ?? 500000.0));
        PutU32("llama.vocab_size", (uint)vocab);

        // Vocabulary: tokenizer.json's model.vocab, then added tokens (control if special, else user-defined),
        // holes filled with unused [PADi] tokens.
        using var tj = JsonDocument.Parse(File.ReadAllText(Path.Combine(tokenizerDir, "tokenizer.json")));
        var tokens = new string?[vocab];
        var types = Enumerable.Repeat(TokenNormal, vocab).ToArray();
        foreach (var p in tj.RootElement.GetProperty("model").GetProperty("vocab").EnumerateObject())
        {
            int id = p.Value.GetInt32();
            if (id < vocab) tokens[id] = p.Name;
        }
        foreach (var t in tj.RootElement.GetProperty("added_tokens").EnumerateArray())
        {
            int id = t.GetProperty("id").GetInt32();
            if (id >= vocab) continue;
            tokens[id] = t.GetProperty("content").GetString();
            types[id] = t.GetProperty("special").GetBoolean() ? TokenControl : TokenUserDefined;
        }
        for (int i = 0; i < vocab; i++)
            if (tokens[i] is null) { tokens[i] = $"[PAD{i}]"; types[i] = TokenUnused; }
        var merges = tj.RootElement.GetProperty("model").GetProperty("merges").EnumerateArray()
            .Select(m => m.ValueKind == JsonValueKind.String ? m.GetString()! : string.Join(' ', m.EnumerateArray().Select(x => x.GetString())))
            .ToList();
        PutStr("tokenizer.ggml.model", "gpt2"); PutStr("tokenizer.ggml.pre", "llama-bpe");
        PutArr("tokenizer.ggml.tokens", TString, tokens.Select(t => Str(t!)).ToList());
        PutArr("tokenizer.ggml.token_type", TI32, types.Select(t => BitConverter.GetBytes(t)).ToList());
        PutArr("tokenizer.ggml.merges", TString, merges.Select(Str).ToList());
        PutU32("tokenizer.ggml.bos_token_id", 128000); PutU32("tokenizer.ggml.eos_token_id", 128009);
        using (var tc = JsonDocument.Parse(File.ReadAllText(Path.Combine(tokenizerDir, "tokenizer_config.json"))))
            if (tc.RootElement.TryGetProperty("chat_template", out var ct) && ct.ValueKind == JsonValueKind.String && ct.GetString() is { Length: > 0 } template)
                PutStr("tokenizer.chat_template", template);

        // Tensors, in the checkpoint's order; tied embeddings (no lm_head) need nothing: llama.cpp falls back to token_embd.
        tensors ??= Safetensors.ReadFolder(hfDir).Select(kv => new SafetensorsWriter.Entry(kv.Key, kv.Value.Shape, kv.Value.DType, () => Read(kv.Value)));
        var written = new List<(string Gguf, SafetensorsWriter.Entry Src, int PermuteHeads)>();
        foreach (var t in tensors)
        {
            string hfName = t.Name;
            if (t.DType is not (StoredDType.F32 or StoredDType.BF16)) throw new NotSupportedException($"{hfName}: {t.DType}; this writer takes F32 or BF16 tensors");
            if (t.Shape.Length is < 1 or > 2) throw new NotSupportedException($"{hfName}: rank {t.Shape.Length}");
            string g;
            if (TopNames.TryGetValue(hfName, out var top)) g = top;
            else
            {
                var parts = hfName.Split('.');
                if (parts.Length < 5 || parts[0] != "model" || parts[1] != "layers" || parts[^1] != "weight"
                    || !LayerNames.TryGetValue(string.Join('.', parts[3..^1]), out var mapped))
                    throw new NotSupportedException($"no llama.cpp name for tensor '{hfName}'");
                g = $"blk.{parts[2]}.{mapped}.weight";
            }
            int permute = hfName.EndsWith("q_proj.weight") ? heads : hfName.EndsWith("k_proj.weight") ? kvHeads : 0;
            written.Add((g, t, permute));
        }

        var infos = new MemoryStream();
        ulong offset = 0;
        foreach (var (g, src, _) in written)
        {
            infos.Write(Str(g));
            infos.Write(U32((uint)src.Shape.Length));
            foreach (long d in src.Shape.Reverse()) infos.Write(U64((ulong)d));   // GGUF lists ne[0] (the contiguous dim) first
            bool half = bf16 && src.Shape.Length == 2;
            infos.Write(U32(half ? GgmlTypeBF16 : GgmlTypeF32)); infos.Write(U64(offset));
            offset += (ulong)(src.Shape.Aggregate(1L, (a, b) => a * b) * (half ? 2 : 4)); offset += Pad(offset);
        }

        using var f = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        f.Write("GGUF"u8); f.Write(U32(GgufVersion)); f.Write(U64((ulong)written.Count)); f.Write(U64((ulong)kv.Count));
        foreach (var x in kv) f.Write(x);
        infos.Position = 0; infos.CopyTo(f);
        f.Write(new byte[Pad((ulong)f.Position)]);
        foreach (var (_, src, permuteHeads) in written)
        {
            var data = src.Produce();
            int size = StoredTensor.ElementSize(src.DType);
            if (permuteHeads > 0) data = PermuteRows(data, (int)src.Shape[0], (int)src.Shape[1], permuteHeads, size);
            bool half = bf16 && src.Shape.Length == 2;
            if (half && src.DType == StoredDType.F32) data = ToBf16(data);
            else if (!half && src.DType == StoredDType.BF16) data = Bf16ToF32(data);
            f.Write(data);
            f.Write(new byte[Pad((ulong)data.Length)]);
        }
    }

    static byte[] Read(StoredTensor t)
    {
        var data = new byte[t.Length];
        using var s = File.OpenRead(t.File);
        s.Position = t.Offset;
        s.ReadExactly(data);
        return data;
    }

    /// <summary>bfloat16 to float32: exact (the upper half of the float's bits).</summary>
    static byte[] Bf16ToF32(byte[] bf16)
    {
        var output = new byte[bf16.Length * 2];
        for (int i = 0; i < bf16.Length / 2; i++) { output[4 * i + 2] = bf16[2 * i]; output[4 * i + 3] = bf16[2 * i + 1]; }
        return output;
    }

    /// <summary>float32 to bfloat16, round to nearest even (NaN kept a quiet NaN).</summary>
    static byte[] ToBf16(byte[] f32)
    {
        var output = new byte[f32.Length / 2];
        for (int i = 0; i < output.Length / 2; i++)
        {
            uint bits = BitConverter.ToUInt32(f32, 4 * i);
            ushort b = float.IsNaN(BitConverter.UInt32BitsToSingle(bits)) ? (ushort)((bits >> 16) | 0x40) : (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
            BitConverter.TryWriteBytes(output.AsSpan(2 * i), b);
        }
        return output;
    }

    /// <summary>
    /// HF q/k weight [rows, cols] to llama.cpp's rope order. Per head, HF rotates pairs (j, j + hd/2) and
    /// llama.cpp pairs (2j, 2j + 1): source row t·hd/2 + j goes to row 2j + t.
    /// </summary>
    public static byte[] PermuteRows(byte[] data, int rows, int cols, int heads, int elementSize)
    {
        if (rows % heads != 0 || (rows / heads) % 2 != 0) throw new ArgumentException($"{rows} rows do not split into {heads} heads of even size");
        int hd = rows / heads, rowBytes = cols * elementSize;
        var output = new byte[data.Length];
        for (int h = 0; h < heads; h++)
            for (int j = 0; j < hd / 2; j++)
                for (int t = 0; t < 2; t++)
                {
                    int src = h * hd + t * (hd / 2) + j, dst = h * hd + 2 * j + t;
                    Buffer.BlockCopy(data, src * rowBytes, output, dst * rowBytes, rowBytes);
                }
        return output;
    }

    static ulong Pad(ulong n) => (ulong)((Alignment - (long)(n % Alignment)) % Alignment);
    static byte[] U32(uint v) => BitConverter.GetBytes(v);
    static byte[] U64(ulong v) => BitConverter.GetBytes(v);
    static byte[] Str(string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        return [.. U64((ulong)b.Length), .. b];
    }

    static int? Int(JsonElement e, string key) =>
        e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : null;
    static double? Dbl(JsonElement e, string key) =>
        e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;
}
