using System.Reflection;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using SeaLion.Contracts.Grains;

namespace SeaLion.Gateway.OpenAi;

/// <summary>
/// vLLM's endpoints beside the OpenAI API, at the server root, in vLLM's request and response shapes:
/// POST /tokenize (a prompt, or chat messages through the template), POST /detokenize, GET /tokenizer_info
/// (lm-eval's remote tokenizer reads eos_token, bos_token, pad_token and chat_template there), and the probes
/// GET /health, GET|POST /ping (empty body, 200 or 503) and GET /version. The tokenizer endpoints take the same
/// API keys as /v1 when keys are configured; the probes take none, as load balancers call them.
/// </summary>
public static partial class OpenAiEndpoints
{
    /// <summary>The fields of POST /tokenize: its prompt form and its chat form (vLLM's TokenizeCompletionRequest / TokenizeChatRequest).</summary>
    internal static readonly IReadOnlySet<string> TokenizeFields = new HashSet<string>(["model", "prompt", "messages", "add_special_tokens", "add_generation_prompt",
        "continue_final_message", "chat_template_kwargs", "return_token_strs"]);
    internal static readonly IReadOnlySet<string> DetokenizeFields = new HashSet<string>(["model", "tokens"]);
    public const int MaxDetokenizeTokens = 1 << 20;

    static readonly string Version = typeof(OpenAiEndpoints).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    static IEndpointRouteBuilder MapVllmUtilities(this IEndpointRouteBuilder app)
    {
        var tokenizer = app.MapGroup("").AddEndpointFilter(Authenticate);
        tokenizer.MapPost("/tokenize", (HttpContext ctx, ClusterCalls c) => Run(ctx, () => Tokenize(ctx, c)));
        tokenizer.MapPost("/detokenize", (HttpContext ctx, ClusterCalls c) => Run(ctx, () => Detokenize(ctx, c)));
        tokenizer.MapGet("/tokenizer_info", (ClusterCalls c) => Results.Json(TokenizerInfo(c)));
        app.MapGet("/health", Health);
        app.MapMethods("/ping", ["GET", "POST"], Health);
        app.MapGet("/version", () => Results.Json(new { version = Version }));
        return app;
    }

    /// <summary>vLLM's /health: an empty 200 while an engine serves, 503 otherwise (the same check as /healthz).</summary>
    static async Task<IResult> Health(ClusterHealthCheck check, CancellationToken ct) =>
        (await check.CheckHealthAsync(new HealthCheckContext(), ct)).Status == HealthStatus.Healthy ? Results.Ok() : Results.StatusCode(503);

    /// <summary>"model" is optional here (vLLM's); when given it must be this server's model, or empty.</summary>
    static void CheckOptionalModel(OpenAiRequest r, ClusterCalls c)
    {
        if (r.String("model", 256) is { Length: > 0 } model && model != c.Model.Name)
            throw new OpenAiException(404, $"the model '{model}' does not exist; this server serves '{c.Model.Name}'", "model", code: "model_not_found");
    }

    static async Task Tokenize(HttpContext ctx, ClusterCalls c)
    {
        var r = await ReadBody(ctx);
        r.OnlyKnown(TokenizeFields);
        CheckOptionalModel(r, c);
        bool strs = r.Bool("return_token_strs") ?? false;
        int[] ids;
        if (r.Has("messages"))
        {
            if (r.Has("prompt")) throw OpenAiException.Invalid("send either prompt or messages, not both", "prompt");
            ids = ChatPromptIds(c, r, Messages(r));
        }
        else
        {
            foreach (var chatOnly in new[] { "add_generation_prompt", "continue_final_message", "chat_template_kwargs" })
                if (r.Has(chatOnly)) throw OpenAiException.Invalid($"{chatOnly} applies to the messages form of /tokenize; this request has a prompt", chatOnly);
            string prompt = r.String("prompt", ChatLimits.MaxMessageChars) ?? throw OpenAiException.Invalid("prompt or messages is required", "prompt");
            // Special-token strings become their ids (lm-eval finds EOS and BOS ids this way), as HF tokenizers do.
            ids = c.Model.Tokenizer.Encode(prompt, addBos: (r.Bool("add_special_tokens") ?? true) && c.Model.Tokenizer.AddBosByDefault);
        }
        await Results.Json(new
        {
            count = ids.Length, max_model_len = c.Model.ContextLength, tokens = ids,
            token_strs = strs ? ids.Select(c.Model.Tokenizer.IdToToken).ToArray() : null,
        }).ExecuteAsync(ctx);
    }

    static async Task Detokenize(HttpContext ctx, ClusterCalls c)
    {
        var r = await ReadBody(ctx);
        r.OnlyKnown(DetokenizeFields);
        CheckOptionalModel(r, c);
        if (r.Get("tokens") is not { ValueKind: JsonValueKind.Array } t)
            throw OpenAiException.Invalid($"tokens must be an array of token ids, got {(r.Get("tokens") is { } v ? OpenAiRequest.Describe(v) : "nothing")}", "tokens");
        if (t.GetArrayLength() > MaxDetokenizeTokens) throw OpenAiException.Invalid($"tokens has {t.GetArrayLength()} entries; the limit is {MaxDetokenizeTokens}", "tokens");
        var ids = t.EnumerateArray().Select((e, i) => e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int id) ? id
            : throw OpenAiException.Invalid($"tokens[{i}] must be a token id (an integer), got {OpenAiRequest.Describe(e)}", "tokens")).ToArray();
        if (c.CheckIds(ids, "tokens") is { } bad) throw OpenAiException.Invalid(bad, "tokens");
        // As vLLM (transformers' decode): special tokens are kept.
        await Results.Json(new { prompt = c.Model.Tokenizer.Decode(ids) }).ExecuteAsync(ctx);
    }

    /// <summary>The tokenizer's configuration as vLLM's /tokenizer_info gives it (tokenizer_config.json's keys and tokenizer_class).</summary>
    static object TokenizerInfo(ClusterCalls c)
    {
        var t = c.Model.Tokenizer;
        return new
        {
            tokenizer_class = "PreTrainedTokenizerFast",
            bos_token = t.BosToken, eos_token = t.EosToken, pad_token = (string?)null,
            add_bos_token = t.AddBosByDefault, model_max_length = c.Model.ContextLength, vocab_size = t.VocabSize,
            chat_template = t.ChatTemplateSource,
        };
    }
}
