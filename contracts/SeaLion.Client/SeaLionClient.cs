using System.Net.Http;
using System.Runtime.CompilerServices;
using Grpc.Core;
using Grpc.Net.Client;
using V1 = SeaLion.Contracts.V1;

namespace SeaLion.Client;

/// <summary>
/// A client of a SeaLion Cluster gateway (the <c>sealion.v1.Inference</c> gRPC service). Thread-safe; keep one per
/// process and share it (it holds a pooled HTTP/2 channel).
/// </summary>
/// <remarks>
/// <para>Every call carries <c>authorization: Bearer &lt;ApiKey&gt;</c> and <c>x-sealion-tenant</c> metadata when those
/// options are set, the call's deadline and the caller's <see cref="CancellationToken"/>.</para>
/// <para>Retries: a call that fails with UNAVAILABLE (no engine serves, or the gateway cannot be reached) or a transient
/// transport failure before its first response is started again, up to <see cref="SeaLionClientOptions.MaxRetries"/>
/// times, with exponential backoff and jitter, within the call's deadline, on the next gateway when
/// <see cref="SeaLionClientOptions.FallbackAddresses"/> names others. Once a streamed generation has delivered its
/// first chunk, such a failure (its gateway died) is resumed through the next gateway from the last token received,
/// token-exact (<see cref="SeaLionClientOptions.ResumeStreams"/>); other failures, and resumes past MaxRetries, are
/// thrown as a <see cref="SeaLionException"/> with <see cref="SeaLionException.AfterFirstToken"/> set.</para>
/// <para>Errors are thrown as <see cref="SeaLionException"/> (status code and the server's message); cancellation through
/// the token as <see cref="OperationCanceledException"/>. Cancelling, or leaving an <c>await foreach</c> early, ends
/// the server stream and the server aborts the generation.</para>
/// </remarks>
public sealed class SeaLionClient : IDisposable
{
    const string TenantHeader = "x-sealion-tenant";

    /// <summary>One client per gateway address (<see cref="SeaLionClientOptions.Address"/>, then the fallbacks).</summary>
    readonly V1.Inference.InferenceClient[] _clients;
    readonly GrpcChannel[] _ownedChannels = [];
    int _current;
    readonly SeaLionClientOptions _options;
    int _disposed;

    /// <summary>A client with its own channel to <see cref="SeaLionClientOptions.Address"/>.</summary>
    public SeaLionClient(SeaLionClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Clone();
        _options.Validate();
        _ownedChannels = [.. new[] { _options.Address }.Concat(_options.FallbackAddresses).Select(CreateChannel)];
        _clients = [.. _ownedChannels.Select(c => new V1.Inference.InferenceClient(c))];
    }

    /// <summary>A client with its own channel to <paramref name="address"/> and default options.</summary>
    public SeaLionClient(Uri address) : this(new SeaLionClientOptions { Address = address }) { }

    /// <summary>A client over an existing channel, which it does not dispose. <see cref="SeaLionClientOptions.Address"/> and
    /// <see cref="SeaLionClientOptions.FallbackAddresses"/> are ignored.</summary>
    public SeaLionClient(GrpcChannel channel, SeaLionClientOptions? options = null)
        : this((channel ?? throw new ArgumentNullException(nameof(channel))).CreateCallInvoker(), options) { }

    /// <summary>A client over any <see cref="CallInvoker"/> (an intercepted channel, a test double); not disposed by the client.
    /// <see cref="SeaLionClientOptions.Address"/> is ignored.</summary>
    public SeaLionClient(CallInvoker callInvoker, SeaLionClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(callInvoker);
        _options = options?.Clone() ?? new SeaLionClientOptions();
        _options.ValidateCallSettings();
        _clients = [new V1.Inference.InferenceClient(callInvoker)];
    }

    /// <summary>The gateway calls go to now; a transient failure there moves on to the next (<see cref="Advance"/>).</summary>
    int CurrentIndex => Volatile.Read(ref _current) % _clients.Length;

    /// <summary>Moves past the gateway at <paramref name="failed"/> (once, however many calls saw it fail).</summary>
    void Advance(int failed)
    {
        if (_clients.Length > 1) Interlocked.CompareExchange(ref _current, (failed + 1) % _clients.Length, failed);
    }

    /// <summary>The options in force (a copy taken at construction; changing it has no effect).</summary>
    public SeaLionClientOptions Options => _options.Clone();

