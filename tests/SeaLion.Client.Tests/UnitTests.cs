using SeaLion.Cli;
using System.Diagnostics;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using V1 = SeaLion.Contracts.V1;

namespace SeaLion.Client.Tests;

/// <summary>A call invoker that records each call's method and options and answers with scripted responses.</summary>
sealed class ScriptedInvoker : CallInvoker
{
    public List<(string Method, CallOptions Options)> Calls { get; } = new();
    public List<object> Requests { get; } = new();
    /// <summary>Per streaming call (in order): the responses, then the error that ends the stream (null = a clean end).</summary>
    public Queue<(V1.GenerateResponse[] Responses, RpcException? Error)> Streams { get; } = new();
    public Queue<Func<object>> Unary { get; } = new();

    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request)
    {
        Calls.Add((method.FullName, options));
        Requests.Add(request!);
        var (responses, error) = Streams.Dequeue();
        var reader = new Reader<TResponse>(responses.Cast<TResponse>().ToArray(), error);
        return new AsyncServerStreamingCall<TResponse>(reader, Task.FromResult(new Metadata()), () => Status.DefaultSuccess, () => new Metadata(), () => { });
    }

    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request)
    {
        Calls.Add((method.FullName, options));
        var next = Unary.Dequeue();
        Task<TResponse> response;
        try { response = Task.FromResult((TResponse)next()); }
        catch (RpcException e) { response = Task.FromException<TResponse>(e); }
        return new AsyncUnaryCall<TResponse>(response, Task.FromResult(new Metadata()), () => Status.DefaultSuccess, () => new Metadata(), () => { });
    }

    public override TResponse BlockingUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request) => throw new NotSupportedException();
    public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options) => throw new NotSupportedException();
    public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options) => throw new NotSupportedException();

    sealed class Reader<T>(T[] items, RpcException? error) : IAsyncStreamReader<T>
    {
        int _next = -1;
        public T Current => items[_next];
        public Task<bool> MoveNext(CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (++_next < items.Length) return Task.FromResult(true);
            return error is null ? Task.FromResult(false) : Task.FromException<bool>(error);
        }
    }
}

/// <summary>Counts the calls that go through a channel.</summary>
sealed class CountingInterceptor : Interceptor
{
    int _calls;
    public int Calls => _calls;
    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncServerStreamingCallContinuation<TRequest, TResponse> continuation)
    {
        Interlocked.Increment(ref _calls);
        return continuation(request, context);
    }
    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
    {
        Interlocked.Increment(ref _calls);
        return continuation(request, context);
    }
}

public sealed class UnitTests
{
    static V1.GenerateResponse Token(int id, string text, bool last = false)
    {
        var r = new V1.GenerateResponse { RequestId = "r", Text = text };
        r.TokenIds.Add(id);
        if (last)
        {
            r.FinishReason = V1.FinishReason.Stop;
            r.Usage = new V1.Usage { PromptTokens = 4, CachedTokens = 0, GeneratedTokens = 2 };
        }
        return r;
    }

    static RpcException Unavailable => new(new Status(StatusCode.Unavailable, "no engine is serving"));

    static SeaLionClientOptions Fast(int retries = 3) => new() { MaxRetries = retries, InitialBackoff = TimeSpan.FromMilliseconds(1), MaxBackoff = TimeSpan.FromMilliseconds(2) };

