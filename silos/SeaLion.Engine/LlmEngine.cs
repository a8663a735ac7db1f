using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using SeaLion.Engine.Blocks;
using SeaLion.Routing;
using SeaLion.Model.Llama;
using SeaLion.Tokenization;

namespace SeaLion.Engine;

/// <summary>How an engine is sized and scheduled.</summary>
public sealed record EngineOptions
{
    public SchedulerOptions Scheduler { get; init; } = new();
    /// <summary>
    /// Bytes of KV cache over all ranks. Null: 512 MiB on a CPU host; on GPU hosts, what
    /// <see cref="GpuMemoryUtilization"/> leaves after the weights and a profiled largest forward pass.
    /// </summary>
    public long? KvCacheBytes { get; init; }
    /// <summary>Fraction of each GPU's memory this engine may use (vLLM's gpu_memory_utilization); GPU hosts only.</summary>
    public double GpuMemoryUtilization { get; init; } = 0.9;
    public const long DefaultCpuKvCacheBytes = 512L << 20;
    /// <summary>Explicit block count, overriding <see cref="KvCacheBytes"/> (tests).</summary>
    public int? NumBlocks { get; init; }
    /// <summary>Label of this engine's metrics; null: no metrics.</summary>
    public string? MetricsName { get; init; }
    public Prometheus.CollectorRegistry? MetricsRegistry { get; init; }

    internal EngineMetrics? CreateMetrics() => MetricsName is null ? null : new EngineMetrics(MetricsName, MetricsRegistry);
}

/// <summary>
/// The serving engine of one tensor-parallel group: requests stream in through <see cref="GenerateAsync"/>,
/// one dedicated thread steps the scheduler and the model (never an Orleans or thread-pool thread), and each
/// request's tokens stream back through its own channel. A consumer that stops reading or cancels has its
/// request aborted and its blocks freed within one step.
/// </summary>
public sealed class LlmEngine : IDisposable
{
    readonly EngineCore _core;
    readonly Thread _thread;
    /// <summary>Work for the engine thread; Fail runs instead of Run once the engine has failed.</summary>
    sealed record Command(Action Run, Action<Exception> Fail);

    readonly ConcurrentQueue<Command> _inbox = new();
    readonly SemaphoreSlim _wake = new(0);
    readonly CancellationTokenSource _stop = new();
    readonly ConcurrentDictionary<string, ChannelWriter<EngineOutput>> _streams = new();
    volatile EngineLoad _load;
    volatile Exception? _fault;
    readonly string _name;

    internal LlmEngine(EngineCore core, string name)
    {
        _name = name;
        _core = core;
        _load = core.Load;
        _core.KvEvents = events => KvEvents?.Invoke(events);
        _thread = new Thread(Loop) { IsBackground = true, Name = $"engine-{name}" };
        _thread.Start();
    }

    /// <summary>An engine over a loaded TorchSharp model, its KV cache sized from the options.</summary>
    public static LlmEngine Create(LlamaModel model, BpeTokenizer tokenizer, EngineOptions options)
    {
        int blockSize = options.Scheduler.BlockSize;
        long perBlock = KvCache.BytesPerBlock(model.Config, blockSize, model.DType);
        bool fromDeviceMemory = options.NumBlocks is null && options.KvCacheBytes is null && model.Device.type == TorchSharp.DeviceType.CUDA;
        long bytes = options.KvCacheBytes ?? EngineOptions.DefaultCpuKvCacheBytes;
        int blocks = options.NumBlocks ?? (fromDeviceMemory ? GpuBlocks(model, options, perBlock) : (int)Math.Min(int.MaxValue, bytes / perBlock));
        if (blocks < 1) throw new ArgumentException($"a KV cache of {bytes} bytes holds no block of {perBlock} bytes", nameof(options));
        var cache = model.CreateKvCache(blocks, blockSize);
        return new LlmEngine(new EngineCore(new TorchModelRunner(model, cache), tokenizer, blocks, options.Scheduler, new WallClock(), options.CreateMetrics()), "torch");
    }

    /// <summary>
    /// KV blocks from device memory, as vLLM sizes them: run the largest forward pass the scheduler can issue (its
    /// activations stay reserved by libtorch's caching allocator), then give the KV cache what
    /// gpu_memory_utilization leaves on the tightest rank's device.
    /// </summary>
    static int GpuBlocks(LlamaModel model, EngineOptions options, long perBlock)
    {
        model.ProfileForward(options.Scheduler.MaxBatchedTokens, options.Scheduler.BlockSize);
        var devices = model.Devices.Select(d => DeviceMemory.Query(d.index)).ToArray();
        return KvBudget.Blocks(devices, options.GpuMemoryUtilization, perBlock / model.TensorParallel);
    }

    /// <summary>
    /// A simulated engine: the same scheduler and KV-cache manager, the H100 performance model for timing
    /// (spent on the given clock: wall time, possibly scaled, when it stands in for a GPU in a running cluster),
    /// deterministic tokens. KV capacity is what fits beside the weights unless options give a block count or a KV
    /// size in bytes (of the modelled Llama 3 8B cache: 128 KiB a token), e.g. to make a small engine that queues.
    /// </summary>
    public static LlmEngine CreateSimulated(BpeTokenizer tokenizer, EngineOptions options, H100PerformanceModel? perf = null, IEngineClock? clock = null,
        int vocabSize = 128256, int maxContext = 8192)
    {
        perf ??= new H100PerformanceModel();
        clock ??= new WallClock();
        int blocks = options.NumBlocks ?? (options.KvCacheBytes is { } bytes
            ? (int)Math.Max(1, Math.Min(perf.KvBlocks(options.Scheduler.BlockSize), bytes / (perf.KvBytesPerToken * options.Scheduler.BlockSize)))
            : perf.KvBlocks(options.Scheduler.BlockSize));
        return new LlmEngine(new EngineCore(new SimulatedRunner(perf, clock, vocabSize, maxContext), tokenizer, blocks, options.Scheduler, clock, options.CreateMetrics()), "sim");
    }

