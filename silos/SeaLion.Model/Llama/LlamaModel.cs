using TorchSharp;
using static TorchSharp.torch;
using SeaLion.Model.Parallel;
using SeaLion.Model.Weights;

namespace SeaLion.Model.Llama;

/// <summary>How to hold a model: serving dtype, tensor-parallel ranks, device kind, CPU threads.</summary>
public sealed record ModelOptions
{
    public ScalarType DType { get; init; } = ScalarType.BFloat16;
    /// <summary>
    /// Tensor-parallel ranks. On GPU one per device; on CPU each rank is a thread owning a slice of every weight,
    /// the fastest way to use several cores for decode. 0 = automatic: every GPU, or one rank per CPU thread
    /// (the largest count up to Threads that divides the heads and the FFN).
    /// </summary>
    public int TensorParallel { get; init; }
    public DeviceType Device { get; init; } = DeviceType.CPU;
    /// <summary>CPU threads in all (0 = all cores). Each rank gets Threads / TensorParallel intra-op threads.</summary>
    public int Threads { get; init; }
    /// <summary>
    /// fp32 on the CPU: SeaLion's own kernels, the projections and the LM head through the packed GEMM
    /// (<see cref="PackedGemm"/>, AVX-512) instead of libtorch's matmul, and decode attention through
    /// <see cref="PagedDecodeAttention"/> instead of a gathered SDPA. On by default; off is for A/B measurements.
    /// </summary>
    public bool CpuKernels { get; init; } = true;
}

/// <summary>
/// A Llama 3 model held as tensor-parallel shards, one dedicated thread per rank. It holds weights and never a
/// cache: <see cref="Forward"/> takes the caller's <see cref="KvCache"/> and block tables.
/// Forward is not reentrant: one step at a time (the engine's step loop is its only caller).
/// </summary>
public sealed class LlamaModel : IDisposable
{
    readonly LlamaShard[] _shards;
    readonly RotaryEmbedding _rope;
    readonly SpinBarrier _barrier;
    readonly AllReduce _reduce;
    readonly RankThreads _threads;
    readonly bool _pagedDecode;

    public LlamaConfig Config { get; }
    public ScalarType DType { get; }
    public int TensorParallel => _shards.Length;
    public Device Device => _shards[0].Device;

    LlamaModel(LlamaConfig config, LlamaShard[] shards, ScalarType dtype, bool cpuKernels)
    {
        _pagedDecode = cpuKernels && PagedDecodeAttention.Supports(dtype, shards[0].Device.type, config.HeadDim);
        Config = config;
        DType = dtype;
        _shards = shards;
        _rope = new RotaryEmbedding(config);
        _barrier = new SpinBarrier(shards.Length);
        _reduce = new AllReduce(shards.Length, _barrier);
        _threads = new RankThreads(shards.Length, _barrier, "llama");
    }

    public static LlamaModel Load(string dir, ModelOptions? options = null)
    {
        var config = LlamaConfig.FromDirectory(dir);
        var (o, devices) = Prepare(config, options);
        return new LlamaModel(config, CheckpointLoader.Load(config, dir, o.DType, devices, o.CpuKernels), o.DType, o.CpuKernels);
    }

    /// <summary>A model with seeded random weights made on the device (benchmarks of shapes whose weights are not at hand).</summary>
    public static LlamaModel CreateRandom(LlamaConfig config, ulong seed, ModelOptions? options = null)
    {
        var (o, devices) = Prepare(config, options);
        return new LlamaModel(config, CheckpointLoader.Random(config, seed, o.DType, devices, o.CpuKernels), o.DType, o.CpuKernels);
    }

    static (ModelOptions, Device[]) Prepare(LlamaConfig config, ModelOptions? options)
    {
        options ??= new ModelOptions();
        if (options.DType is not (ScalarType.BFloat16 or ScalarType.Float32 or ScalarType.Float16))
            throw new ArgumentException($"serving dtype must be bf16, fp16 or fp32, got {options.DType}");
        if (options.Device == DeviceType.CUDA) NativeLibraries.PreloadCudaLibtorch();
        else MallocTuning.ForCpuServing();
        if (options.Device == DeviceType.CUDA && !cuda.is_available())
            throw new NotSupportedException("--device cuda: TorchSharp found no CUDA device (is the TorchSharp-cuda backend or a CUDA libtorch on the library path?)");
        int ranks = options.TensorParallel > 0 ? options.TensorParallel : AutoRanks(config, options);
        options = options with { TensorParallel = ranks };
        _ = new ShardPlan(config, ranks);   // fail on an impossible split before reading weights
        ConfigureThreads(options);
        var devices = Enumerable.Range(0, ranks)
            .Select(r => options.Device == DeviceType.CPU ? CPU : new Device(options.Device, r)).ToArray();
        return (options, devices);
    }

