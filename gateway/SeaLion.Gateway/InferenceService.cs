using StructuredOutput = SeaLion.Model.Sampling.StructuredOutput;
using StructuredKind = SeaLion.Model.Sampling.StructuredKind;
using Grpc.Core;
using SeaLion.Contracts.Grains;
using SeaLion.Contracts.V1;
using SeaLion.Hosting;
using Orleans;

namespace SeaLion.Gateway;

/// <summary>
/// sealion.v1.Inference over the cluster: validates (INVALID_ARGUMENT names the field, the limit and the value),
/// tokenizes, and streams from an engine grain (Generate, engine chosen by the router) or a session grain (Chat,
/// key "tenant/session"; the tenant is the caller's API key's, see Auth.AuthInterceptor). A client that
/// cancels ends the grain stream, which aborts the request in the engine. Bytes that are not a valid request message
/// are INVALID_ARGUMENT too (see <see cref="BindService"/>).
/// </summary>
[BindServiceMethod(typeof(InferenceService), nameof(BindService))]
public sealed class InferenceService(ClusterCalls cluster) : Inference.InferenceBase
{
    public const int MaxPromptChars = 1 << 20;
    public const string TenantHeader = Auth.Authenticator.TenantHeader;
    ModelCatalog model => cluster.Model;

    /// <summary>
    /// How grpc-dotnet binds this service (it finds this method through the attribute above): the generated binding,
    /// with each request deserializer refusing malformed bytes as INVALID_ARGUMENT instead of UNKNOWN. The parameter is
    /// the generated base type, as grpc-dotnet matches the handlers against the methods that type declares.
    /// </summary>
    public static void BindService(ServiceBinderBase binder, Inference.InferenceBase? service) =>
        Inference.BindService(new MalformedRequestBinder(binder), service);

    public override async Task Generate(GenerateRequest request, IServerStreamWriter<GenerateResponse> responses, ServerCallContext context)
    {
        CheckModel(request.Model);
        int[] ids = request.PromptCase switch
        {
            GenerateRequest.PromptOneofCase.Text when request.Text.Length == 0 => throw Invalid("prompt.text is empty"),
            GenerateRequest.PromptOneofCase.Text when request.Text.Length > MaxPromptChars =>
                throw Invalid($"prompt.text has {request.Text.Length} characters; the limit is {MaxPromptChars}"),
            GenerateRequest.PromptOneofCase.Text => model.Tokenizer.Encode(request.Text, addBos: model.Tokenizer.AddBosByDefault),
            GenerateRequest.PromptOneofCase.TokenIds when request.TokenIds.Ids.Count == 0 => throw Invalid("prompt.token_ids is empty"),
            GenerateRequest.PromptOneofCase.TokenIds => request.TokenIds.Ids.ToArray(),
            GenerateRequest.PromptOneofCase.Messages => ChatPrompt(request.Messages),
            _ => throw Invalid("prompt is missing: set text or token_ids"),
        };
        if (cluster.CheckIds(ids, "prompt.token_ids") is { } badId) throw Invalid(badId);
        var sampling = ToSpec(request.Sampling);
        if (cluster.CheckFits(ids.Length, sampling.MaxTokens) is { } tooLong) throw Invalid(tooLong);
        string requestId = request.RequestId.Length > 0 ? request.RequestId : Guid.NewGuid().ToString("N");
        var resume = ReadResume(request.ResumeTokenIds, null, sampling);
        await Stream(cluster.Generate(ids, sampling, requestId, context.CancellationToken, resume), requestId, responses, context);
    }

    public override async Task Chat(ChatRequest request, IServerStreamWriter<GenerateResponse> responses, ServerCallContext context)
    {
        CheckModel(request.Model);
        string key = SessionKey(request.SessionId, context);
        var messages = request.Messages.Select(m => new ChatMessageSpec(m.Role, m.Content)).ToArray();
        if (ChatLimits.Check(messages) is { } error) throw Invalid(error);
        var sampling = ToSpec(request.Sampling);
        if (sampling.PromptLogprobs is not null) throw Invalid("sampling.prompt_logprobs is not supported in a session turn; use Generate with the prompt's token ids");
        if (request.ResumeTokenIds.Count > 0 && request.RequestId.Length == 0) throw Invalid("resume_token_ids needs the request_id of the turn it resumes");
        string requestId = request.RequestId.Length > 0 ? request.RequestId : Guid.NewGuid().ToString("N");
        var resume = ReadResume(request.ResumeTokenIds, request.ResumeText, sampling);
        await Stream(cluster.Chat(key, messages, sampling, requestId, context.CancellationToken, resume), requestId, responses, context);
    }

