using SeaLion.Structured;
using SeaLion.Engine.Blocks;
using SeaLion.Routing;
using SeaLion.Tokenization;

namespace SeaLion.Engine;

/// <summary>
/// One engine step at a time, synchronously: schedule, execute, update (vLLM's EngineCore.step). The threaded
/// <see cref="LlmEngine"/> drives it from a dedicated thread; tests and the discrete-event simulator drive it
/// directly. Not thread-safe.
/// </summary>
internal sealed class EngineCore : IDisposable
{
    readonly IModelRunner _runner;
    readonly BpeTokenizer _tokenizer;
    readonly Dictionary<string, (EngineRequest Request, OutputStream Stream)> _requests = new();
    readonly HashSet<int> _eos;
    long _arrivals;
    ConstraintCache? _constraints;

    /// <summary>Compiled structured outputs over this engine's vocabulary (built on the first constrained request).</summary>
    public ConstraintCache Constraints => LazyInitializer.EnsureInitialized(ref _constraints, () => new ConstraintCache(new Vocabulary(_tokenizer.VocabSize,
        id => _tokenizer.IsSpecial(id) ? null : _tokenizer.TokenBytes(id), [.. _eos])));

    public EngineCore(IModelRunner runner, BpeTokenizer tokenizer, int numBlocks, SchedulerOptions options,
        IEngineClock? clock = null, EngineMetrics? metrics = null)
    {
        Clock = clock ?? new WallClock();
        Metrics = metrics;
        options.Validate();
        _runner = runner;
        _tokenizer = tokenizer;
        Options = options;
        Kv = new KvCacheManager(numBlocks, options.BlockSize, options.PrefixCaching);
        Scheduler = new Scheduler(options, Kv);
        _eos = new HashSet<int>(runner.EosTokenIds);
    }

    public SchedulerOptions Options { get; }
    public IEngineClock Clock { get; }
    public EngineMetrics? Metrics { get; }
    public KvCacheManager Kv { get; }
    public Scheduler Scheduler { get; }
    public long PromptTokens { get; private set; }
    public long GeneratedTokens { get; private set; }
    public long Steps { get; private set; }
    public bool HasWork => _requests.Count > 0;
    public int MaxContext => _runner.MaxContext;
    /// <summary>Called after each step with the KV events it caused (BlockStored / BlockRemoved).</summary>
    public Action<IReadOnlyList<KvEvent>>? KvEvents { get; set; }

    void CheckVocabulary(IEnumerable<int> ids, string field, string what)
    {
        foreach (int id in ids)
            if (id < 0 || id >= _runner.VocabSize)
                throw new ArgumentOutOfRangeException(field, id, $"{what} token id {id} is outside the vocabulary [0, {_runner.VocabSize})");
    }

    /// <summary>Checks a request against the engine's limits; the message names the field, the limit and the value.</summary>
    public void Validate(GenerateRequest req)
    {
        ArgumentNullException.ThrowIfNull(req.PromptTokenIds, "prompt_token_ids");
        if (req.PromptTokenIds.Length == 0) throw new ArgumentException("prompt must hold at least one token", "prompt_token_ids");
        CheckVocabulary(req.PromptTokenIds, "prompt_token_ids", "prompt");
        req.Sampling.Validate(_runner.VocabSize);
        if (!_runner.HasLogits && (req.Sampling.PromptLogprobs is not null || req.Sampling.Logprobs is not null))
            throw new ArgumentException("this engine is simulated (no model): it computes no logprobs", req.Sampling.PromptLogprobs is not null ? "prompt_logprobs" : "logprobs");
        if (req.ResumeOutput is { } resumed)
        {
            if (resumed.Count >= req.Sampling.MaxTokens)
                throw new ArgumentException($"resume_output holds {resumed.Count} tokens; max_tokens ({req.Sampling.MaxTokens}) leaves nothing to generate", "resume_output");
            CheckVocabulary(resumed, "resume_output", "resume_output");
        }
        int total = req.PromptTokenIds.Length + req.Sampling.MaxTokens;
        if (total > _runner.MaxContext)
            throw new ArgumentException(
                $"prompt ({req.PromptTokenIds.Length} tokens) + max_tokens ({req.Sampling.MaxTokens}) = {total} exceeds the context length of {_runner.MaxContext}", "max_tokens");
        int blocks = (total + Options.BlockSize - 1) / Options.BlockSize;
        if (blocks > Kv.Pool.NumBlocks)
            throw new ArgumentException($"the request needs up to {blocks} KV blocks but this engine's cache holds {Kv.Pool.NumBlocks}", "max_tokens");
    }