    [Fact]
    public void Only_the_sampling_fields_the_caller_set_go_on_the_wire()
    {
        var none = new GenerationOptions().ToSampling();
        Assert.False(none.HasTemperature || none.HasTopP || none.HasTopK || none.HasMinP || none.HasMaxTokens || none.HasSeed
            || none.HasPresencePenalty || none.HasFrequencyPenalty || none.HasRepetitionPenalty || none.HasLogprobs);
        Assert.Empty(none.Stop);
        Assert.False(none.IgnoreEos);

        var all = new GenerationOptions
        {
            Temperature = 0, TopP = 0.9, TopK = 40, MinP = 0.05, MaxTokens = 17, Seed = -3, Stop = ["\n\n", "END"], StopTokenIds = [128009],
            PresencePenalty = 0.5, FrequencyPenalty = -0.5, RepetitionPenalty = 1.1, Logprobs = 2, IgnoreEos = true,
        }.ToSampling();
        Assert.True(all.HasTemperature);
        Assert.Equal(0, all.Temperature);
        Assert.Equal(0.9, all.TopP);
        Assert.Equal(40, all.TopK);
        Assert.Equal(0.05, all.MinP);
        Assert.Equal(17, all.MaxTokens);
        Assert.Equal(-3, all.Seed);
        Assert.Equal(["\n\n", "END"], all.Stop);
        Assert.Equal([128009], all.StopTokenIds);
        Assert.Equal(0.5, all.PresencePenalty);
        Assert.Equal(-0.5, all.FrequencyPenalty);
        Assert.Equal(1.1, all.RepetitionPenalty);
        Assert.Equal(2, all.Logprobs);
        Assert.True(all.IgnoreEos);
    }

    [Fact]
    public async Task Every_call_carries_the_bearer_key_tenant_deadline_and_model()
    {
        var invoker = new ScriptedInvoker();
        invoker.Streams.Enqueue(([Token(1, "a"), Token(2, "b", last: true)], null));
        invoker.Unary.Enqueue(() => new V1.TokenizeResponse { TokenIds = { 5, 6 } });
        using var client = new SeaLionClient(invoker, new SeaLionClientOptions { ApiKey = "sk-123", Tenant = "acme", DefaultDeadline = TimeSpan.FromSeconds(30), Model = "m1" });
        var before = DateTime.UtcNow;
        var r = await client.GenerateTextAsync("Halo");
        Assert.Equal("ab", r.Text);
        Assert.Equal([1, 2], r.TokenIds);
        Assert.Equal(FinishReason.Stop, r.FinishReason);
        Assert.Equal(new TokenUsage(4, 0, 2), r.Usage);
        Assert.Equal([5, 6], await client.TokenizeAsync("x"));

        Assert.Equal(["/sealion.v1.Inference/Generate", "/sealion.v1.Inference/Tokenize"], invoker.Calls.Select(c => c.Method));
        foreach (var (_, options) in invoker.Calls)
        {
            Assert.Equal("Bearer sk-123", options.Headers!.GetValue("authorization"));
            Assert.Equal("acme", options.Headers!.GetValue("x-sealion-tenant"));
            Assert.InRange(options.Deadline!.Value, before.AddSeconds(29), DateTime.UtcNow.AddSeconds(31));
        }
    }

    [Fact]
    public async Task Without_key_and_tenant_no_headers_are_sent_and_a_per_call_deadline_wins()
    {
        var invoker = new ScriptedInvoker();
        invoker.Streams.Enqueue(([Token(1, "a", last: true)], null));
        using var client = new SeaLionClient(invoker, new SeaLionClientOptions { DefaultDeadline = TimeSpan.FromHours(1) });
        await client.GenerateTextAsync("Halo", new GenerationOptions { Deadline = TimeSpan.FromSeconds(2) });
        var options = Assert.Single(invoker.Calls).Options;
        Assert.Null(options.Headers);
        Assert.True(options.Deadline < DateTime.UtcNow.AddSeconds(3));
    }

