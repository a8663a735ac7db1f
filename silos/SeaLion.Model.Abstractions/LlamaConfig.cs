using System.Text.Json;

namespace SeaLion.Model;

/// <summary>RoPE frequency scaling: none, linear, or Llama 3.1's piecewise "llama3" scaling.</summary>
public sealed record RopeScaling(string Type, double Factor, double LowFreqFactor, double HighFreqFactor, int OriginalMaxPositions);

/// <summary>
/// The subset of a Hugging Face Llama config.json (plus generation_config.json) that the forward pass needs.
/// Everything the file holds that would change the math but is not implemented is rejected by name.
/// </summary>
public sealed record LlamaConfig
{
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    public required int NumKvHeads { get; init; }
    public required int HeadDim { get; init; }
    public required int VocabSize { get; init; }
    public required int MaxPositions { get; init; }
    public double RmsNormEps { get; init; } = 1e-6;
    public double RopeTheta { get; init; } = 10000.0;
    public RopeScaling? RopeScaling { get; init; }
    public bool TieWordEmbeddings { get; init; }
    public int? BosTokenId { get; init; }
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];
    public string? TorchDtype { get; init; }

    public int QueryGroupSize => NumHeads / NumKvHeads;

    /// <summary>Reads DIR/config.json and, if present, DIR/generation_config.json (its eos ids join the config's).</summary>
    public static LlamaConfig FromDirectory(string dir)
    {
        string path = Path.Combine(dir, "config.json");
        if (!File.Exists(path)) throw new FileNotFoundException($"model folder '{dir}' has no config.json", path);
        var config = Parse(File.ReadAllText(path), path);
        string genPath = Path.Combine(dir, "generation_config.json");
        if (File.Exists(genPath))
        {
            using var gen = ParseJson(File.ReadAllText(genPath), genPath);
            var extra = ReadIds(gen.RootElement, "eos_token_id", genPath);
            if (extra.Count > 0) config = config with { EosTokenIds = config.EosTokenIds.Concat(extra).Distinct().ToArray() };
        }
        return config;
    }

    public static LlamaConfig Parse(string json, string source = "config.json")
    {
        using var doc = ParseJson(json, source);
        var root = doc.RootElement;
        string[] archs = root.TryGetProperty("architectures", out var a) && a.ValueKind == JsonValueKind.Array
            ? a.EnumerateArray().Select(e => e.GetString() ?? "").ToArray() : [];
        string modelType = Str(root, "model_type") ?? "";
        if (!archs.Contains("LlamaForCausalLM") && modelType != "llama")
            throw new NotSupportedException(
                $"{source}: architecture [{string.Join(", ", archs)}] (model_type '{modelType}') is not supported; expected LlamaForCausalLM / model_type 'llama'");
        if (Bool(root, "attention_bias") || Bool(root, "mlp_bias"))
            throw new NotSupportedException($"{source}: attention_bias / mlp_bias = true is not supported (Llama 3 has no biases)");
        string act = Str(root, "hidden_act") ?? "silu";
        if (act != "silu") throw new NotSupportedException($"{source}: hidden_act '{act}' is not supported; expected 'silu'");

        int hidden = Int(root, "hidden_size", source, required: true)!.Value;
        int heads = Int(root, "num_attention_heads", source, required: true)!.Value;
        int kvHeads = Int(root, "num_key_value_heads", source) ?? heads;
        int headDim = Int(root, "head_dim", source) ?? (heads > 0 ? hidden / heads : 0);
        var config = new LlamaConfig
        {
            HiddenSize = hidden,
            IntermediateSize = Int(root, "intermediate_size", source, required: true)!.Value,
            NumLayers = Int(root, "num_hidden_layers", source, required: true)!.Value,
            NumHeads = heads,
            NumKvHeads = kvHeads,
            HeadDim = headDim,
            VocabSize = Int(root, "vocab_size", source, required: true)!.Value,
            MaxPositions = Int(root, "max_position_embeddings", source) ?? 2048,
            RmsNormEps = Num(root, "rms_norm_eps") ?? 1e-6,
            RopeTheta = Num(root, "rope_theta") ?? 10000.0,
            RopeScaling = ReadRopeScaling(root, source),
            TieWordEmbeddings = Bool(root, "tie_word_embeddings"),
            BosTokenId = Int(root, "bos_token_id", source),
            EosTokenIds = ReadIds(root, "eos_token_id", source),
            TorchDtype = Str(root, "torch_dtype"),
        };
        config.Validate(source);
        return config;
    }

    void Validate(string source)
    {
        void Positive(string field, int v) { if (v <= 0) throw new InvalidDataException($"{source}: {field} must be positive, got {v}"); }
        Positive("hidden_size", HiddenSize); Positive("intermediate_size", IntermediateSize);
        Positive("num_hidden_layers", NumLayers); Positive("num_attention_heads", NumHeads);
        Positive("num_key_value_heads", NumKvHeads); Positive("head_dim", HeadDim);
        Positive("vocab_size", VocabSize); Positive("max_position_embeddings", MaxPositions);
        if (NumHeads % NumKvHeads != 0)
            throw new InvalidDataException($"{source}: num_attention_heads ({NumHeads}) must be a multiple of num_key_value_heads ({NumKvHeads})");
        if (HeadDim % 2 != 0) throw new InvalidDataException($"{source}: head_dim must be even for rotary embeddings, got {HeadDim}");
        if (RmsNormEps <= 0) throw new InvalidDataException($"{source}: rms_norm_eps must be positive, got {RmsNormEps}");
        if (RopeTheta <= 0) throw new InvalidDataException($"{source}: rope_theta must be positive, got {RopeTheta}");
        foreach (int id in EosTokenIds.Append(BosTokenId ?? 0))
            if (id < 0 || id >= VocabSize) throw new InvalidDataException($"{source}: special token id {id} is outside the vocabulary (vocab_size {VocabSize})");
    }

    static RopeScaling? ReadRopeScaling(JsonElement root, string source)
    {
        if (!root.TryGetProperty("rope_scaling", out var rs) || rs.ValueKind == JsonValueKind.Null) return null;
        if (rs.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{source}: rope_scaling must be an object or null");
        string type = Str(rs, "rope_type") ?? Str(rs, "type") ?? "default";
        double factor = Num(rs, "factor") ?? 1.0;
        switch (type)
        {
            case "default": return null;
            case "linear":
                if (factor <= 0) throw new InvalidDataException($"{source}: rope_scaling.factor must be positive, got {factor}");
                return new RopeScaling(type, factor, 0, 0, 0);
            case "llama3":
                var s = new RopeScaling(type, factor,
                    Num(rs, "low_freq_factor") ?? throw new InvalidDataException($"{source}: rope_scaling.low_freq_factor is missing"),
                    Num(rs, "high_freq_factor") ?? throw new InvalidDataException($"{source}: rope_scaling.high_freq_factor is missing"),
                    Int(rs, "original_max_position_embeddings", source) ?? throw new InvalidDataException($"{source}: rope_scaling.original_max_position_embeddings is missing"));
                if (s.Factor <= 0 || s.HighFreqFactor <= s.LowFreqFactor || s.OriginalMaxPositions <= 0)
                    throw new InvalidDataException($"{source}: rope_scaling (llama3) needs factor > 0, high_freq_factor > low_freq_factor, original_max_position_embeddings > 0");
                return s;
            default:
                throw new NotSupportedException($"{source}: rope_scaling type '{type}' is not supported; supported: llama3, linear, default");
        }
    }

    static JsonDocument ParseJson(string json, string source)
    {
        try { return JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true }); }
        catch (JsonException e) { throw new InvalidDataException($"{source}: not valid JSON ({e.Message})", e); }
    }

    static string? Str(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    static bool Bool(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;

    static double? Num(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;

    static int? Int(JsonElement o, string name, string source, bool required = false)
    {
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
            return required ? throw new InvalidDataException($"{source}: required field '{name}' is missing") : null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int i))
            throw new InvalidDataException($"{source}: field '{name}' must be an integer, got {v.GetRawText()}");
        return i;
    }

    static IReadOnlyList<int> ReadIds(JsonElement o, string name, string source)
    {
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return [];
        if (v.ValueKind == JsonValueKind.Number) return [Int(o, name, source)!.Value];
        if (v.ValueKind == JsonValueKind.Array)
            return v.EnumerateArray().Select(e => e.TryGetInt32(out int i) ? i
                : throw new InvalidDataException($"{source}: '{name}' must hold integers, got {e.GetRawText()}")).ToArray();
        throw new InvalidDataException($"{source}: '{name}' must be an integer or a list of integers, got {v.GetRawText()}");
    }
}