    public void Add(GenerateRequest req, Action<EngineOutput> emit)
    {
        Validate(req);
        string id = req.RequestId ?? Guid.NewGuid().ToString("N");
        if (_requests.ContainsKey(id)) throw new ArgumentException($"request id '{id}' is already running", "request_id");
        ConstraintState? constraint = null;
        if (req.Sampling.Structured is { } structured)
        {
            if (!_runner.HasLogits) throw new ArgumentException("this engine is simulated (no model): it cannot constrain its output", "structured_outputs");
            constraint = Constraints.Get(structured).Start();
            foreach (int t in req.ResumeOutput ?? []) constraint.Advance(t);   // a resumed stream continues where it was
        }
        var r = new EngineRequest(id, req.PromptTokenIds, req.Sampling, _arrivals++, req.ResumeOutput) { ArrivalTime = Clock.Now };
        r.Sampling.Constraint = constraint;
        var stopIds = new HashSet<int>(req.Sampling.StopTokenIds);
        // A constrained output ends at EOS even under ignore_eos: the constraint allows EOS only where the output may end.
        if (!req.Sampling.IgnoreEos || constraint is not null) stopIds.UnionWith(_eos);
        // min_tokens masks EOS and the stop token ids (EOS even under ignore_eos, as vLLM does).
        r.Sampling.StopTokenIds = new HashSet<int>(stopIds.Concat(_eos));
        PromptTokens += req.PromptTokenIds.Length;
        var stream = new OutputStream(id, _tokenizer.CreateDetokenizer(req.Sampling.SkipSpecialTokens), req.Sampling, stopIds, emit);
        if (req.ResumeOutput is { Count: > 0 } resumed) stream.Prime(resumed);
        _requests[id] = (r, stream);
        Scheduler.Add(r);
        PublishMetrics();
    }

    void PublishMetrics() =>
        Metrics?.Observe(Load, Kv.PrefixQueryTokens, Kv.PrefixHitTokens, PromptTokens, GeneratedTokens, Scheduler.Preemptions);

    /// <summary>Stops a request wherever it is and frees its blocks now; its stream ends with finish reason "abort".</summary>
    public bool Abort(string id)
    {
        if (!_requests.Remove(id, out var entry)) return false;
        Scheduler.Finish(entry.Request, "abort");
        entry.Stream.Abort(entry.Request);
        Metrics?.Finished("abort", Clock.Now - entry.Request.ArrivalTime);
        PublishMetrics();
        return true;
    }

    /// <summary>Runs one step. Returns the number of tokens computed (0: nothing was schedulable).</summary>
    public int Step()
    {
        var chunks = Scheduler.Schedule();
        if (chunks.Count == 0) return 0;
        double started = Clock.Now;
        foreach (var c in chunks)
            if (double.IsNaN(c.Request.FirstScheduledTime))
            {
                c.Request.FirstScheduledTime = started;
                Metrics?.QueueTime(started - c.Request.ArrivalTime);
            }
        var sampled = _runner.Execute(chunks, Kv);
        double now = Clock.Now;
        Steps++;
        int computed = 0, s = 0;
        foreach (var c in chunks)
        {
            var r = c.Request;
            bool samples = c.Samples;   // read before the update below changes NumComputedTokens
            r.NumComputedTokens += c.NumTokens;
            computed += c.NumTokens;
            if (!samples) continue;
            var token = sampled[s++];
            if (r.Sampling.Params.MaxTokens == 0)
            {
                // Prompt logprobs only (echo with max_tokens 0): the prompt is done, nothing is generated.
                _requests[r.Id].Stream.Finish(r, "length");
                Scheduler.Finish(r, "length");
                _requests.Remove(r.Id);
                Metrics?.Finished("length", now - r.ArrivalTime);
                continue;
            }
            r.AppendToken(token.TokenId);
            GeneratedTokens++;
            if (double.IsNaN(r.LastTokenTime)) Metrics?.FirstToken(now - r.ArrivalTime);
            else Metrics?.InterToken(now - r.LastTokenTime);
            r.LastTokenTime = now;
            var (_, stream) = _requests[r.Id];
            if (stream.OnToken(r, token, _runner.MaxContext) is { } reason)
            {
                Scheduler.Finish(r, reason);
                _requests.Remove(r.Id);
                Metrics?.Finished(reason, now - r.ArrivalTime);
            }
        }
        PublishMetrics();
        var events = Kv.Pool.TakeEvents();
        if (events.Count > 0) KvEvents?.Invoke(events);
        return computed;
    }

    public EngineLoad Load => new(
        Scheduler.Running.Count, Scheduler.WaitingCount, Kv.Pool.Usage, Kv.Pool.FreeCount, Kv.Pool.NumBlocks,
        Kv.PrefixHitRate, PromptTokens, GeneratedTokens, Scheduler.Preemptions);

    public void Dispose() => _runner.Dispose();
}