    [Fact]
    public async Task Unavailable_before_the_first_chunk_is_retried_and_after_it_resumed_from_the_last_token()
    {
        var invoker = new ScriptedInvoker();
        invoker.Streams.Enqueue(([], Unavailable));
        invoker.Streams.Enqueue(([], Unavailable));
        invoker.Streams.Enqueue(([Token(1, "a"), Token(2, "b", last: true)], null));
        using var client = new SeaLionClient(invoker, Fast());
        Assert.Equal("ab", (await client.GenerateTextAsync("Halo")).Text);
        Assert.Equal(3, invoker.Calls.Count);

        // Cut after the first token: the same request again, with the token received, and the stream goes on.
        invoker.Calls.Clear();
        invoker.Requests.Clear();
        invoker.Streams.Enqueue(([Token(1, "a")], Unavailable));
        invoker.Streams.Enqueue(([Token(2, "b", last: true)], null));
        var r = await client.GenerateTextAsync("Halo", new GenerationOptions { Temperature = 0.7 });
        Assert.Equal("ab", r.Text);
        Assert.Equal([1, 2], r.TokenIds);
        var (first, resumed) = ((V1.GenerateRequest)invoker.Requests[0], (V1.GenerateRequest)invoker.Requests[1]);
        Assert.Empty(first.ResumeTokenIds);
        Assert.Equal([1], resumed.ResumeTokenIds);
        Assert.Equal("r", resumed.RequestId);   // the id the server gave it
        Assert.True(first.Sampling.HasSeed);   // a sampled request gets a seed, so the resumed one draws the same
        Assert.Equal(first.Sampling.Seed, resumed.Sampling.Seed);

        // With resumption off, the failure is surfaced.
        var options = Fast();
        options.ResumeStreams = false;
        using var plain = new SeaLionClient(invoker, options);
        invoker.Calls.Clear();
        invoker.Streams.Enqueue(([Token(1, "a")], Unavailable));
        var seen = new List<GenerationChunk>();
        var e = await Assert.ThrowsAsync<SeaLionException>(async () => { await foreach (var c in plain.GenerateAsync("Halo")) seen.Add(c); });
        Assert.Single(seen);
        Assert.Equal(SeaLionStatusCode.Unavailable, e.StatusCode);
        Assert.True(e.AfterFirstToken);
        Assert.Contains("was not resumed", e.Message);
        Assert.Single(invoker.Calls);
    }

    [Fact]
    public async Task Non_transient_errors_are_not_retried()
    {
        var invoker = new ScriptedInvoker();
        invoker.Streams.Enqueue(([], new RpcException(new Status(StatusCode.InvalidArgument, "sampling.temperature is -1"))));
        invoker.Unary.Enqueue(() => throw new RpcException(new Status(StatusCode.Aborted, "turn in progress")));
        invoker.Unary.Enqueue(() => throw new RpcException(new Status(StatusCode.NotFound, "session 'x' does not exist")));
        using var client = new SeaLionClient(invoker, Fast());
        var e = await Assert.ThrowsAsync<SeaLionException>(() => client.GenerateTextAsync("Halo"));
        Assert.Equal(SeaLionStatusCode.InvalidArgument, e.StatusCode);
        Assert.Equal("sampling.temperature is -1", e.Detail);
        Assert.IsType<RpcException>(e.InnerException);
        Assert.Equal(SeaLionStatusCode.Aborted, (await Assert.ThrowsAsync<SeaLionException>(() => client.DeleteSessionAsync("x"))).StatusCode);
        Assert.Null(await client.GetSessionAsync("x"));
        Assert.Equal(3, invoker.Calls.Count);
    }

    [Fact]
    public async Task A_dead_address_is_tried_MaxRetries_plus_one_times()
    {
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{Ports.Free()}");
        var counter = new CountingInterceptor();
        using var client = new SeaLionClient(channel.Intercept(counter), new SeaLionClientOptions { MaxRetries = 2 });
        var sw = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<SeaLionException>(() => client.GenerateTextAsync("Halo"));
        Assert.Equal(SeaLionStatusCode.Unavailable, e.StatusCode);
        Assert.Equal(3, counter.Calls);
        Assert.Equal(3, e.Attempts);
        Assert.True(sw.Elapsed >= TimeSpan.FromMilliseconds(150), $"took {sw.Elapsed}");   // >= 50 + 100 ms of backoff
    }

