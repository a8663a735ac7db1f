using TorchSharp;
using static TorchSharp.torch;
using SeaLion.Model.Llama;

namespace SeaLion.Model.Weights;

/// <summary>
/// Maps a Hugging Face Llama checkpoint onto tensor-parallel shards. Every name and shape is checked against
/// the config before the first byte of weights is read, so a bad checkpoint fails whole, naming the tensor.
/// HF names stay at this boundary; the modules see only their own fields.
/// </summary>
internal static class CheckpointLoader
{
    /// <summary>Buffers older exports carry that hold no weights; transformers ignores them too.</summary>
    static bool Ignorable(string name) => name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal);

    public static Dictionary<string, long[]> ExpectedShapes(LlamaConfig c)
    {
        long h = c.HiddenSize, q = c.NumHeads * c.HeadDim, kv = c.NumKvHeads * c.HeadDim, f = c.IntermediateSize;
        var e = new Dictionary<string, long[]> { ["model.embed_tokens.weight"] = [c.VocabSize, h], ["model.norm.weight"] = [h] };
        if (!c.TieWordEmbeddings) e["lm_head.weight"] = [c.VocabSize, h];
        for (int l = 0; l < c.NumLayers; l++)
        {
            string p = $"model.layers.{l}.";
            e[p + "input_layernorm.weight"] = [h];
            e[p + "self_attn.q_proj.weight"] = [q, h];
            e[p + "self_attn.k_proj.weight"] = [kv, h];
            e[p + "self_attn.v_proj.weight"] = [kv, h];
            e[p + "self_attn.o_proj.weight"] = [h, q];
            e[p + "post_attention_layernorm.weight"] = [h];
            e[p + "mlp.gate_proj.weight"] = [f, h];
            e[p + "mlp.up_proj.weight"] = [f, h];
            e[p + "mlp.down_proj.weight"] = [h, f];
        }
        return e;
    }

    public static void Validate(LlamaConfig c, IReadOnlyDictionary<string, StoredTensor> stored, string dir)
    {
        var expected = ExpectedShapes(c);
        var missing = expected.Keys.Where(k => !stored.ContainsKey(k)).ToList();
        if (missing.Count > 0)
            throw new InvalidDataException($"{dir}: {missing.Count} tensor(s) missing from the checkpoint: {Names(missing)}");
        var extra = stored.Keys.Where(k => !expected.ContainsKey(k) && !Ignorable(k)
            && !(c.TieWordEmbeddings && k == "lm_head.weight")).ToList();
        if (extra.Count > 0)
            throw new InvalidDataException($"{dir}: {extra.Count} unexpected tensor(s) in the checkpoint: {Names(extra)}");
        foreach (var (name, shape) in expected)
            if (!stored[name].Shape.SequenceEqual(shape))
                throw new InvalidDataException(
                    $"{stored[name].File}: tensor '{name}' has shape [{string.Join(", ", stored[name].Shape)}], expected [{string.Join(", ", shape)}] from config.json");
    }

    static string Names(List<string> names) =>
        string.Join(", ", names.Take(5).Select(n => $"'{n}'")) + (names.Count > 5 ? $" and {names.Count - 5} more" : "");

    /// <summary>Shards from an HF folder, every tensor validated first, then read once.</summary>
    public static LlamaShard[] Load(LlamaConfig c, string dir, ScalarType dtype, IReadOnlyList<Device> devices, bool pack)
    {
        if (SeaLion.Model.Gguf.GgufModel.SourceOf(dir) is { } gguf) return LoadGguf(c, gguf, dtype, devices, pack);
        var stored = Safetensors.ReadFolder(dir);
        Validate(c, stored, dir);
        using var reader = new TensorReader();
        return Build(c, devices, pack, name => reader.Read(stored[name], dtype));
    }

    /// <summary>
    /// Shards from a GGUF file: every tensor's presence, shape and type checked first. On a CPU with AVX-512BW (and the
    /// SeaLion kernels on) projection weights of every quantized type stay quantized (<see cref="QuantizedGemm"/>: Q8_0,
    /// Q4_0, Q5_0, Q2_K-Q6_K; the parts of a fused projection may differ in type; with AVX2 only, Q8_0 and Q4_K-Q6_K); every
    /// other quantized tensor (the embedding, any device) is dequantized to float32 once, and F32/F16/BF16 tensors are
    /// taken as stored; all with q/k rows un-permuted and cast to the serving dtype, as vLLM does where it has no fused kernel.
    /// </summary>
    public static LlamaShard[] LoadGguf(LlamaConfig c, string path, ScalarType dtype, IReadOnlyList<Device> devices, bool pack)
    {
        using var f = SeaLion.Model.Gguf.GgufFile.Open(path);
        foreach (var (name, shape) in ExpectedShapes(c))
        {
            string g = SeaLion.Model.Gguf.GgufModel.GgufName(name, f);
            if (!f.Tensors.TryGetValue(g, out var t)) throw new InvalidDataException($"{path}: tensor '{g}' (for '{name}') is missing");
            if (!t.Shape.SequenceEqual(shape))
                throw new InvalidDataException($"{path}: tensor '{g}' has shape [{string.Join(", ", t.Shape)}], expected [{string.Join(", ", shape)}] from its llama.* metadata");
            SeaLion.Model.Gguf.GgmlTypes.Layout(t.Type);   // an unsupported type fails here, before anything is read
        }
        bool keepQuantized = pack && QuantizedGemm.IsSupported && devices.All(d => d.type == DeviceType.CPU);
        return Build(c, devices, pack, name =>
        {
            // F32, F16 and BF16 tensors are copied as they are (rows moved, not decoded) into a tensor of their own type:
            // an 8B BF16 file then loads in about its own 16 GB, without a float32 array of each tensor on the way (which
            // did not fit 24 GB).
            if (TorchType(f.Tensors[SeaLion.Model.Gguf.GgufModel.GgufName(name, f)].Type) is { } stored)
            {
                var raw = RawTensor(SeaLion.Model.Gguf.GgufModel.ReadHfRows(f, name, c.NumHeads, c.NumKvHeads, out _, out var rowsShape), rowsShape, stored);
                if (dtype == stored) return raw;
                using (raw) return raw.to(dtype);
            }
            var values = SeaLion.Model.Gguf.GgufModel.ReadHf(f, name, c.NumHeads, c.NumKvHeads, out var shape);
            var t = tensor(values, shape);
            if (dtype == ScalarType.Float32) return t;
            using (t) return t.to(dtype);
        }, !keepQuantized ? null : name =>
        {
            if (QuantizedGemm.FormatOf(f.Tensors[SeaLion.Model.Gguf.GgufModel.GgufName(name, f)].Type) is not { } format) return null;
            var bytes = SeaLion.Model.Gguf.GgufModel.ReadHfRows(f, name, c.NumHeads, c.NumKvHeads, out _, out var shape);
            return new QuantizedSource(format, bytes, (int)shape[0], (int)shape[1]);
        });
    }

    static ScalarType? TorchType(SeaLion.Model.Gguf.GgmlType t) => t switch
    {
        SeaLion.Model.Gguf.GgmlType.F32 => ScalarType.Float32,
        SeaLion.Model.Gguf.GgmlType.F16 => ScalarType.Float16,
        SeaLion.Model.Gguf.GgmlType.BF16 => ScalarType.BFloat16,
        _ => null,
    };

    static unsafe Tensor RawTensor(byte[] bytes, long[] shape, ScalarType type)
    {
        var t = empty(shape, type);
        fixed (byte* src = bytes) Buffer.MemoryCopy(src, TensorMemory.Raw(t), bytes.LongLength, bytes.LongLength);
        return t;
    }

    /// <summary>A quantized [out, in] weight as stored (ggml blocks along each row), from which ranks take their slices.</summary>
    internal sealed record QuantizedSource(QuantFormat Format, byte[] Bytes, int Rows, int Cols)
    {
        long RowBytes => Bytes.LongLength / Rows;

        /// <summary>Whether columns split into <paramref name="size"/>-wide ranges on block boundaries.</summary>
        public bool Splits(long size) => size % QuantizedGemm.BlockSize(Format) == 0;

        public QuantizedMatrix Slice(long row0, long rows, long col0, long cols) =>
            QuantizedGemm.Repack(Format, Bytes.AsSpan().Slice((int)(row0 * RowBytes), (int)(rows * RowBytes)), (int)rows, Cols, (int)col0, (int)cols);
    }

    /// <summary>
    /// Shards with seeded random weights drawn directly on the first rank's device in the serving dtype, with
    /// the scales of <see cref="RandomCheckpoint"/>: an 8B model on a GPU host without uploading 16 GB.
    /// </summary>
    public static LlamaShard[] Random(LlamaConfig c, ulong seed, ScalarType dtype, IReadOnlyList<Device> devices, bool pack)
    {
        var shapes = ExpectedShapes(c);
        return Build(c, devices, pack, name =>
        {
            ulong s = seed ^ RandomCheckpoint.NameHash(name);
            using var k = new ScalarScope();
            Tensor t;
            if (devices[0].type == DeviceType.CPU)
            {
                using var gen = new torch.Generator(s, devices[0]);
                t = randn(shapes[name], dtype, devices[0], generator: gen);
            }
            else
            {
                // TorchSharp's Generator is always a CPU generator (THSGenerator_new ignores the device) and CUDA's
                // randn refuses one: seed the device's default generator per tensor instead. Another stream than the
                // CPU's, so the weights differ from the CPU draw, but they are as deterministic for a seed.
                torch.cuda.manual_seed_all(unchecked((long)s));
                t = randn(shapes[name], dtype, devices[0]);
            }
            t.mul_(k.Of(RandomCheckpoint.Std(name)));
            return name.EndsWith("norm.weight", StringComparison.Ordinal) ? t.add_(Scalars.One, Scalars.One) : t;
        });
    }

    static LlamaShard[] Build(LlamaConfig c, IReadOnlyList<Device> devices, bool pack, Func<string, Tensor> Read, Func<string, QuantizedSource?>? quantized = null)
    {
        int n = devices.Count;
        var plan = new ShardPlan(c, n);

        // Per-rank slice of rows [rank * size, (rank+1) * size) of an [out, in] weight, transposed to [in, out].
        Tensor[] ColumnSlices(Tensor w, long size) =>
            Enumerable.Range(0, n).Select(r => { using var s = w.narrow(0, r * size, size); return s.t().contiguous().to(devices[r]); }).ToArray();
        // Per-rank slice of input columns of an [out, in] weight, transposed to [in_r, out].
        Tensor[] RowSlices(Tensor w, long size) =>
            Enumerable.Range(0, n).Select(r => { using var s = w.narrow(1, r * size, size); return s.t().contiguous().to(devices[r]); }).ToArray();
        Tensor[] Replicate(Tensor w) => Enumerable.Range(0, n).Select(r => w.to(devices[r], copy: true)).ToArray();
        ProjectionWeight[] Ranks(Func<int, ProjectionWeight> make) => Enumerable.Range(0, n).Select(make).ToArray();
        // Quantized weights kept as stored: all parts of a fused projection, or none (then every part is dequantized).
        QuantizedSource[]? Stored(params string[] names)
        {
            if (quantized is null) return null;
            var s = names.Select(quantized).ToArray();
            return s.All(q => q is not null) ? s.Select(q => q!).ToArray() : null;
        }
        // Column-parallel (q/k/v, gate/up, the LM head): each rank takes its output rows of every part, fused in order.
        ProjectionWeight[] Columns(params (string Name, long Row0PerRank, long Rows)[] parts)
        {
            if (Stored([.. parts.Select(p => p.Name)]) is { } stored)
                return Ranks(r => new ProjectionWeight([.. parts.Select((p, i) => stored[i].Slice(r * p.Row0PerRank, p.Rows, 0, stored[i].Cols))]));
            var slices = parts.Select(p => ColumnSlices(Read(p.Name), p.Rows)).ToArray();
            return Ranks(r => new ProjectionWeight(
                (slices.Length == 1 ? slices[0][r] : cat(slices.Select(s => s[r]).ToArray(), 1)).MoveToOuterDisposeScope(), pack));
        }
        // Row-parallel (o, down): each rank takes its input columns.
        ProjectionWeight[] InputSplit(string name, long size)
        {
            if (Stored(name) is [var stored] && stored.Splits(size))
                return Ranks(r => new ProjectionWeight([stored.Slice(0, stored.Rows, r * size, size)]));
            var slices = RowSlices(Read(name), size);
            return Ranks(r => new ProjectionWeight(slices[r].MoveToOuterDisposeScope(), pack));
        }

        var layers = new LayerWeights[n][];
        for (int r = 0; r < n; r++) layers[r] = new LayerWeights[c.NumLayers];
        for (int l = 0; l < c.NumLayers; l++)
        {
            string p = $"model.layers.{l}.";
            using var scope = NewDisposeScope();
            long qRows = plan.QHeads * c.HeadDim, kvRows = plan.KvHeads * c.HeadDim;
            var qkv = Columns((p + "self_attn.q_proj.weight", qRows, qRows), (p + "self_attn.k_proj.weight", kvRows, kvRows), (p + "self_attn.v_proj.weight", kvRows, kvRows));
            var o = InputSplit(p + "self_attn.o_proj.weight", qRows);
            var gateUp = Columns((p + "mlp.gate_proj.weight", plan.Ffn, plan.Ffn), (p + "mlp.up_proj.weight", plan.Ffn, plan.Ffn));
            var down = InputSplit(p + "mlp.down_proj.weight", plan.Ffn);
            var attnNorm = Replicate(Read(p + "input_layernorm.weight"));
            var mlpNorm = Replicate(Read(p + "post_attention_layernorm.weight"));
            for (int r = 0; r < n; r++)
                layers[r][l] = new LayerWeights
                {
                    AttnNorm = attnNorm[r].MoveToOuterDisposeScope(), Qkv = qkv[r], O = o[r],
                    MlpNorm = mlpNorm[r].MoveToOuterDisposeScope(), GateUp = gateUp[r], Down = down[r],
                };
        }

        var embedding = Read("model.embed_tokens.weight");
        string headName = c.TieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight";
        ProjectionWeight[] lmHead;
        if (Stored(headName) is [var head])
            lmHead = Ranks(r => new ProjectionWeight([head.Slice(plan.VocabStart(r), plan.VocabCount(r), 0, head.Cols)]));
        else
            using (var lm = c.TieWordEmbeddings ? null : Read("lm_head.weight"))
                lmHead = Ranks(r =>
                {
                    using var s = (lm ?? embedding).narrow(0, plan.VocabStart(r), plan.VocabCount(r));
                    return new ProjectionWeight(s.t().contiguous().to(devices[r]), pack);
                });
        using var finalNorm = Read("model.norm.weight");

        var embeddings = new Dictionary<Device, Tensor>();
        var shards = new LlamaShard[n];
        for (int r = 0; r < n; r++)
        {
            bool owns = !embeddings.TryGetValue(devices[r], out var emb);
            if (owns) embeddings[devices[r]] = emb = devices[r].type == DeviceType.CPU ? embedding : embedding.to(devices[r]);
            shards[r] = new LlamaShard
            {
                Rank = r, Device = devices[r], QHeads = plan.QHeads, KvHeads = plan.KvHeads, Ffn = plan.Ffn, HeadDim = c.HeadDim,
                Eps = (float)c.RmsNormEps, Embedding = emb!, OwnsEmbedding = owns, Layers = layers[r],
                FinalNorm = finalNorm.to(devices[r], copy: true), LmHead = lmHead[r],
            };
        }
        // By reference: Tensor.Equals is torch.equal, which compares values and throws across devices.
        if (!embeddings.Values.Any(e => ReferenceEquals(e, embedding))) embedding.Dispose();
        return shards;
    }
}