    public override async Task<Session> GetSession(GetSessionRequest request, ServerCallContext context)
    {
        var snapshot = await cluster.Session(SessionKey(request.SessionId, context)).Get()
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"session '{request.SessionId}' does not exist"));
        var r = new Session { SessionId = request.SessionId, Model = snapshot.Model };
        r.Messages.AddRange(snapshot.Messages.Select(m => new ChatMessage { Role = m.Role, Content = m.Content }));
        return r;
    }

    public override async Task<DeleteSessionResponse> DeleteSession(DeleteSessionRequest request, ServerCallContext context)
    {
        try { return new DeleteSessionResponse { Deleted = await cluster.Session(SessionKey(request.SessionId, context)).Delete() }; }
        catch (SessionBusyException e) { throw new RpcException(new Status(StatusCode.Aborted, e.Message)); }
    }

    /// <summary>Relays a grain stream; the errors a client caused become INVALID_ARGUMENT or ABORTED.</summary>
    static async Task Stream(IAsyncEnumerable<GenerateChunk> chunks, string requestId, IServerStreamWriter<GenerateResponse> responses, ServerCallContext context)
    {
        var lease = Auth.AuthInterceptor.LeaseOf(context);
        try
        {
            await foreach (var chunk in chunks)
            {
                lease?.Count(chunk);
                await responses.WriteAsync(ToResponse(requestId, chunk), context.CancellationToken);
            }
        }
        catch (NoEngineException e) { throw new RpcException(new Status(StatusCode.Unavailable, e.Message)); }
        catch (ArgumentException e) { throw Invalid(e.Reason()); }
        catch (SessionBusyException e) { throw new RpcException(new Status(StatusCode.Aborted, e.Message)); }
        catch (Exception e) when (ClusterCalls.Unavailable(e) is { } u && !context.CancellationToken.IsCancellationRequested)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, u.Message), new Metadata { { "retry-after", u.RetryAfterSeconds.ToString() } });
        }
    }

    /// <summary>"tenant/session": the tenant is the caller's (its API key's), so no call reaches another tenant's session.</summary>
    static string SessionKey(string sessionId, ServerCallContext context)
    {
        if (ChatLimits.CheckSessionId(sessionId) is { } error) throw Invalid(error);
        return $"{Auth.AuthInterceptor.PrincipalOf(context).Tenant}/{sessionId}";
    }

    public override Task<TokenizeResponse> Tokenize(TokenizeRequest request, ServerCallContext context)
    {
        CheckModel(request.Model);
        if (request.Text.Length > MaxPromptChars) throw Invalid($"text has {request.Text.Length} characters; the limit is {MaxPromptChars}");
        var r = new TokenizeResponse();
        r.TokenIds.AddRange(model.Tokenizer.Encode(request.Text, addBos: request.AddBos));
        return Task.FromResult(r);
    }

    public override Task<DetokenizeResponse> Detokenize(DetokenizeRequest request, ServerCallContext context)
    {
        CheckModel(request.Model);
        foreach (int id in request.TokenIds)
            if (id < 0 || id >= model.VocabSize) throw Invalid($"token_ids holds {id}, outside the vocabulary [0, {model.VocabSize})");
        return Task.FromResult(new DetokenizeResponse { Text = model.Tokenizer.Decode(request.TokenIds, request.SkipSpecialTokens) });
    }

    public override Task<ListModelsResponse> ListModels(ListModelsRequest request, ServerCallContext context)
    {
        var r = new ListModelsResponse();
        r.Models.Add(new ModelInfo { Name = model.Name, ContextLength = model.ContextLength, VocabSize = model.VocabSize });
        return Task.FromResult(r);
    }

    void CheckModel(string name)
    {
        if (name.Length > 0 && name != model.Name) throw new RpcException(new Status(StatusCode.NotFound, $"model '{Clip(name, 64)}' is not served; this cluster serves '{model.Name}'"));
    }

    /// <summary>A stream resumed by the client (its gateway died): null when it resumes nothing; checked like a prompt.</summary>
    Resume? ReadResume(IReadOnlyList<int> tokens, string? text, SamplingSpec sampling)
    {
        if (tokens.Count == 0)
        {
            if (!string.IsNullOrEmpty(text)) throw Invalid("resume_text is set without resume_token_ids");
            return null;
        }
        if (tokens.Count >= sampling.MaxTokens && sampling.MaxTokens > 0)
            throw Invalid($"resume_token_ids has {tokens.Count} tokens; a resumed stream has fewer than max_tokens ({sampling.MaxTokens})");
        if (cluster.CheckIds(tokens, "resume_token_ids") is { } bad) throw Invalid(bad);
        if (text is { Length: > ChatLimits.MaxMessageChars }) throw Invalid($"resume_text has {text.Length} characters; the limit is {ChatLimits.MaxMessageChars}");
        return new Resume(tokens.ToArray(), text);
    }

    /// <summary>A stateless chat's prompt: the messages checked as a session turn's are, then the chat template with its generation prompt.</summary>
    int[] ChatPrompt(ChatMessages m)
    {
        // A whole conversation, not one turn: the REST API's limit on its length.
        var messages = m.Messages.Select(x => new ChatMessageSpec(x.Role, x.Content)).ToArray();
        if (ChatLimits.Check(messages, OpenAi.OpenAiEndpoints.MaxMessages) is { } error) throw Invalid("prompt." + error);
        string prompt;
        try { prompt = model.Template.Render(messages.Select(x => new SeaLion.Templates.ChatMessage(x.Role, x.Content)).ToList(), addGenerationPrompt: true); }
        catch (SeaLion.Templates.TemplateException e) { throw Invalid("prompt.messages: the chat template refused them: " + e.Message); }
        return model.Tokenizer.Encode(prompt, addBos: false);   // the template writes BOS itself
    }

    /// <summary>
    /// The status detail travels in an HTTP/2 header (grpc-message): one that echoes a huge value would pass the
    /// client's header limit (64 KiB in .NET), which fails the whole connection, every call on it, not only this one.
    /// </summary>
    public const int MaxDetailChars = 1024;

    static RpcException Invalid(string message) => new(new Status(StatusCode.InvalidArgument, Clip(message, MaxDetailChars)));

    static string Clip(string s, int max) => s.Length <= max ? s : s[..(char.IsHighSurrogate(s[max - 1]) ? max - 1 : max)] + $"... ({s.Length} characters)";

    SamplingSpec ToSpec(SamplingParams? p)
    {
        p ??= new SamplingParams();
        var d = new SamplingSpec();   // unset fields keep the engine's defaults
        var spec = new SamplingSpec
        {
            Temperature = p.HasTemperature ? p.Temperature : d.Temperature,
            TopP = p.HasTopP ? p.TopP : d.TopP,
            TopK = p.HasTopK ? p.TopK : d.TopK,
            MinP = p.HasMinP ? p.MinP : d.MinP,
            MaxTokens = p.HasMaxTokens ? p.MaxTokens : d.MaxTokens,
            Seed = p.HasSeed ? p.Seed : d.Seed,
            Stop = p.Stop.ToArray(),
            StopTokenIds = p.StopTokenIds.ToArray(),
            PresencePenalty = p.HasPresencePenalty ? p.PresencePenalty : d.PresencePenalty,
            FrequencyPenalty = p.HasFrequencyPenalty ? p.FrequencyPenalty : d.FrequencyPenalty,
            RepetitionPenalty = p.HasRepetitionPenalty ? p.RepetitionPenalty : d.RepetitionPenalty,
            Logprobs = p.HasLogprobs ? p.Logprobs : d.Logprobs,
            IgnoreEos = p.IgnoreEos,
            PromptLogprobs = p.HasPromptLogprobs ? p.PromptLogprobs : null,
            MinTokens = p.HasMinTokens ? p.MinTokens : 0,
            LogitBias = p.LogitBias.Count > 0 ? new Dictionary<int, float>(p.LogitBias) : null,
            IncludeStopStrInOutput = p.IncludeStopStrInOutput,
            SkipSpecialTokens = !p.KeepSpecialTokens,
        }.WithStructured(p.StructuredCase switch
        {
            SamplingParams.StructuredOneofCase.JsonSchema => new StructuredOutput(StructuredKind.JsonSchema, p.JsonSchema),
            SamplingParams.StructuredOneofCase.JsonObject when p.JsonObject => new StructuredOutput(StructuredKind.JsonObject, ""),
            SamplingParams.StructuredOneofCase.Regex => new StructuredOutput(StructuredKind.Regex, p.Regex),
            SamplingParams.StructuredOneofCase.Choice => new StructuredOutput(StructuredKind.Choice, System.Text.Json.JsonSerializer.Serialize(p.Choice.Choices.ToArray())),
            SamplingParams.StructuredOneofCase.Grammar => new StructuredOutput(StructuredKind.Grammar, p.Grammar),
            _ => null,
        });
        // The engine's own checks, run here too so bad input is refused before any grain call.
        if (spec.Problem(model.VocabSize) is { } problem) throw Invalid("sampling." + problem.Message);
        return spec;
    }

    static GenerateResponse ToResponse(string requestId, GenerateChunk c)
    {
        var r = new GenerateResponse { RequestId = requestId, Text = c.Text };
        r.TokenIds.AddRange(c.TokenIds);
        if (c.Logprobs is not null)
            foreach (var l in c.Logprobs)
            {
                var t = new TokenLogprobs { TokenId = l.TokenId, Logprob = l.Logprob };
                t.Top.AddRange(l.Top.Select(x => new TopLogprob { TokenId = x.TokenId, Logprob = x.Logprob }));
                r.Logprobs.Add(t);
            }
        if (c.PromptLogprobs is not null)
            foreach (var l in c.PromptLogprobs)
            {
                var p = new PromptLogprob { TokenId = l.TokenId, Logprob = l.Logprob, Rank = l.Rank };
                p.Top.AddRange(l.Top.Select(x => new TopLogprob { TokenId = x.TokenId, Logprob = x.Logprob }));
                r.PromptLogprobs.Add(p);
            }
        if (c.FinishReason is { } f)
        {
            r.FinishReason = f switch { "stop" => FinishReason.Stop, "length" => FinishReason.Length, _ => FinishReason.Abort };
            r.Usage = new Usage { PromptTokens = c.PromptTokens, CachedTokens = c.CachedTokens, GeneratedTokens = c.GeneratedTokens };
        }
        return r;
    }
}