    [Fact]
    public async Task Cancellation_during_backoff_stops_retrying()
    {
        var invoker = new ScriptedInvoker();
        for (int i = 0; i < 4; i++) invoker.Streams.Enqueue(([], Unavailable));
        using var client = new SeaLionClient(invoker, new SeaLionClientOptions { MaxRetries = 3, InitialBackoff = TimeSpan.FromSeconds(10), MaxBackoff = TimeSpan.FromSeconds(10) });
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        var sw = Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.GenerateTextAsync("Halo", cancellationToken: cts.Token));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(4));
        Assert.Single(invoker.Calls);
    }

    [Fact]
    public async Task A_retry_that_would_pass_the_deadline_is_not_made()
    {
        var invoker = new ScriptedInvoker();
        for (int i = 0; i < 4; i++) invoker.Streams.Enqueue(([], Unavailable));
        using var client = new SeaLionClient(invoker, new SeaLionClientOptions { MaxRetries = 3, InitialBackoff = TimeSpan.FromSeconds(10), MaxBackoff = TimeSpan.FromSeconds(10) });
        var e = await Assert.ThrowsAsync<SeaLionException>(() => client.GenerateTextAsync("Halo", new GenerationOptions { Deadline = TimeSpan.FromSeconds(1) }));
        Assert.Equal(SeaLionStatusCode.Unavailable, e.StatusCode);
        Assert.Single(invoker.Calls);
    }

    [Fact]
    public void Backoff_doubles_with_jitter_and_is_capped()
    {
        for (int i = 0; i < 200; i++)
        {
            Assert.InRange(SeaLionClient.Backoff(1, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5)).TotalMilliseconds, 50, 100);
            Assert.InRange(SeaLionClient.Backoff(3, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5)).TotalMilliseconds, 200, 400);
            Assert.InRange(SeaLionClient.Backoff(40, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5)).TotalMilliseconds, 2500, 5000);
        }
        Assert.True(SeaLionClient.IsTransient(Unavailable));
        Assert.True(SeaLionClient.IsTransient(new RpcException(new Status(StatusCode.Internal, "reset", new IOException("connection reset")))));
        Assert.False(SeaLionClient.IsTransient(new RpcException(new Status(StatusCode.Internal, "bug"))));
        Assert.False(SeaLionClient.IsTransient(new RpcException(new Status(StatusCode.Aborted, "busy"))));
    }

    [Fact]
    public void A_transient_failure_after_the_deadline_is_reported_as_DeadlineExceeded()
    {
        // Seen once in CI: the deadline's reset reached the client as UNAVAILABLE, 331 ms into a 300 ms deadline.
        var past = DateTime.UtcNow.AddMilliseconds(-1);
        var future = DateTime.UtcNow.AddMinutes(1);
        Assert.Equal(SeaLionStatusCode.DeadlineExceeded, Assert.IsType<SeaLionException>(SeaLionClient.Map(Unavailable, false, 1, past, default)).StatusCode);
        Assert.Equal(SeaLionStatusCode.Unavailable, Assert.IsType<SeaLionException>(SeaLionClient.Map(Unavailable, false, 1, future, default)).StatusCode);
        Assert.Equal(SeaLionStatusCode.Unavailable, Assert.IsType<SeaLionException>(SeaLionClient.Map(Unavailable, false, 1, null, default)).StatusCode);
        var invalid = new RpcException(new Status(StatusCode.InvalidArgument, "max_tokens"));
        Assert.Equal(SeaLionStatusCode.InvalidArgument, Assert.IsType<SeaLionException>(SeaLionClient.Map(invalid, false, 1, past, default)).StatusCode);
    }

    [Fact]
    public void Bad_options_are_refused_at_construction()
    {
        Assert.Throws<ArgumentException>(() => new SeaLionClient(new SeaLionClientOptions { Address = new Uri("ftp://host:1") }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SeaLionClient(new SeaLionClientOptions { MaxRetries = -1 }));
        Assert.Throws<ArgumentException>(() => new SeaLionClient(new SeaLionClientOptions { ApiKey = "a\nb" }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SeaLionClient(new SeaLionClientOptions { DefaultDeadline = TimeSpan.Zero }));
        // Options are copied: changing them afterwards changes nothing.
        var o = new SeaLionClientOptions { Tenant = "a" };
        using var client = new SeaLionClient(new ScriptedInvoker(), o);
        o.Tenant = "b";
        Assert.Equal("a", client.Options.Tenant);
    }

    [Fact]
    public void Chat_message_helpers_set_the_roles()
    {
        Assert.Equal(new ChatMessage("system", "s"), ChatMessage.System("s"));
        Assert.Equal(new ChatMessage("user", "u"), ChatMessage.User("u"));
        Assert.Equal(new ChatMessage("assistant", "a"), ChatMessage.Assistant("a"));
    }
}
