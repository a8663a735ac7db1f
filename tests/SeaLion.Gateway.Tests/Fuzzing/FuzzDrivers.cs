using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Grpc.Core;
using SeaLion.Contracts.V1;

namespace SeaLion.Gateway.Tests.Fuzzing;

/// <summary>
/// Sends a fuzzer's cases to the running gateway, a few in flight, and judges each answer: a REST answer must not be
/// 5xx, a 4xx must carry an OpenAI error with a message, a 200 must be whole JSON or an event stream ending in
/// [DONE] with no error event; a gRPC answer must not be INTERNAL, UNKNOWN or DATA_LOSS, a refusal must say why,
/// and an OK stream must end with a finish reason. After every <see cref="FuzzSettings.ProbeEvery"/> cases and at the end,
/// a good request on each API must be served exactly as before the run.
/// </summary>
internal sealed class FuzzDriver(SimulatedServerFixture server, FuzzSettings settings)
{
    public const string ProbeBody = """{"model":"sea-lion-v2","messages":[{"role":"user","content":"Halo"}],"max_tokens":3,"temperature":0}""";
    static readonly Marshaller<byte[]> RawBytes = Marshallers.Create(b => b, b => b);

    public HttpClient Http() => new() { BaseAddress = new Uri($"http://127.0.0.1:{server.HttpPort}"), Timeout = Timeout.InfiniteTimeSpan };

    /// <summary>sealion.v1.Inference's method by name, with requests and responses as raw bytes: whatever is sent reaches the server.</summary>
    public static Method<byte[], byte[]> RawMethod(string name) =>
        new(name is "Generate" or "Chat" ? MethodType.ServerStreaming : MethodType.Unary, "sealion.v1.Inference", name, RawBytes, RawBytes);

