using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using SeaLion.Contracts.Grains;
using SeaLion.Gateway.Auth;
using SeaLion.Templates;

namespace SeaLion.Gateway.OpenAi;

/// <summary>
/// The OpenAI-compatible REST API on the gateway's HTTP/1.1 port: POST /v1/chat/completions, POST /v1/completions
/// (streaming as server-sent events with "data: [DONE]", or one JSON body), GET /v1/models. Field names, chunk
/// shapes and finish reasons as the official clients expect; errors as {"error": {...}} with the HTTP status.
/// Server-side sessions: a chat completion with the X-SeaLion-Session header sends only the new messages and goes
/// through the same session grain as gRPC Chat. Where OpenAI is silent, vLLM's choices: max_tokens defaults to
/// the rest of the context; top_k, min_p, repetition_penalty and ignore_eos are accepted as extras.
/// </summary>
public static partial class OpenAiEndpoints
{
    public const long MaxBodyBytes = 8 << 20;
    public const string SessionHeader = "X-SeaLion-Session";
    public const int MaxChoices = 16;
    public const int MaxMessages = 4096;
    static readonly long Created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    public static IEndpointRouteBuilder MapOpenAi(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1").AddEndpointFilter(Authenticate);   // any Host: behind a proxy it is the public name
        v1.MapGet("/models", (ClusterCalls c) => Results.Json(new { @object = "list", data = new[] { ModelObject(c) } }));
        v1.MapGet("/models/{id}", (string id, ClusterCalls c) => id == c.Model.Name ? Results.Json(ModelObject(c))
            : Results.Json(ErrorBody(new OpenAiException(404, $"the model '{id}' does not exist; this server serves '{c.Model.Name}'", "model", code: "model_not_found")), statusCode: 404));
        v1.MapPost("/chat/completions", (HttpContext ctx, ClusterCalls c) => Run(ctx, () => ChatCompletions(ctx, c)));
        v1.MapPost("/completions", (HttpContext ctx, ClusterCalls c) => Run(ctx, () => Completions(ctx, c)));
        app.MapVllmUtilities();
        return app;
    }

    static object ModelObject(ClusterCalls c) => new { id = c.Model.Name, @object = "model", created = Created, owned_by = "sealion", max_model_len = c.Model.ContextLength };

    // ---- auth ---------------------------------------------------------------------------------------------------

    const string PrincipalItem = "sealion.principal";

    static async ValueTask<object?> Authenticate(EndpointFilterInvocationContext f, EndpointFilterDelegate next)
    {
        var ctx = f.HttpContext;
        var services = ctx.RequestServices;
        try
        {
            var p = await services.GetRequiredService<Authenticator>().AuthenticateAsync(ctx.Request.Headers.Authorization.FirstOrDefault(),
                ctx.Request.Headers[Authenticator.TenantHeader].FirstOrDefault());
            services.GetRequiredService<TenantGate>().AdmitRequest(p);
            ctx.Items[PrincipalItem] = p;
        }
        catch (AuthException e)
        {
            return Results.Json(ErrorBody(new OpenAiException(e.Forbidden ? 403 : 401, e.Message, type: "invalid_request_error", code: e.Forbidden ? "forbidden" : "invalid_api_key")),
                statusCode: e.Forbidden ? 403 : 401);
        }
        catch (RateLimitedException e) { return RateLimited(ctx, e); }
        return await next(f);
    }

    static IResult RateLimited(HttpContext ctx, RateLimitedException e)
    {
        ctx.Response.Headers.RetryAfter = e.RetryAfterSeconds.ToString();
        return Results.Json(ErrorBody(new OpenAiException(429, e.Message, type: "rate_limit_error", code: "rate_limit_exceeded")), statusCode: 429);
    }

    static Principal PrincipalOf(HttpContext ctx) => (Principal)ctx.Items[PrincipalItem]!;

    /// <summary>Counts each finished choice's tokens against the tenant's minute.</summary>
    static async IAsyncEnumerable<Piece> Metered(IAsyncEnumerable<Piece> pieces, TenantGate.StreamLease lease)
    {
        await foreach (var p in pieces)
        {
            lease.Count(p.Chunk);
            yield return p;
        }
    }

    // ---- errors -------------------------------------------------------------------------------------------------

    static object ErrorBody(OpenAiException e) => new { error = new { message = e.Message, type = e.Type, param = e.Param, code = e.Code } };