    static int AutoRanks(LlamaConfig c, ModelOptions o)
    {
        int limit = o.Device == DeviceType.CPU ? (o.Threads > 0 ? o.Threads : Environment.ProcessorCount) : Math.Max(1, (int)cuda.device_count());
        for (int r = limit; r > 1; r--)
            if (c.NumKvHeads % r == 0 && c.NumHeads % r == 0 && c.IntermediateSize % r == 0) return r;
        return 1;
    }

    static void ConfigureThreads(ModelOptions o)
    {
        if (o.Device != DeviceType.CPU) return;
        int threads = o.Threads > 0 ? o.Threads : Environment.ProcessorCount;
        // Never oversubscribe: ranks x intra-op threads <= threads. The setting is process-wide: only touch it
        // when it changes (resizing the pool under another model's running step is not safe).
        int perRank = Math.Max(1, threads / o.TensorParallel);
        if (get_num_threads() != perRank) set_num_threads(perRank);
    }

    /// <summary>Every projection weight of every rank (q/k/v, o, gate/up and down of each layer, then the LM head), for inspection.</summary>
    internal IEnumerable<ProjectionWeight> Projections =>
        _shards.SelectMany(s => s.Layers.SelectMany(l => new[] { l.Qkv, l.O, l.GateUp, l.Down }).Append(s.LmHead));

    /// <summary>The device of each rank.</summary>
    public IReadOnlyList<Device> Devices => _shards.Select(s => s.Device).ToArray();

    /// <summary>
    /// One forward pass over <paramref name="tokens"/> tokens (one sequence, capped at the context length) with a
    /// throwaway cache: on GPU, the caching allocator then holds the peak activation memory, which is what the KV
    /// cache must leave room for.
    /// </summary>
    public void ProfileForward(int tokens, int blockSize = 16)
    {
        tokens = Math.Clamp(tokens, 1, Config.MaxPositions);
        int blocks = (tokens + blockSize - 1) / blockSize;
        using var cache = CreateKvCache(blocks, blockSize);
        var ids = Enumerable.Repeat(Config.BosTokenId ?? 0, tokens).ToArray();
        using var logits = Forward(new ForwardBatch { TokenIds = ids, Sequences = [new SequenceChunk(tokens, tokens, Enumerable.Range(0, blocks).ToArray())] }, cache);
    }

    public KvCache CreateKvCache(int numBlocks, int blockSize = 16) =>
        new(numBlocks, blockSize, _shards.Select(s => (s.Device, s.KvHeads)).ToArray(), Config.NumLayers, Config.HeadDim, DType);

    /// <summary>
    /// One forward pass over a mixed batch. Writes the batch's K/V into the cache at the slots its block tables
    /// name, and returns float32 logits [rows, vocab] on the first rank's device: one row per sequence (its last
    /// token), or one per token with <see cref="ForwardBatch.AllLogits"/>. The caller disposes the logits.
    /// </summary>
    public Tensor Forward(ForwardBatch batch, KvCache cache)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var inputs = new BatchTensors[_shards.Length];
        var logits = new Tensor[_shards.Length];
        try
        {
            inputs[0] = BatchTensors.Build(batch, Config, cache, _rope, DType, _shards[0].Device, _pagedDecode);
            for (int r = 1; r < _shards.Length; r++)
                inputs[r] = _shards[r].Device == _shards[0].Device ? inputs[0] : BatchTensors.Build(batch, Config, cache, _rope, DType, _shards[r].Device, _pagedDecode);
            _threads.Run(rank => logits[rank] = _shards[rank].Forward(inputs[rank], cache.K[rank], cache.V[rank], _reduce));
            if (_shards.Length == 1) return logits[0];
            var device = _shards[0].Device;
            return cat(logits.Select(l => l.device == device ? l : l.to(device)).ToArray(), 1);
        }
        finally
        {
            if (_shards.Length > 1) foreach (var l in logits) l?.Dispose();
            // Every rank has returned, so no partial sum is still being read.
            for (int r = 0; r < _shards.Length; r++) _reduce.Release(r);
            foreach (var i in inputs.Distinct()) i?.Dispose();
        }
    }

    public void Dispose()
    {
        _threads.Dispose();
        foreach (var s in _shards) s.Dispose();
        _rope.Dispose();
    }
}