    /// <summary>What a good request on each API gives (greedy, so the same every time): the chat reply and the Generate token ids.</summary>
    public async Task<(string ChatReply, string GenerateIds)> Probe(HttpClient http)
    {
        using var res = await http.PostAsync("/v1/chat/completions", new StringContent(ProbeBody, Encoding.UTF8, "application/json"));
        string text = await res.Content.ReadAsStringAsync();
        Assert.True(res.IsSuccessStatusCode, $"the good REST request got {(int)res.StatusCode}: {text}");
        using var doc = JsonDocument.Parse(text);
        var choice = doc.RootElement.GetProperty("choices")[0];
        Assert.Equal(3, doc.RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
        var ids = new List<int>();
        await foreach (var r in server.Client.Generate(new GenerateRequest { Text = "Halo dunia", Sampling = new SamplingParams { MaxTokens = 2, Temperature = 0 } }).ResponseStream.ReadAllAsync())
            ids.AddRange(r.TokenIds);
        Assert.Equal(2, ids.Count);
        return (choice.GetProperty("message").GetProperty("content").GetString()!, string.Join(",", ids));
    }

    /// <summary>Runs the cases in blocks; between blocks (and at the end) the probe must give what it gave before the run.</summary>
    public async Task Run<TCase>(IReadOnlyList<int> indexes, Func<int, TCase> make, Func<TCase, CancellationToken, Task<FuzzOutcome>> send, FuzzReport report)
    {
        using var http = Http();
        var before = await Probe(http);
        var clock = Stopwatch.StartNew();
        try
        {
            foreach (var block in indexes.Chunk(settings.ProbeEvery))
            {
                await Parallel.ForEachAsync(block, new ParallelOptions { MaxDegreeOfParallelism = settings.Parallel }, async (i, ct) => report.Add(await send(make(i), ct)));
                var after = await Probe(http);
                Assert.True(after == before, $"after case #{block[^1]} the good request gave {after}; before the run it gave {before}");
                report.Probes++;
            }
        }
        finally { report.Elapsed = clock.Elapsed; }
    }

    // ---- REST ---------------------------------------------------------------------------------------------------

    public async Task<FuzzOutcome> Send(HttpClient http, RestCase c, CancellationToken ct, StringBuilder? trace = null)
    {
        using var content = new ByteArrayContent(c.Body);
        if (c.ContentType is not null) content.Headers.TryAddWithoutValidation("Content-Type", c.ContentType);
        trace?.AppendLine($"POST {c.Path} Content-Type: {c.ContentType ?? "(none)"}, {c.Body.Length} bytes: {Escape(c.Body, 4000)}");
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(settings.CaseTimeout);
        var clock = Stopwatch.StartNew();
        try
        {
            using var res = await http.PostAsync(c.Path, content, cts.Token);
            string text = await res.Content.ReadAsStringAsync(cts.Token);
            int status = (int)res.StatusCode;
            trace?.AppendLine($"-> {status} {res.Content.Headers.ContentType}: {Escape(Encoding.UTF8.GetBytes(text), 4000)}");
            return new FuzzOutcome(c.Index, c.Path, status.ToString(), clock.Elapsed.TotalMilliseconds, JudgeRest(status, res.Content.Headers.ContentType, text), c.Description);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new FuzzOutcome(c.Index, c.Path, "timeout", clock.Elapsed.TotalMilliseconds, $"no answer within {settings.CaseTimeout.TotalSeconds} s", c.Description);
        }
        catch (HttpRequestException e) when (c.Body.Length > SeaLion.Gateway.OpenAi.OpenAiEndpoints.MaxBodyBytes)
        {
            // Over the body limit Kestrel answers 413 and may close the connection before the rest is sent.
            return new FuzzOutcome(c.Index, c.Path, "closed-over-limit", clock.Elapsed.TotalMilliseconds, null, c.Description + $" ({e.Message})");
        }
        catch (HttpRequestException e)
        {
            return new FuzzOutcome(c.Index, c.Path, "transport-error", clock.Elapsed.TotalMilliseconds, $"the connection failed: {e.Message}", c.Description);
        }
    }

    static string? JudgeRest(int status, MediaTypeHeaderValue? type, string text)
    {
        if (status >= 500) return $"server error: {Clip(text)}";
        if (status >= 400)
        {
            try
            {
                using var doc = JsonDocument.Parse(text);
                return doc.RootElement.TryGetProperty("error", out var e) && e.TryGetProperty("message", out var m) && m.GetString() is { Length: > 0 }
                    ? null : $"a {status} without an OpenAI error message: {Clip(text)}";
            }
            catch (JsonException) { return $"a {status} whose body is not JSON: {Clip(text)}"; }
        }
        if (status != 200) return $"unexpected status: {Clip(text)}";
        if (type?.MediaType == "text/event-stream")
        {
            var events = text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
            if (events.Length == 0 || events[^1] != "data: [DONE]") return $"an event stream that does not end with [DONE]: {Clip(text)}";
            foreach (var e in events[..^1])
            {
                if (!e.StartsWith("data: ", StringComparison.Ordinal)) return $"not an SSE data event: {Clip(e)}";
                try
                {
                    using var doc = JsonDocument.Parse(e["data: ".Length..]);
                    if (doc.RootElement.TryGetProperty("error", out _)) return $"an error event mid-stream: {Clip(e)}";
                }
                catch (JsonException) { return $"an event that is not JSON: {Clip(e)}"; }
            }
            return null;
        }
        try { using var doc = JsonDocument.Parse(text); return doc.RootElement.ValueKind == JsonValueKind.Object ? null : $"a 200 whose body is not a JSON object: {Clip(text)}"; }
        catch (JsonException) { return $"a 200 whose body is not JSON: {Clip(text)}"; }
    }

    // ---- gRPC ---------------------------------------------------------------------------------------------------

    public async Task<FuzzOutcome> Send(CallInvoker invoker, GrpcCase c, CancellationToken ct, StringBuilder? trace = null)
    {
        var method = RawMethod(c.Method);
        var options = new CallOptions(deadline: DateTime.UtcNow + settings.CaseTimeout, cancellationToken: ct);
        trace?.AppendLine($"{c.Method}: {c.Message.Length} bytes: {Convert.ToHexString(c.Message.AsSpan(0, Math.Min(c.Message.Length, 2000)))}");
        var clock = Stopwatch.StartNew();
        string? failure = null;
        StatusCode status = StatusCode.OK;
        try
        {
            if (method.Type == MethodType.ServerStreaming)
            {
                using var call = invoker.AsyncServerStreamingCall(method, null, options, c.Message);
                byte[]? last = null;
                int responses = 0;
                await foreach (var m in call.ResponseStream.ReadAllAsync(ct)) { last = m; responses++; }
                GenerateResponse? end = null;
                try { end = last is null ? null : GenerateResponse.Parser.ParseFrom(last); }
                catch (Google.Protobuf.InvalidProtocolBufferException e) { failure = $"the server sent a response that does not parse: {e.Message}"; }
                trace?.AppendLine($"-> OK, {responses} responses, the last: {end}");
                if (failure is null && (end is null || end.FinishReason == FinishReason.Unspecified)) failure = $"an OK stream of {responses} responses without a finish reason";
            }
            else
            {
                using var call = invoker.AsyncUnaryCall(method, null, options, c.Message);
                byte[] response = await call.ResponseAsync;
                trace?.AppendLine($"-> OK, {response.Length} bytes");
            }
        }
        catch (RpcException e)
        {
            status = e.StatusCode;
            trace?.AppendLine($"-> {e.StatusCode}: {e.Status.Detail}");
            if (e.StatusCode is StatusCode.Internal or StatusCode.Unknown or StatusCode.DataLoss) failure = $"{e.StatusCode}: {Clip(e.Status.Detail)}";
            else if (e.StatusCode == StatusCode.DeadlineExceeded) failure = $"no answer within {settings.CaseTimeout.TotalSeconds} s";
            else if (string.IsNullOrWhiteSpace(e.Status.Detail)) failure = $"{e.StatusCode} without a message";
        }
        return new FuzzOutcome(c.Index, c.Method, status.ToString(), clock.Elapsed.TotalMilliseconds, failure, c.Description);
    }

    static string Clip(string s) => s.Length <= 300 ? s : s[..300] + "...";

    /// <summary>Bytes as readable text: printable ASCII as is, everything else as \xNN.</summary>
    public static string Escape(byte[] b, int max)
    {
        var s = new StringBuilder();
        foreach (byte x in b.AsSpan(0, Math.Min(b.Length, max))) s.Append(x is >= 0x20 and < 0x7F ? ((char)x).ToString() : $"\\x{x:X2}");
        if (b.Length > max) s.Append($"... ({b.Length} bytes)");
        return s.ToString();
    }
}