    static async Task Run(HttpContext ctx, Func<Task> handler)
    {
        OpenAiException? error = null;
        try { await handler(); }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested) { return; }   // the client left
        catch (OpenAiException e) { error = e; }
        catch (ArgumentException e) { error = OpenAiException.Invalid(SeaLion.Hosting.SamplingSpecs.Reason(e)); }
        catch (TemplateException e) { error = OpenAiException.Invalid("the chat template refused these messages: " + e.Message, "messages"); }
        catch (SessionBusyException e) { error = new OpenAiException(409, e.Message, SessionHeader, "conflict_error", "session_busy"); }
        catch (RateLimitedException e) when (!ctx.Response.HasStarted) { await RateLimited(ctx, e).ExecuteAsync(ctx); return; }
        catch (NoEngineException e) { error = new OpenAiException(503, e.Message, type: "service_unavailable", code: "no_engine"); }
        // Kestrel's own refusals while the body is read (408: it arrived slower than the minimum rate; 400: bad framing).
        catch (BadHttpRequestException e) { error = new OpenAiException(e.StatusCode, e.Message, type: e.StatusCode == 408 ? "timeout_error" : "invalid_request_error"); }
        catch (Exception e) when (ClusterCalls.Unavailable(e) is { } u)
        {
            if (!ctx.Response.HasStarted) ctx.Response.Headers.RetryAfter = u.RetryAfterSeconds.ToString();
            error = new OpenAiException(503, u.Message, type: "service_unavailable", code: e is SessionStoreUnavailableException or StackExchange.Redis.RedisException ? "session_store_unavailable" : "stream_lost");
        }
        catch (Exception e) { error = new OpenAiException(500, "the server failed: " + e.Message, type: "server_error"); }
        if (error is null) return;
        if (!ctx.Response.HasStarted)
            await Results.Json(ErrorBody(error), statusCode: error.Status).ExecuteAsync(ctx);
        else
        {
            // Mid-stream: the status is sent already; the error goes out as an event, then the stream ends.
            await Sse(ctx, ErrorBody(error));
            await ctx.Response.WriteAsync("data: [DONE]\n\n");
        }
    }

    // ---- request parsing ----------------------------------------------------------------------------------------

    static async Task<OpenAiRequest> ReadBody(HttpContext ctx)
    {
        if (ctx.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit) limit.MaxRequestBodySize = MaxBodyBytes;
        if (ctx.Request.ContentLength > MaxBodyBytes)
        {
            // The body is left unread, so Kestrel closes the connection after this answer: say so, or a keep-alive
            // client sends its next request on a connection that is going away (Kestrel says it itself on the
            // limit it meets while reading, below).
            ctx.Response.Headers.Connection = "close";
            throw new OpenAiException(413, $"the request body has {ctx.Request.ContentLength} bytes; the limit is {MaxBodyBytes}");
        }
        var body = new MemoryStream();
        try { await ctx.Request.Body.CopyToAsync(body, ctx.RequestAborted); }
        catch (BadHttpRequestException e) when (e.StatusCode == 413) { throw new OpenAiException(413, $"the request body is over the limit of {MaxBodyBytes} bytes"); }
        var bytes = body.GetBuffer().AsMemory(0, (int)body.Length);
        // JsonDocument does not check string contents until they are read: invalid UTF-8 is refused here, whole.
        if (!System.Text.Unicode.Utf8.IsValid(bytes.Span)) throw OpenAiException.Invalid("the request body is not valid JSON: it is not valid UTF-8");
        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(bytes);
            root = doc.RootElement.Clone();
        }
        catch (JsonException e) { throw OpenAiException.Invalid($"the request body is not valid JSON: {e.Message}"); }
        // Likewise a \u escape of a lone surrogate: valid syntax, and an exception wherever the string is first read.
        if (SeaLion.Model.JsonText.UnpairedSurrogate(bytes.Span) is { } bad) throw OpenAiException.Invalid("the request body is not valid JSON: " + bad);
        return new OpenAiRequest(root);
    }

    static void CheckModel(OpenAiRequest r, ClusterCalls c)
    {
        string model = r.String("model", 256) ?? throw OpenAiException.Invalid("model is required", "model");
        if (model != c.Model.Name)
            throw new OpenAiException(404, $"the model '{model}' does not exist; this server serves '{c.Model.Name}'", "model", code: "model_not_found");
    }

    static bool IncludeUsage(OpenAiRequest r, bool stream)
    {
        if (r.Get("stream_options") is not { } o) return false;
        if (!stream) throw OpenAiException.Invalid("stream_options is only allowed with stream: true", "stream_options");
        if (o.ValueKind != JsonValueKind.Object) throw OpenAiException.Invalid($"stream_options must be an object, got {OpenAiRequest.Describe(o)}", "stream_options");
        return new OpenAiRequest(o).Bool("include_usage") ?? false;
    }

    static ChatMessageSpec[] Messages(OpenAiRequest r)
    {
        if (r.Get("messages") is not { } m) throw OpenAiException.Invalid("messages is required", "messages");
        if (m.ValueKind != JsonValueKind.Array) throw OpenAiException.Invalid($"messages must be an array, got {OpenAiRequest.Describe(m)}", "messages");
        int count = m.GetArrayLength();
        if (count == 0) throw OpenAiException.Invalid("messages is empty", "messages");
        if (count > MaxMessages) throw OpenAiException.Invalid($"messages has {count} entries; the limit is {MaxMessages}", "messages");
        var list = new List<ChatMessageSpec>(count);
        int i = 0;
        foreach (var e in m.EnumerateArray())
        {
            string at = $"messages[{i++}]";
            if (e.ValueKind != JsonValueKind.Object) throw OpenAiException.Invalid($"{at} must be an object, got {OpenAiRequest.Describe(e)}", "messages");
            var msg = new OpenAiRequest(e);
            string role = msg.String("role", 64) ?? throw OpenAiException.Invalid($"{at}.role is required", "messages");
            if (role == "developer") role = "system";   // OpenAI's newer name for the system role
            if (!ChatLimits.Roles.Contains(role))
                throw OpenAiException.Invalid($"{at}.role is '{role}'; it must be one of system, developer, user, assistant", "messages");
            string content = msg.Get("content") switch
            {
                null => throw OpenAiException.Invalid($"{at}.content is required", "messages"),
                { ValueKind: JsonValueKind.String } s => s.GetString()!,
                { ValueKind: JsonValueKind.Array } parts => string.Concat(parts.EnumerateArray().Select((p, j) =>
                    p.ValueKind == JsonValueKind.Object && p.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() == "text"
                        && p.TryGetProperty("text", out var tx) && tx.ValueKind == JsonValueKind.String
                        ? tx.GetString()
                        : throw OpenAiException.Invalid($"{at}.content[{j}] must be a text part {{\"type\": \"text\", \"text\": ...}}; this model reads text only", "messages"))),
                { } other => throw OpenAiException.Invalid($"{at}.content must be a string or an array of text parts, got {OpenAiRequest.Describe(other)}", "messages"),
            };
            if (content.Length > ChatLimits.MaxMessageChars)
                throw OpenAiException.Invalid($"{at}.content has {content.Length} characters; the limit is {ChatLimits.MaxMessageChars}", "messages");
            list.Add(new ChatMessageSpec(role, content));
        }
        return list.ToArray();
    }

    // ---- fields ---------------------------------------------------------------------------------------------------

    /// <summary>Fields both endpoints take. user and metadata are accepted and have no effect (they change no output).</summary>
    static readonly string[] SharedFields =
    [
        "model", "stream", "stream_options", "n", "seed", "stop", "temperature", "top_p", "top_k", "min_p", "presence_penalty",
        "frequency_penalty", "repetition_penalty", "logit_bias", "ignore_eos", "min_tokens", "stop_token_ids", "include_stop_str_in_output",
        "skip_special_tokens", "spaces_between_special_tokens", "prompt_logprobs", "add_special_tokens", "max_tokens", "user", "metadata",
        "response_format", "structured_outputs", "guided_json", "guided_regex", "guided_choice", "guided_grammar",
    ];
    /// <summary>Every field /v1/chat/completions takes; any other is refused by name (docs/api.md lists them).</summary>
    internal static readonly IReadOnlySet<string> ChatFields = new HashSet<string>([.. SharedFields, "messages", "logprobs", "top_logprobs",
        "max_completion_tokens", "store", "parallel_tool_calls", "add_generation_prompt", "continue_final_message", "chat_template_kwargs", "echo"]);
    /// <summary>Every field /v1/completions takes; any other is refused by name.</summary>
    internal static readonly IReadOnlySet<string> CompletionFields = new HashSet<string>([.. SharedFields, "prompt", "echo", "logprobs", "best_of"]);

    /// <summary>vLLM's prompt_logprobs: 0-20; not with stream (vLLM sends them in no chunk; here that is refused, not dropped).</summary>
    static int? PromptLogprobs(OpenAiRequest r, bool stream)
    {
        int? n = (int?)r.Integer("prompt_logprobs", 0, SeaLion.Model.Sampling.SamplingParams.MaxTopLogprobs);
        if (n is not null && stream) throw OpenAiException.Invalid("prompt_logprobs is not available with stream: true", "prompt_logprobs");
        return n;
    }

    /// <summary>
    /// A chat's prompt ids as vLLM builds them: the template with add_generation_prompt (default true) or
    /// continue_final_message, chat_template_kwargs as extra template variables, and add_special_tokens (default
    /// false: the template writes BOS itself; true adds one more, as vLLM does).
    /// </summary>
    internal static int[] ChatPromptIds(ClusterCalls c, OpenAiRequest r, ChatMessageSpec[] messages)
    {
        bool addGeneration = r.Bool("add_generation_prompt") ?? true, continueFinal = r.Bool("continue_final_message") ?? false;
        if (addGeneration && continueFinal)
            throw OpenAiException.Invalid("continue_final_message and add_generation_prompt cannot both be true (send add_generation_prompt: false)", "continue_final_message");
        IReadOnlyDictionary<string, object?>? kwargs = null;
        if (r.Get("chat_template_kwargs") is { } k)
        {
            if (k.ValueKind != JsonValueKind.Object) throw OpenAiException.Invalid($"chat_template_kwargs must be an object, got {OpenAiRequest.Describe(k)}", "chat_template_kwargs");
            foreach (var name in new[] { "messages", "add_generation_prompt" })
                if (k.TryGetProperty(name, out _)) throw OpenAiException.Invalid($"chat_template_kwargs may not set {name}; send it as the request field", "chat_template_kwargs");
            kwargs = ChatTemplate.ContextFromJson(k);
        }
        var chat = messages.Select(m => new ChatMessage(m.Role, m.Content)).ToList();
        string prompt;
        try { prompt = continueFinal ? c.Model.Template.RenderContinuing(chat, kwargs) : c.Model.Template.Render(chat, addGeneration, kwargs); }
        catch (TemplateException e) when (continueFinal) { throw OpenAiException.Invalid(e.Message, "continue_final_message"); }
        int[] ids = c.Model.Tokenizer.Encode(prompt, addBos: false);   // the template writes BOS itself
        return r.Bool("add_special_tokens") == true ? [c.Model.Tokenizer.BosTokenId, .. ids] : ids;
    }

    // ---- chat completions ---------------------------------------------------------------------------------------

    static async Task ChatCompletions(HttpContext ctx, ClusterCalls c)
    {
        var r = await ReadBody(ctx);
        r.OnlyKnown(ChatFields);
        CheckModel(r, c);
        r.OnlyValue("echo", false, "on /v1/chat/completions (use /v1/completions with echo for prompt text and logprobs)");
        r.Bool("store");
        r.Bool("parallel_tool_calls");
        var messages = Messages(r);
        int n = (int)(r.Integer("n", 1, MaxChoices) ?? 1);
        bool stream = r.Bool("stream") ?? false;
        bool includeUsage = IncludeUsage(r, stream);
        bool logprobs = r.Bool("logprobs") ?? false;
        int? top = (int?)r.Integer("top_logprobs", 0, 20);
        if (top is not null && !logprobs) throw OpenAiException.Invalid("top_logprobs needs logprobs: true", "top_logprobs");
        int? promptLogprobs = PromptLogprobs(r, stream);
        long? maxTokens = r.Integer("max_completion_tokens", 1, int.MaxValue) ?? r.Integer("max_tokens", 1, int.MaxValue);
        r.String("user", 256);
        string id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        var ct = ctx.RequestAborted;
        int vocab = c.Model.VocabSize;

        List<IAsyncEnumerable<GenerateChunk>> streams = [];
        string? session = ctx.Request.Headers[SessionHeader].FirstOrDefault();
        if (session is not null)
        {
            if (ChatLimits.CheckSessionId(session) is { } bad) throw OpenAiException.Invalid($"header {SessionHeader}: {bad}", SessionHeader);
            if (n != 1) throw OpenAiException.Invalid($"n must be 1 in a session turn, got {n}", "n");
            // The session grain renders the whole history with the generation prompt: what changes that is not offered there.
            foreach (var field in new[] { "prompt_logprobs", "continue_final_message", "chat_template_kwargs", "add_special_tokens" })
                if (r.Has(field) && r.Get(field)!.Value.ValueKind != JsonValueKind.False)
                    throw OpenAiException.Invalid($"{field} is not supported in a session turn (header {SessionHeader}); send the whole conversation without the header", field);
            r.OnlyValue("add_generation_prompt", true, $"in a session turn (header {SessionHeader})");
            if (ChatLimits.Check(messages) is { } badTurn) throw OpenAiException.Invalid(badTurn, "messages");
            // 0 = the rest of the context: only the session grain knows how long the history is.
            var spec = r.Sampling(1, logprobs ? top ?? 0 : null, vocab) with { MaxTokens = (int)(maxTokens ?? 0) };
            if (spec.MinTokens > 0 && maxTokens is null) throw OpenAiException.Invalid("min_tokens in a session turn needs max_tokens", "min_tokens");
            streams.Add(c.Chat($"{PrincipalOf(ctx).Tenant}/{session}", messages, spec, id, ct));
        }
        else
        {
            int[] ids = ChatPromptIds(c, r, messages);
            int max = (int)(maxTokens ?? c.Model.ContextLength - ids.Length);
            if (max < 1) throw OpenAiException.Invalid($"messages ({ids.Length} tokens) fill the context length of {c.Model.ContextLength}", "messages");
            if (c.CheckFits(ids.Length, max, "messages") is { } tooLong) throw OpenAiException.Invalid(tooLong, maxTokens is null ? "messages" : "max_tokens");
            var spec = r.Sampling(max, logprobs ? top ?? 0 : null, vocab, promptLogprobs);
            for (int i = 0; i < n; i++)
                streams.Add(c.Generate(ids, spec with { Seed = spec.Seed + i }, n == 1 ? id : $"{id}-{i}", ct));
        }

        using var lease = ctx.RequestServices.GetRequiredService<TenantGate>().AdmitStream(PrincipalOf(ctx));
        var renderer = new ChatRenderer(c, id, logprobs, promptLogprobs);
        var pieces = Metered(Merge(streams, ct), lease);
        if (stream) await StreamOut(ctx, pieces, n, renderer, includeUsage);
        else await Results.Json(renderer.Whole(await Collect(pieces, n))).ExecuteAsync(ctx);
    }


    // ---- completions --------------------------------------------------------------------------------------------

    static async Task Completions(HttpContext ctx, ClusterCalls c)
    {
        var r = await ReadBody(ctx);
        r.OnlyKnown(CompletionFields);
        CheckModel(r, c);
        bool echo = r.Bool("echo") ?? false;
        int n = (int)(r.Integer("n", 1, MaxChoices) ?? 1);
        if (r.Integer("best_of", 1, MaxChoices) is { } bestOf && bestOf != n) throw OpenAiException.Invalid($"best_of must equal n ({n}) on this server, got {bestOf}", "best_of");
        bool stream = r.Bool("stream") ?? false;
        bool includeUsage = IncludeUsage(r, stream);
        int? logprobs = (int?)r.Integer("logprobs", 0, 20);
        int? promptLogprobs = PromptLogprobs(r, stream);
        // max_tokens 0 only with echo (vLLM's): the prompt and, with logprobs, its logprobs; nothing is generated.
        long? maxTokens = r.Integer("max_tokens", echo ? 0 : 1, int.MaxValue);
        r.String("user", 256);
        var prompts = Prompts(r, c, r.Bool("add_special_tokens") ?? true);
        if (prompts.Count * n > MaxChoices * 4) throw OpenAiException.Invalid($"{prompts.Count} prompts x n = {n} is {prompts.Count * n} choices; the limit is {MaxChoices * 4}", "n");
        string id = "cmpl-" + Guid.NewGuid().ToString("N");
        var streams = new List<IAsyncEnumerable<GenerateChunk>>();
        int max = (int)(maxTokens ?? 16);   // OpenAI's default for completions
        // The engine computes the prompt logprobs once for both uses: echo's logprobs (top `logprobs`) and prompt_logprobs.
        int? enginePromptLogprobs = echo && (logprobs is not null || max == 0) ? Math.Max(logprobs ?? 0, promptLogprobs ?? 0) : promptLogprobs;
        var spec = r.Sampling(max, logprobs, c.Model.VocabSize, enginePromptLogprobs);
        for (int p = 0; p < prompts.Count; p++)
        {
            int[] ids = prompts[p].Ids;
            if (c.CheckFits(ids.Length, max, prompts.Count == 1 ? "prompt" : $"prompt[{p}]") is { } tooLong) throw OpenAiException.Invalid(tooLong, "max_tokens");
            for (int i = 0; i < n; i++)
                streams.Add(c.Generate(ids, spec with { Seed = spec.Seed + i }, $"{id}-{p * n + i}", ctx.RequestAborted));
        }
        using var lease = ctx.RequestServices.GetRequiredService<TenantGate>().AdmitStream(PrincipalOf(ctx));
        var echoed = echo ? Enumerable.Range(0, streams.Count).Select(i => prompts[i / n]).ToArray() : null;
        var renderer = new CompletionRenderer(c, id, logprobs, promptLogprobs, echoed, n);
        var pieces = Metered(Merge(streams, ctx.RequestAborted), lease);
        if (stream) await StreamOut(ctx, pieces, streams.Count, renderer, includeUsage);
        else await Results.Json(renderer.Whole(await Collect(pieces, streams.Count))).ExecuteAsync(ctx);
    }

    /// <summary>A completion prompt: its token ids, and its text (as given, or the ids decoded) for echo.</summary>
    internal sealed record PromptInput(int[] Ids, string Text);

    /// <summary>"prompt": a string, an array of strings, an array of token ids, or an array of arrays of token ids.</summary>
    static List<PromptInput> Prompts(OpenAiRequest r, ClusterCalls c, bool addSpecialTokens)
    {
        PromptInput Text(string s, string at)
        {
            if (s.Length == 0) throw OpenAiException.Invalid($"{at} is empty", "prompt");
            if (s.Length > ChatLimits.MaxMessageChars) throw OpenAiException.Invalid($"{at} has {s.Length} characters; the limit is {ChatLimits.MaxMessageChars}", "prompt");
            return new(c.Model.Tokenizer.Encode(s, addBos: addSpecialTokens && c.Model.Tokenizer.AddBosByDefault), s);
        }
        PromptInput Ids(JsonElement a, string at)
        {
            var ids = a.EnumerateArray().Select((e, i) => e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int v) ? v
                : throw OpenAiException.Invalid($"{at}[{i}] must be a token id (an integer), got {OpenAiRequest.Describe(e)}", "prompt")).ToArray();
            if (ids.Length == 0) throw OpenAiException.Invalid($"{at} is empty", "prompt");
            if (c.CheckIds(ids, at) is { } bad) throw OpenAiException.Invalid(bad, "prompt");
            return new(ids, c.Model.Tokenizer.Decode(ids));
        }
        var p = r.Get("prompt") ?? throw OpenAiException.Invalid("prompt is required", "prompt");
        if (p.ValueKind == JsonValueKind.String) return [Text(p.GetString()!, "prompt")];
        if (p.ValueKind != JsonValueKind.Array || p.GetArrayLength() == 0)
            throw OpenAiException.Invalid($"prompt must be a string, an array of strings or token ids, got {(p.ValueKind == JsonValueKind.Array ? "an empty array" : OpenAiRequest.Describe(p))}", "prompt");
        var first = p[0];
        if (first.ValueKind == JsonValueKind.Number) return [Ids(p, "prompt")];
        return p.EnumerateArray().Select((e, i) => e.ValueKind switch
        {
            JsonValueKind.String => Text(e.GetString()!, $"prompt[{i}]"),
            JsonValueKind.Array => Ids(e, $"prompt[{i}]"),
            _ => throw OpenAiException.Invalid($"prompt[{i}] must be a string or an array of token ids, got {OpenAiRequest.Describe(e)}", "prompt"),
        }).ToList();
    }

    // ---- streaming machinery ------------------------------------------------------------------------------------

    internal sealed record Piece(int Index, GenerateChunk Chunk);

    /// <summary>All choices' streams as one, each piece tagged with its choice index; the first failure ends all.</summary>
    static async IAsyncEnumerable<Piece> Merge(List<IAsyncEnumerable<GenerateChunk>> streams, [EnumeratorCancellation] CancellationToken ct)
    {
        if (streams.Count == 1)
        {
            await foreach (var c in streams[0].WithCancellation(ct)) yield return new Piece(0, c);
            yield break;
        }
        var channel = Channel.CreateUnbounded<Piece>(new UnboundedChannelOptions { SingleReader = true });
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var pumps = streams.Select((s, i) => Task.Run(async () =>
        {
            await foreach (var c in s.WithCancellation(cts.Token)) channel.Writer.TryWrite(new Piece(i, c));
        })).ToArray();
        _ = Task.WhenAll(pumps).ContinueWith(t =>
        {
            if (t.Exception is { } e) { cts.Cancel(); channel.Writer.TryComplete(e.InnerException); }
            else channel.Writer.TryComplete();
        }, TaskScheduler.Default);
        try
        {
            await foreach (var x in channel.Reader.ReadAllAsync(ct)) yield return x;
        }
        finally { cts.Cancel(); }
    }

    static async Task<List<Piece>[]> Collect(IAsyncEnumerable<Piece> pieces, int choices)
    {
        var byChoice = Enumerable.Range(0, choices).Select(_ => new List<Piece>()).ToArray();
        await foreach (var p in pieces) byChoice[p.Index].Add(p);
        return byChoice;
    }

    static async Task Sse(HttpContext ctx, object payload)
    {
        await ctx.Response.WriteAsync("data: " + JsonSerializer.Serialize(payload) + "\n\n", ctx.RequestAborted);
        await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
    }

    static async Task StreamOut(HttpContext ctx, IAsyncEnumerable<Piece> pieces, int choices, Renderer renderer, bool includeUsage)
    {
        await using var e = pieces.GetAsyncEnumerator(ctx.RequestAborted);
        // The first piece before any byte goes out: a request the engine refuses still gets its proper status.
        bool any = await e.MoveNextAsync();
        using var open = GatewayMetrics.Stream("rest");
        ctx.Response.ContentType = "text/event-stream";
        ctx.Response.Headers.CacheControl = "no-cache";
        foreach (var start in renderer.Start(choices)) await Sse(ctx, start);
        var usage = new UsageCounter();
        while (any)
        {
            usage.Add(e.Current.Chunk, renderer.PromptOf(e.Current.Index));
            foreach (var chunk in renderer.Chunk(e.Current)) await Sse(ctx, chunk);
            any = await e.MoveNextAsync();
        }
        if (includeUsage) await Sse(ctx, renderer.UsageChunk(usage.ToObject()));
        await ctx.Response.WriteAsync("data: [DONE]\n\n", ctx.RequestAborted);
    }

    /// <summary>
    /// A response's usage: each prompt counted once (the n choices of one prompt share it, as OpenAI counts; a list
    /// of prompts sums them), cached tokens likewise, generated tokens summed over every choice.
    /// </summary>
    internal sealed class UsageCounter
    {
        readonly Dictionary<int, (int Prompt, int Cached)> _prompts = [];
        int _completion;
        public void Add(GenerateChunk c, int prompt = 0)
        {
            if (c.FinishReason is null) return;
            var had = _prompts.GetValueOrDefault(prompt);
            _prompts[prompt] = (c.PromptTokens, Math.Max(had.Cached, c.CachedTokens));
            _completion += c.GeneratedTokens;
        }
        public object ToObject()
        {
            int prompt = _prompts.Values.Sum(p => p.Prompt), cached = _prompts.Values.Sum(p => p.Cached);
            return new
            {
                prompt_tokens = prompt, completion_tokens = _completion, total_tokens = prompt + _completion,
                prompt_tokens_details = new { cached_tokens = cached },
            };
        }
    }

    internal static string? Finish(string? reason) => reason switch { null => null, "length" => "length", _ => "stop" };

    static readonly UTF8Encoding StrictUtf8 = new(false, true);

    /// <summary>A token as OpenAI shows it: its text when its bytes are whole UTF-8, else "bytes:\xNN...".</summary>
    internal static (string Text, int[] Bytes) TokenText(ClusterCalls c, int id)
    {
        byte[] b = c.Model.Tokenizer.TokenBytes(id);
        int[] bytes = Array.ConvertAll(b, x => (int)x);
        try { return (StrictUtf8.GetString(b), bytes); }
        catch (DecoderFallbackException) { return ("bytes:" + string.Concat(b.Select(x => $"\\x{x:x2}")), bytes); }
    }

    /// <summary>
    /// One response's chunks and whole body: the envelope (one `created` per response, as OpenAI's), the usage chunk
    /// and the usage count are shared; a kind renders its choices.
    /// </summary>
    internal abstract class Renderer(ClusterCalls c, string id, string chunkObject, string wholeObject)
    {
        protected readonly ClusterCalls C = c;
        readonly long _created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        protected object Envelope(object[] choices, object? usage = null) => new { id, @object = chunkObject, created = _created, model = C.Model.Name, choices, usage };

        public abstract IEnumerable<object> Start(int choices);
        public abstract IEnumerable<object> Chunk(Piece p);
        protected abstract object WholeChoice(List<Piece> pieces, int index);

        public object UsageChunk(object usage) => Envelope([], usage);

        protected virtual object? TopLevelPromptLogprobs(List<Piece>[] choices) => null;

        /// <summary>Which prompt a choice answers (usage counts each prompt once).</summary>
        public virtual int PromptOf(int choice) => 0;

        public object Whole(List<Piece>[] choices)
        {
            var usage = new UsageCounter();
            foreach (var p in choices.SelectMany(x => x)) usage.Add(p.Chunk, PromptOf(p.Index));
            var body = new { id, @object = wholeObject, created = _created, model = C.Model.Name, choices = choices.Select((ps, i) => WholeChoice(ps, i)).ToArray(), usage = usage.ToObject() };
            return TopLevelPromptLogprobs(choices) is { } prompt
                ? new { body.id, body.@object, body.created, body.model, body.choices, body.usage, prompt_logprobs = prompt }
                : body;
        }
    }

    /// <summary>
    /// vLLM's prompt_logprobs: null for the first prompt token, then per position a map token id -> {logprob, rank,
    /// decoded_token} holding the prompt token (its own rank) and the top <paramref name="topN"/> (ranks 1..N).
    /// </summary>
    internal static object?[]? VllmPromptLogprobs(ClusterCalls c, PromptLogprobSpec[]? lps, int? topN)
    {
        if (topN is not { } n || lps is null) return null;
        var list = new object?[lps.Length + 1];
        for (int i = 0; i < lps.Length; i++)
        {
            var l = lps[i];
            var entry = new Dictionary<string, object> { [l.TokenId.ToString()] = new { logprob = l.Logprob, rank = l.Rank, decoded_token = TokenText(c, l.TokenId).Text } };
            for (int k = 0; k < Math.Min(n, l.Top.Length); k++)
                entry.TryAdd(l.Top[k].TokenId.ToString(), new { logprob = l.Top[k].Logprob, rank = k + 1, decoded_token = TokenText(c, l.Top[k].TokenId).Text });
            list[i + 1] = entry;
        }
        return list;
    }

    static PromptLogprobSpec[]? PromptLogprobsIn(IEnumerable<Piece> ps) => ps.Select(p => p.Chunk.PromptLogprobs).FirstOrDefault(x => x is not null);

    sealed class ChatRenderer(ClusterCalls c, string id, bool logprobs, int? promptLogprobs) : Renderer(c, id, "chat.completion.chunk", "chat.completion")
    {
        object? Logprobs(IEnumerable<TokenLogprobSpec>? lps) => !logprobs || lps is null ? null : new
        {
            content = lps.Select(l =>
            {
                var (t, b) = TokenText(C, l.TokenId);
                return new { token = t, logprob = l.Logprob, bytes = b, top_logprobs = l.Top.Select(x => { var (tt, bb) = TokenText(C, x.TokenId); return new { token = tt, logprob = x.Logprob, bytes = bb }; }).ToArray() };
            }).ToArray(),
        };

        public override IEnumerable<object> Start(int choices) =>
            [Envelope(Enumerable.Range(0, choices).Select(i => (object)new { index = i, delta = new { role = "assistant", content = "" }, logprobs = (object?)null, finish_reason = (string?)null }).ToArray())];

        public override IEnumerable<object> Chunk(Piece p)
        {
            if (p.Chunk.Text.Length > 0 || p.Chunk.TokenIds.Length > 0)
                yield return Envelope([new { index = p.Index, delta = new { content = p.Chunk.Text }, logprobs = Logprobs(p.Chunk.Logprobs), finish_reason = (string?)null }]);
            if (Finish(p.Chunk.FinishReason) is { } f)
                yield return Envelope([new { index = p.Index, delta = new { }, logprobs = (object?)null, finish_reason = f }]);
        }

        protected override object WholeChoice(List<Piece> ps, int i) => new
        {
            index = i,
            message = new { role = "assistant", content = string.Concat(ps.Select(p => p.Chunk.Text)) },
            logprobs = Logprobs(ps.SelectMany(p => p.Chunk.Logprobs ?? [])),
            finish_reason = Finish(ps.LastOrDefault()?.Chunk.FinishReason),
        };

        // vLLM's chat response carries the prompt's logprobs once, at the top level (every choice shares the prompt).
        protected override object? TopLevelPromptLogprobs(List<Piece>[] choices) => VllmPromptLogprobs(C, PromptLogprobsIn(choices.SelectMany(x => x)), promptLogprobs);
    }

    /// <param name="echo">Per choice, the prompt to echo before its text (and, with logprobs, before its logprobs); null: no echo.</param>
    sealed class CompletionRenderer(ClusterCalls c, string id, int? logprobs, int? promptLogprobs, PromptInput[]? echo, int n) : Renderer(c, id, "text_completion", "text_completion")
    {
        // Choices are numbered prompt by prompt, n each.
        public override int PromptOf(int choice) => choice / n;

        readonly Dictionary<int, int> _offsets = [];
        readonly HashSet<int> _echoed = [];

        /// <summary>OpenAI's legacy logprobs: tokens, token_logprobs, top_logprobs (token text -> logprob), text_offset.</summary>
        object? Logprobs(int index, IEnumerable<TokenLogprobSpec>? lps, PromptLogprobSpec[]? prompt)
        {
            if (logprobs is not { } n) return null;
            var tokens = new List<string>();
            var tokenLogprobs = new List<float?>();
            var top = new List<Dictionary<string, float>?>();
            var offsets = new List<int>();
            int offset = _offsets.GetValueOrDefault(index);
            void Add(int tokenId, float? lp, Dictionary<string, float>? alternatives)
            {
                string t = TokenText(C, tokenId).Text;
                tokens.Add(t);
                tokenLogprobs.Add(lp);
                top.Add(alternatives);
                offsets.Add(offset);
                offset += t.Length;
            }
            // A map keyed by token text: two tokens with the same text keep the larger logprob.
            Dictionary<string, float> Map(IEnumerable<(int Id, float Lp)> entries)
            {
                var d = new Dictionary<string, float>();
                foreach (var (tid, lp) in entries)
                {
                    string t = TokenText(C, tid).Text;
                    d[t] = d.TryGetValue(t, out float had) ? Math.Max(had, lp) : lp;
                }
                return d;
            }
            if (prompt is not null)
            {
                // The echoed prompt: its first token has no logprob (nothing before it), the others carry their own
                // logprob and, as vLLM, a map of the prompt token and the top n at that position.
                Add(echo![index].Ids[0], null, null);
                foreach (var l in prompt) Add(l.TokenId, l.Logprob, Map([(l.TokenId, l.Logprob), .. l.Top.Take(n).Select(x => (x.TokenId, x.Logprob))]));
            }
            foreach (var l in lps ?? []) Add(l.TokenId, l.Logprob, Map(l.Top.Select(x => (x.TokenId, x.Logprob))));
            _offsets[index] = offset;
            return new { tokens, token_logprobs = tokenLogprobs, top_logprobs = top, text_offset = offsets };
        }

        /// <summary>The echo for a choice's first piece: the prompt's text and its logprobs; nothing after that.</summary>
        (string Text, PromptLogprobSpec[]? Logprobs) Echo(int index, PromptLogprobSpec[]? got)
        {
            if (echo is null || !_echoed.Add(index)) return ("", null);
            if (logprobs is not null && got is null) throw new InvalidOperationException("echo with logprobs: the engine sent no prompt logprobs");
            return (echo[index].Text, logprobs is null ? null : got);
        }

        public override IEnumerable<object> Start(int choices) => [];

        public override IEnumerable<object> Chunk(Piece p)
        {
            var (prefix, promptLps) = Echo(p.Index, p.Chunk.PromptLogprobs);
            yield return Envelope([new
            {
                index = p.Index, text = prefix + p.Chunk.Text, logprobs = Logprobs(p.Index, p.Chunk.Logprobs, promptLps), finish_reason = Finish(p.Chunk.FinishReason),
            }]);
        }

        protected override object WholeChoice(List<Piece> ps, int i)
        {
            var got = PromptLogprobsIn(ps);
            var (prefix, promptLps) = Echo(i, got);
            return new
            {
                index = i, text = prefix + string.Concat(ps.Select(p => p.Chunk.Text)),
                logprobs = Logprobs(i, ps.SelectMany(p => p.Chunk.Logprobs ?? []), promptLps),
                finish_reason = Finish(ps.LastOrDefault()?.Chunk.FinishReason),
                prompt_logprobs = VllmPromptLogprobs(C, got, promptLogprobs),
            };
        }
    }
}