/// <summary>How a config splits over N ranks: heads and FFN columns evenly, the vocabulary in near-equal ranges.</summary>
internal sealed class ShardPlan
{
    readonly LlamaConfig _c;
    readonly int _ranks;
    public int QHeads { get; }
    public int KvHeads { get; }
    public int Ffn { get; }

    public ShardPlan(LlamaConfig c, int ranks)
    {
        if (ranks <= 0) throw new ArgumentOutOfRangeException(nameof(ranks), ranks, "tensor-parallel size must be positive");
        if (c.NumKvHeads % ranks != 0 || c.NumHeads % ranks != 0 || c.IntermediateSize % ranks != 0)
            throw new ArgumentException(
                $"tensor-parallel size {ranks} must divide num_key_value_heads ({c.NumKvHeads}), num_attention_heads ({c.NumHeads}) and intermediate_size ({c.IntermediateSize})");
        _c = c; _ranks = ranks;
        QHeads = c.NumHeads / ranks; KvHeads = c.NumKvHeads / ranks; Ffn = c.IntermediateSize / ranks;
    }

    long VocabPerRank => (_c.VocabSize + _ranks - 1) / _ranks;
    public long VocabStart(int rank) => Math.Min(_c.VocabSize, rank * VocabPerRank);
    public long VocabCount(int rank) => Math.Min(_c.VocabSize, (rank + 1) * VocabPerRank) - VocabStart(rank);
}