    /// <summary>BlockStored / BlockRemoved events after each step, on the engine thread: handlers must be quick.</summary>
    public event Action<IReadOnlyList<KvEvent>>? KvEvents;

    /// <summary>Running, waiting, KV usage and hit rate as of the last step; safe from any thread.</summary>
    public EngineLoad Load => _load;

    public async IAsyncEnumerable<EngineOutput> GenerateAsync(GenerateRequest request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (_fault is { } fault) throw new InvalidOperationException("the engine has failed", fault);
        string id = request.RequestId ?? Guid.NewGuid().ToString("N");
        request = request with { RequestId = id };
        var channel = Channel.CreateUnbounded<EngineOutput>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var accepted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // A structured output compiles here, on the caller's thread (cached by its text), not on the step thread
        // where it would stall every running request; a bad one is refused before anything is queued.
        if (request.Sampling.Structured is { } structured && _core.Constraints.Vocabulary is not null) _core.Constraints.Get(structured);
        Post(new Command(() =>
        {
            try
            {
                _core.Add(request, o =>
                {
                    channel.Writer.TryWrite(o);
                    if (o.FinishReason is not null) { _streams.TryRemove(id, out _); channel.Writer.TryComplete(); }
                });
                _streams[id] = channel.Writer;
                accepted.SetResult();
            }
            catch (Exception e) { accepted.SetException(e); }
        }, fault => accepted.TrySetException(new InvalidOperationException("the engine has failed", fault))));
        // One span per request (a child of the grain call's, so of the API request's): sampling asked for, then the
        // queue time, the time to the first token, the usage and the finish reason (gen_ai.* where they apply).
        using var activity = EngineTelemetry.Source.StartActivity("engine.generate");
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        if (activity is not null)
        {
            activity.SetTag("gen_ai.operation.name", "text_completion");
            activity.SetTag("gen_ai.request.max_tokens", request.Sampling.MaxTokens);
            activity.SetTag("gen_ai.request.temperature", request.Sampling.Temperature);
            activity.SetTag("gen_ai.request.top_p", request.Sampling.TopP);
            if (request.Sampling.Seed is { } seed) activity.SetTag("gen_ai.request.seed", seed);
            activity.SetTag("sealion.request_id", id);
            activity.SetTag("sealion.engine", _name);
            activity.SetTag("sealion.resumed_tokens", request.ResumeOutput?.Count ?? 0);
            if (request.Sampling.Structured is { } so) activity.SetTag("sealion.structured_output", so.Kind.ToString());
        }
        await accepted.Task.ConfigureAwait(false);   // validation errors surface here, before any output
        bool finished = false, first = true;
        try
        {
            await foreach (var o in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                finished = o.FinishReason is not null;
                if (activity is not null)
                {
                    if (first && o.TokenIds.Count > 0)
                    {
                        activity.SetTag("sealion.time_to_first_token_s", System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
                        activity.AddEvent(new System.Diagnostics.ActivityEvent("first_token"));
                        first = false;
                    }
                    if (o.Usage is { } u)
                    {
                        activity.SetTag("gen_ai.usage.input_tokens", u.PromptTokens);
                        activity.SetTag("gen_ai.usage.output_tokens", u.GeneratedTokens);
                        activity.SetTag("sealion.cached_tokens", u.CachedTokens);
                        activity.SetTag("gen_ai.response.finish_reasons", new[] { o.FinishReason });
                        if (o.QueueSeconds is { } q) activity.SetTag("sealion.queue_time_s", q);
                    }
                }
                yield return o;
            }
        }
        finally
        {
            if (!finished) Post(new Command(() => _core.Abort(id), _ => { }));
        }
    }

    /// <summary>Aborts a request by id from any thread (its stream ends with finish reason "abort"); unknown ids are ignored.</summary>
    public void Abort(string requestId) => Post(new Command(() => _core.Abort(requestId), _ => { }));

    void Post(Command c)
    {
        _inbox.Enqueue(c);
        _wake.Release();
        if (_fault is { } fault) Drain(fault);   // the loop has exited: nobody else will
    }

    void Drain(Exception fault)
    {
        while (_inbox.TryDequeue(out var c)) c.Fail(fault);
    }

    void Loop()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                while (_inbox.TryDequeue(out var c)) c.Run();
                if (!_core.HasWork) { _load = _core.Load; _wake.Wait(_stop.Token); continue; }
                _core.Step();
                _load = _core.Load;
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested) { }
        catch (Exception e)
        {
            // A failed step (a device error, a bug) must not leave clients waiting forever: every open stream
            // ends with the error, new requests are refused, and the host can replace this engine.
            _fault = e;
            foreach (var w in _streams.Values) w.TryComplete(new InvalidOperationException("the engine failed during a step", e));
            _streams.Clear();
            Drain(e);
        }
    }

    /// <summary>Why the engine stopped stepping, if it did.</summary>
    public Exception? Fault => _fault;

    public void Dispose()
    {
        _stop.Cancel();
        _thread.Join();
        _core.Dispose();
        _wake.Dispose();
        _stop.Dispose();
    }
}