    /// <summary>The channel this client creates for an address: HTTP/2 (h2c for <c>http://</c>), several HTTP/2
    /// connections when one runs out of streams, keep-alive pings. (Not ThrowOperationCanceledOnCancellation: it turns
    /// deadlines and some transport failures into OperationCanceledException too; cancellation is mapped here instead.)</summary>
    static GrpcChannel CreateChannel(Uri address)
    {
        var handler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            KeepAlivePingDelay = TimeSpan.FromSeconds(60),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(30),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
            ConnectTimeout = TimeSpan.FromSeconds(15),
        };
        return GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            HttpHandler = handler,
            DisposeHttpClient = true,
            MaxReceiveMessageSize = 64 << 20,
        });
    }

    // ---------------------------------------------------------------- Generate and Chat (streamed)

    /// <summary>Streams a generation for a text prompt (tokenized by the server with the model's tokenizer).</summary>
    /// <param name="prompt">The prompt text.</param>
    /// <param name="options">Sampling and per-call settings; null = the server's defaults.</param>
    /// <param name="cancellationToken">Cancels the call; the server aborts the generation.</param>
    /// <returns>The chunks as they are generated; the last one has the finish reason and usage.</returns>
    /// <exception cref="SeaLionException">The call failed (after any retries).</exception>
    public IAsyncEnumerable<GenerationChunk> GenerateAsync(string prompt, GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        var request = NewGenerateRequest(options);
        request.Text = prompt;
        return StreamAsync((client, resume, o) => client.Generate(Resumed(request, resume), o), keepText: false, options?.Deadline, cancellationToken);
    }

    /// <summary>Streams a generation for a prompt given as token ids (used exactly as given).</summary>
    /// <param name="tokenIds">The prompt's token ids.</param>
    /// <param name="options">Sampling and per-call settings; null = the server's defaults.</param>
    /// <param name="cancellationToken">Cancels the call; the server aborts the generation.</param>
    /// <returns>The chunks as they are generated; the last one has the finish reason and usage.</returns>
    /// <exception cref="SeaLionException">The call failed (after any retries).</exception>
    public IAsyncEnumerable<GenerationChunk> GenerateAsync(IReadOnlyList<int> tokenIds, GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tokenIds);
        var request = NewGenerateRequest(options);
        request.TokenIds = new V1.TokenIds();
        request.TokenIds.Ids.AddRange(tokenIds);
        return StreamAsync((client, resume, o) => client.Generate(Resumed(request, resume), o), keepText: false, options?.Deadline, cancellationToken);
    }

    /// <summary>Streams the reply to a whole conversation, statelessly: the server renders the chat template over these
    /// messages with its generation prompt and stores nothing (for a conversation kept on the server, see ChatAsync).</summary>
    /// <param name="messages">The conversation, oldest first.</param>
    /// <param name="options">Sampling and per-call settings; null = the server's defaults.</param>
    /// <param name="cancellationToken">Cancels the call; the server aborts the generation.</param>
    /// <returns>The reply's chunks; the last one has the finish reason and usage.</returns>
    /// <exception cref="SeaLionException">The call failed (after any retries).</exception>
    public IAsyncEnumerable<GenerationChunk> GenerateAsync(IEnumerable<ChatMessage> messages, GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var request = NewGenerateRequest(options);
        request.Messages = new V1.ChatMessages();
        request.Messages.Messages.AddRange(messages.Select(m => (m ?? throw new ArgumentException("messages holds null", nameof(messages))).ToWire()));
        return StreamAsync((client, resume, o) => client.Generate(Resumed(request, resume), o), keepText: false, options?.Deadline, cancellationToken);
    }

    /// <summary>Streams the next turn of a server-side conversation: the messages join the session's history (created on
    /// first use, scoped to the tenant), the server renders the chat template over it and streams the reply, which joins
    /// the history when the turn ends. A turn sent while the session's previous turn runs fails with
    /// <see cref="SeaLionStatusCode.Aborted"/>.</summary>
    /// <param name="sessionId">The conversation's id: 1-128 of <c>[A-Za-z0-9._:-]</c>.</param>
    /// <param name="messages">Messages to append before the reply (usually one user message).</param>
    /// <param name="options">Sampling and per-call settings; null = the server's defaults.</param>
    /// <param name="cancellationToken">Cancels the turn; the history stays as it was.</param>
    /// <returns>The reply's chunks; the last one has the finish reason and usage.</returns>
    /// <exception cref="SeaLionException">The call failed (after any retries).</exception>
    public IAsyncEnumerable<GenerationChunk> ChatAsync(string sessionId, IEnumerable<ChatMessage> messages, GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sessionId);
        ArgumentNullException.ThrowIfNull(messages);
        var request = new V1.ChatRequest
        {
            Model = options?.Model ?? _options.Model ?? "",
            SessionId = sessionId,
            Sampling = Seeded(options?.ToSampling() ?? new V1.SamplingParams()),
            // An id of the client's, so a retry of this turn through another gateway (before or after its first token)
            // is known to the session as the same turn, which it takes over, and not refused as a second one.
            RequestId = options?.RequestId ?? Guid.NewGuid().ToString("N"),
        };
        request.Messages.AddRange(messages.Select(m => (m ?? throw new ArgumentException("messages holds null", nameof(messages))).ToWire()));
        return StreamAsync((client, resume, o) => client.Chat(Resumed(request, resume), o), keepText: true, options?.Deadline, cancellationToken);
    }

    /// <summary>Streams the next turn of a conversation for one user message (see <see cref="ChatAsync(string, IEnumerable{ChatMessage}, GenerationOptions?, CancellationToken)"/>).</summary>
    /// <param name="sessionId">The conversation's id.</param>
    /// <param name="userMessage">The user's message.</param>
    /// <param name="options">Sampling and per-call settings.</param>
    /// <param name="cancellationToken">Cancels the turn.</param>
    /// <returns>The reply's chunks.</returns>
    public IAsyncEnumerable<GenerationChunk> ChatAsync(string sessionId, string userMessage, GenerationOptions? options = null, CancellationToken cancellationToken = default) =>
        ChatAsync(sessionId, [ChatMessage.User(userMessage ?? throw new ArgumentNullException(nameof(userMessage)))], options, cancellationToken);

    /// <summary>A whole generation for a text prompt: the stream of <see cref="GenerateAsync(string, GenerationOptions?, CancellationToken)"/> collected.</summary>
    /// <param name="prompt">The prompt text.</param>
    /// <param name="options">Sampling and per-call settings.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>Text, token ids, finish reason and usage.</returns>
    public Task<GenerationResult> GenerateTextAsync(string prompt, GenerationOptions? options = null, CancellationToken cancellationToken = default) =>
        CollectAsync(GenerateAsync(prompt, options, cancellationToken));

    /// <summary>A whole generation for a prompt given as token ids.</summary>
    /// <param name="tokenIds">The prompt's token ids.</param>
    /// <param name="options">Sampling and per-call settings.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>Text, token ids, finish reason and usage.</returns>
    public Task<GenerationResult> GenerateTextAsync(IReadOnlyList<int> tokenIds, GenerationOptions? options = null, CancellationToken cancellationToken = default) =>
        CollectAsync(GenerateAsync(tokenIds, options, cancellationToken));

    /// <summary>A whole chat turn: the stream of <see cref="ChatAsync(string, IEnumerable{ChatMessage}, GenerationOptions?, CancellationToken)"/> collected.</summary>
    /// <param name="sessionId">The conversation's id.</param>
    /// <param name="messages">Messages to append before the reply.</param>
    /// <param name="options">Sampling and per-call settings.</param>
    /// <param name="cancellationToken">Cancels the turn.</param>
    /// <returns>The reply's text, token ids, finish reason and usage.</returns>
    public Task<GenerationResult> ChatTextAsync(string sessionId, IEnumerable<ChatMessage> messages, GenerationOptions? options = null, CancellationToken cancellationToken = default) =>
        CollectAsync(ChatAsync(sessionId, messages, options, cancellationToken));

    /// <summary>A whole chat turn for one user message.</summary>
    /// <param name="sessionId">The conversation's id.</param>
    /// <param name="userMessage">The user's message.</param>
    /// <param name="options">Sampling and per-call settings.</param>
    /// <param name="cancellationToken">Cancels the turn.</param>
    /// <returns>The reply's text, token ids, finish reason and usage.</returns>
    public Task<GenerationResult> ChatTextAsync(string sessionId, string userMessage, GenerationOptions? options = null, CancellationToken cancellationToken = default) =>
        CollectAsync(ChatAsync(sessionId, userMessage, options, cancellationToken));

    // ---------------------------------------------------------------- sessions, tokenizer, models (unary)

    /// <summary>A session and its messages, oldest first; null when there is no such session (for this tenant).</summary>
    /// <param name="sessionId">The conversation's id.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public async Task<ChatSession?> GetSessionAsync(string sessionId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sessionId);
        try
        {
            var s = await UnaryAsync((c, o) => c.GetSessionAsync(new V1.GetSessionRequest { SessionId = sessionId }, o), cancellationToken).ConfigureAwait(false);
            return new ChatSession(s.SessionId, s.Model, s.Messages.Select(ChatMessage.FromWire).ToArray());
        }
        catch (SeaLionException e) when (e.StatusCode == SeaLionStatusCode.NotFound) { return null; }
    }

    /// <summary>Forgets a session and its history. Fails with <see cref="SeaLionStatusCode.Aborted"/> while a turn runs.</summary>
    /// <param name="sessionId">The conversation's id.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>False when there was no such session.</returns>
    public async Task<bool> DeleteSessionAsync(string sessionId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sessionId);
        var r = await UnaryAsync((c, o) => c.DeleteSessionAsync(new V1.DeleteSessionRequest { SessionId = sessionId }, o), cancellationToken).ConfigureAwait(false);
        return r.Deleted;
    }

    /// <summary>The model's tokenizer: text to token ids (special-token strings become special tokens).</summary>
    /// <param name="text">The text.</param>
    /// <param name="addBos">Prepend the model's BOS token.</param>
    /// <param name="model">The model; null = <see cref="SeaLionClientOptions.Model"/>.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public async Task<IReadOnlyList<int>> TokenizeAsync(string text, bool addBos = false, string? model = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        var request = new V1.TokenizeRequest { Model = model ?? _options.Model ?? "", Text = text, AddBos = addBos };
        var r = await UnaryAsync((c, o) => c.TokenizeAsync(request, o), cancellationToken).ConfigureAwait(false);
        return r.TokenIds.ToArray();
    }

    /// <summary>Token ids back to text.</summary>
    /// <param name="tokenIds">The ids.</param>
    /// <param name="skipSpecialTokens">Leave special tokens out of the text.</param>
    /// <param name="model">The model; null = <see cref="SeaLionClientOptions.Model"/>.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public async Task<string> DetokenizeAsync(IEnumerable<int> tokenIds, bool skipSpecialTokens = false, string? model = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tokenIds);
        var request = new V1.DetokenizeRequest { Model = model ?? _options.Model ?? "", SkipSpecialTokens = skipSpecialTokens };
        request.TokenIds.AddRange(tokenIds);
        var r = await UnaryAsync((c, o) => c.DetokenizeAsync(request, o), cancellationToken).ConfigureAwait(false);
        return r.Text;
    }

    /// <summary>The models the cluster serves.</summary>
    /// <param name="cancellationToken">Cancels the call.</param>
    public async Task<IReadOnlyList<ModelInfo>> ListModelsAsync(CancellationToken cancellationToken = default)
    {
        var r = await UnaryAsync((c, o) => c.ListModelsAsync(new V1.ListModelsRequest(), o), cancellationToken).ConfigureAwait(false);
        return r.Models.Select(m => new ModelInfo(m.Name, m.ContextLength, m.VocabSize)).ToArray();
    }

    /// <summary>Closes the channel the client created (a channel or call invoker passed in stays open).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) foreach (var c in _ownedChannels) c.Dispose();
    }

    // ---------------------------------------------------------------- the machinery

    V1.GenerateRequest NewGenerateRequest(GenerationOptions? options) => new()
    {
        Model = options?.Model ?? _options.Model ?? "",
        Sampling = Seeded(options?.ToSampling() ?? new V1.SamplingParams()),
        RequestId = options?.RequestId ?? "",
    };

    /// <summary>A seed for a sampled request that has none, so a resumed stream draws what the lost one would have
    /// (greedy requests need none). Only when streams are resumed.</summary>
    V1.SamplingParams Seeded(V1.SamplingParams p)
    {
        if (_options.ResumeStreams && !p.HasSeed && !(p.HasTemperature && p.Temperature == 0)) p.Seed = Random.Shared.NextInt64(long.MaxValue);
        return p;
    }

    /// <summary>What a stream delivered so far, for resuming it through another gateway.</summary>
    sealed class Received(bool keepText)
    {
        public readonly List<int> Tokens = [];
        public readonly System.Text.StringBuilder? Text = keepText ? new() : null;   // a chat turn resumes with its text too
        public string RequestId = "";
    }

    static V1.GenerateRequest Resumed(V1.GenerateRequest request, Received? resume)
    {
        if (resume is null) return request;
        var r = request.Clone();
        r.ResumeTokenIds.AddRange(resume.Tokens);
        if (r.RequestId.Length == 0) r.RequestId = resume.RequestId;
        return r;
    }

    static V1.ChatRequest Resumed(V1.ChatRequest request, Received? resume)
    {
        if (resume is null) return request;
        var r = request.Clone();
        r.ResumeTokenIds.AddRange(resume.Tokens);
        r.ResumeText = resume.Text?.ToString() ?? "";
        if (r.RequestId.Length == 0) r.RequestId = resume.RequestId;   // the id the gateway gave the turn (echoed in every chunk)
        return r;
    }

    /// <summary>The headers every call carries.</summary>
    Metadata? Headers()
    {
        if (_options.ApiKey is null && _options.Tenant is null) return null;
        var h = new Metadata();
        if (_options.ApiKey is { } key) h.Add("authorization", "Bearer " + key);
        if (_options.Tenant is { } tenant) h.Add(TenantHeader, tenant);
        return h;
    }

    DateTime? Deadline(TimeSpan? perCall)
    {
        var span = perCall ?? _options.DefaultDeadline;
        if (span is not { } d) return null;
        if (d <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(GenerationOptions.Deadline), d, "a deadline must be positive");
        return DateTime.UtcNow + d;
    }

    CallOptions CallOptions(DateTime? deadline, CancellationToken ct) => new(Headers(), deadline, ct);

    /// <summary>The transient failures worth another try before any response: UNAVAILABLE, and transport errors
    /// (a connection reset or refused) that the client reports as INTERNAL or UNKNOWN.</summary>
    internal static bool IsTransient(RpcException e)
    {
        if (e.StatusCode == StatusCode.Unavailable) return true;
        if (e.StatusCode is not (StatusCode.Internal or StatusCode.Unknown)) return false;
        for (Exception? x = e.Status.DebugException; x is not null; x = x.InnerException)
            if (x is IOException or HttpRequestException) return true;
        return false;
    }

    /// <summary>Whether to try again after a failed attempt (1-based), and the delay before it; false once
    /// <see cref="SeaLionClientOptions.MaxRetries"/> retries were made or the delay would run past the deadline.</summary>
    bool ShouldRetry(RpcException e, int attempt, DateTime? deadline, CancellationToken ct, out TimeSpan delay)
    {
        delay = default;
        if (ct.IsCancellationRequested || attempt > _options.MaxRetries || !IsTransient(e)) return false;
        delay = Backoff(attempt, _options.InitialBackoff, _options.MaxBackoff);
        return deadline is not { } d || DateTime.UtcNow + delay < d;
    }

    /// <summary>Exponential backoff with "equal jitter": d = min(initial x 2^(attempt-1), max), drawn from [d/2, d].</summary>
    internal static TimeSpan Backoff(int attempt, TimeSpan initial, TimeSpan max)
    {
        double d = Math.Min(initial.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 30)), max.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(d / 2 + Random.Shared.NextDouble() * d / 2);
    }

    /// <summary>
    /// The caller's view of a failed attempt. A transient failure that arrives once the deadline has passed is
    /// reported as DEADLINE_EXCEEDED: the server and the transport race the deadline (the stream is reset, or the
    /// server sees the call cancelled first), and the deadline is what ended the call.
    /// </summary>
    internal static Exception Map(RpcException e, bool afterFirstToken, int attempts, DateTime? deadline, CancellationToken ct) =>
        e.StatusCode == StatusCode.Cancelled && ct.IsCancellationRequested
            ? new OperationCanceledException("the call was cancelled", e, ct)
            : deadline is { } d && DateTime.UtcNow >= d && (IsTransient(e) || e.StatusCode == StatusCode.Cancelled)
                ? new SeaLionException(SeaLionStatusCode.DeadlineExceeded, "the call's deadline passed", afterFirstToken, attempts, e)
                : SeaLionException.From(e, afterFirstToken, attempts);

    /// <summary>An OperationCanceledException from a channel made with ThrowOperationCanceledOnCancellation, when the
    /// caller did not cancel: the deadline passed (or the channel gave up), reported as a status like any other failure.</summary>
    static SeaLionException FromChannelCancel(OperationCanceledException e, DateTime? deadline, bool afterFirstToken, int attempts) =>
        deadline is { } d && DateTime.UtcNow >= d
            ? new SeaLionException(SeaLionStatusCode.DeadlineExceeded, "the call's deadline passed", afterFirstToken, attempts, e)
            : new SeaLionException(SeaLionStatusCode.Cancelled, "the call was cancelled by the channel: " + e.Message, afterFirstToken, attempts, e);

    async Task<T> UnaryAsync<T>(Func<V1.Inference.InferenceClient, CallOptions, AsyncUnaryCall<T>> start, CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var deadline = Deadline(null);
        for (int attempt = 1; ; attempt++)
        {
            int index = CurrentIndex;
            try
            {
                using var call = start(_clients[index], CallOptions(deadline, ct));
                return await call.ResponseAsync.ConfigureAwait(false);
            }
            catch (RpcException e)
            {
                if (!ShouldRetry(e, attempt, deadline, ct, out var delay)) throw Map(e, false, attempt, deadline, ct);
                Advance(index);
                await Task.Delay(delay, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
            {
                throw FromChannelCancel(e, deadline, false, attempt);
            }
        }
    }

    /// <summary>
    /// A server stream: a transient failure before its first response is retried (on the next gateway, if there are
    /// several); one after it is resumed (<see cref="SeaLionClientOptions.ResumeStreams"/>) through the next gateway
    /// with what was received, up to <see cref="SeaLionClientOptions.MaxRetries"/> times. The call is disposed (so the
    /// server stream ends) however the enumeration ends.
    /// </summary>
    async IAsyncEnumerable<GenerationChunk> StreamAsync(Func<V1.Inference.InferenceClient, Received?, CallOptions, AsyncServerStreamingCall<V1.GenerateResponse>> start,
        bool keepText, TimeSpan? perCallDeadline, [EnumeratorCancellation] CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var deadline = Deadline(perCallDeadline);
        // What was received, kept only where a cut stream is resumed.
        var received = _options.ResumeStreams ? new Received(keepText) : null;
        bool any = false;
        int attempt = 1, resumes = 0;
        AsyncServerStreamingCall<V1.GenerateResponse>? call = null;
        try
        {
            while (true)
            {
                int index = CurrentIndex;
                call = start(_clients[index], any ? received : null, CallOptions(deadline, ct));
                TimeSpan delay;
                while (true)
                {
                    RpcException? failure = null;
                    bool has = false;
                    try { has = await call.ResponseStream.MoveNext(ct).ConfigureAwait(false); }
                    catch (RpcException e) { failure = e; }
                    catch (OperationCanceledException e) when (!ct.IsCancellationRequested) { throw FromChannelCancel(e, deadline, any, attempt); }
                    if (failure is not null)
                    {
                        if (!any)
                        {
                            if (!ShouldRetry(failure, attempt, deadline, ct, out delay)) throw Map(failure, false, attempt, deadline, ct);
                            attempt++;
                        }
                        else
                        {
                            if (received is null || !ShouldRetry(failure, resumes + 1, deadline, ct, out delay)) throw Map(failure, true, attempt + resumes, deadline, ct);
                            resumes++;
                        }
                        Advance(index);
                        break;
                    }
                    if (!has) yield break;
                    var r = call.ResponseStream.Current;
                    any = true;
                    if (received is not null)
                    {
                        received.Tokens.AddRange(r.TokenIds);
                        received.Text?.Append(r.Text);
                        if (received.RequestId.Length == 0) received.RequestId = r.RequestId;
                    }
                    yield return GenerationChunk.FromWire(r);
                }
                call.Dispose();
                call = null;
                await Task.Delay(delay, ct).ConfigureAwait(false);
            }
        }
        finally
        {
            call?.Dispose();
        }
    }

    static async Task<GenerationResult> CollectAsync(IAsyncEnumerable<GenerationChunk> chunks)
    {
        var text = new System.Text.StringBuilder();
        var ids = new List<int>();
        var logprobs = new List<TokenLogprob>();
        IReadOnlyList<PromptLogprob> prompt = [];
        GenerationChunk? last = null;
        await foreach (var c in chunks.ConfigureAwait(false))
        {
            if (c.PromptLogprobs.Count > 0) prompt = c.PromptLogprobs;
            text.Append(c.Text);
            ids.AddRange(c.TokenIds);
            logprobs.AddRange(c.Logprobs);
            last = c;
        }
        if (last?.FinishReason is not { } reason || last.Usage is not { } usage)
            throw new SeaLionException(SeaLionStatusCode.Internal, "the stream ended without a finish reason and usage");
        return new GenerationResult(last.RequestId, text.ToString(), ids, logprobs, reason, usage) { PromptLogprobs = prompt };
    }
}
