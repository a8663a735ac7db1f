using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using AI = Microsoft.Extensions.AI;

namespace SeaLion.Client;

/// <summary>
/// The SDK as a Microsoft.Extensions.AI <see cref="IChatClient"/> over sealion.v1 (no OpenAI package): a conversation
/// without <see cref="ChatOptions.ConversationId"/> is sent whole and nothing is stored (Generate with messages);
/// with one, it is a server-side session of that id and only the new messages are sent (Chat), as
/// ConversationId means in M.E.AI. <see cref="ChatOptions"/> maps to the sampling parameters; an option the server
/// cannot honour (tools, reasoning, background responses, additional properties, ...) is refused by name with a
/// <see cref="SeaLionException"/> of <see cref="SeaLionStatusCode.InvalidArgument"/>, never ignored.
/// </summary>
public sealed class SeaLionChatClient : IChatClient
{
    readonly SeaLionClient _client;
    readonly bool _ownsClient;
    readonly ChatClientMetadata _metadata;

    /// <param name="client">The SDK client the calls go through.</param>
    /// <param name="ownsClient">Dispose <paramref name="client"/> with this one.</param>
    public SeaLionChatClient(SeaLionClient client, bool ownsClient = false)
    {
        _client = client ?? throw new ArgumentNullException(nameof(client));
        _ownsClient = ownsClient;
        _metadata = new ChatClientMetadata("sealion", client.Options.Address, client.Options.Model);
    }

    /// <inheritdoc/>
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<AI.ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var text = new System.Text.StringBuilder();
        GenerationChunk? last = null;
        await foreach (var c in Stream(messages, options, cancellationToken).ConfigureAwait(false))
        {
            text.Append(c.Text);
            last = c;
        }
        var reply = new AI.ChatMessage(ChatRole.Assistant, text.ToString()) { MessageId = last?.RequestId };
        return new ChatResponse(reply)
        {
            ResponseId = last?.RequestId, ModelId = Model(options), ConversationId = options?.ConversationId, CreatedAt = DateTimeOffset.UtcNow,
            FinishReason = Finish(last?.FinishReason), Usage = Usage(last?.Usage),
        };
    }

    /// <inheritdoc/>
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<AI.ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        string? model = Model(options);
        await foreach (var c in Stream(messages, options, cancellationToken).ConfigureAwait(false))
        {
            var update = new ChatResponseUpdate(ChatRole.Assistant, c.Text)
            {
                ResponseId = c.RequestId, MessageId = c.RequestId, ModelId = model, ConversationId = options?.ConversationId, CreatedAt = DateTimeOffset.UtcNow,
                FinishReason = Finish(c.FinishReason),
            };
            // The last update carries the finish reason and the usage, as M.E.AI's middleware reads them.
            if (Usage(c.Usage) is { } usage) update.Contents.Add(new UsageContent(usage));
            yield return update;
        }
    }

    IAsyncEnumerable<GenerationChunk> Stream(IEnumerable<AI.ChatMessage> messages, ChatOptions? options, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var wire = new List<ChatMessage>();
        if (options?.Instructions is { Length: > 0 } instructions)
        {
            // A session keeps what it is sent: instructions repeated every turn would pile up in its history.
            if (options.ConversationId is not null)
                throw Refused("ChatOptions.Instructions with a ConversationId: send the instructions once, as a system message of the conversation's first turn");
            wire.Add(ChatMessage.System(instructions));
        }
        int i = 0;
        foreach (var m in messages)
        {
            string role = m.Role.Value;
            if (role is not ("system" or "user" or "assistant"))
                throw Refused($"messages[{i}].Role '{role}' is not supported (system, user and assistant are)");
            foreach (var content in m.Contents)
                if (content is not (TextContent or UsageContent))
                    throw Refused($"messages[{i}] holds {content.GetType().Name}; this model reads text only");
            wire.Add(new ChatMessage(role, m.Text));
            i++;
        }
        var g = ToGenerationOptions(options);
        return options?.ConversationId is { } conversation ? _client.ChatAsync(conversation, wire, g, ct) : _client.GenerateAsync(wire, g, ct);
    }

    /// <summary>ChatOptions as the SDK's options; what the server cannot honour is refused by name.</summary>
    internal static GenerationOptions ToGenerationOptions(ChatOptions? o)
    {
        if (o is null) return new GenerationOptions();
        if (o.Tools is { Count: > 0 }) throw Refused("ChatOptions.Tools: tool calling is not supported by this server");
        if (o.Reasoning is not null) throw Refused("ChatOptions.Reasoning is not supported by this server");
        if (o.AllowBackgroundResponses == true) throw Refused("ChatOptions.AllowBackgroundResponses is not supported by this server");
        if (o.ContinuationToken is not null) throw Refused("ChatOptions.ContinuationToken is not supported by this server");
        if (o.RawRepresentationFactory is not null) throw Refused("ChatOptions.RawRepresentationFactory is not supported by this client");
        if (o.AdditionalProperties is { Count: > 0 } extra)
            throw Refused($"ChatOptions.AdditionalProperties: {string.Join(", ", extra.Keys)} not supported (use the SDK's GenerationOptions for vLLM's extras)");
        string? schema = null;
        bool jsonObject = false;
        switch (o.ResponseFormat)
        {
            case null or ChatResponseFormatText: break;
            case ChatResponseFormatJson { Schema: { } s }: schema = s.GetRawText(); break;
            case ChatResponseFormatJson: jsonObject = true; break;
            default: throw Refused($"ChatOptions.ResponseFormat {o.ResponseFormat.GetType().Name} is not supported");
        }
        return new GenerationOptions
        {
            Temperature = o.Temperature, TopP = o.TopP, TopK = o.TopK, MaxTokens = o.MaxOutputTokens, Seed = o.Seed,
            Stop = o.StopSequences is { Count: > 0 } stop ? [.. stop] : null,
            FrequencyPenalty = o.FrequencyPenalty, PresencePenalty = o.PresencePenalty, Model = o.ModelId,
            JsonSchema = schema, JsonObject = jsonObject ? true : null,
        };
    }

    static SeaLionException Refused(string message) => new(SeaLionStatusCode.InvalidArgument, message);

    string? Model(ChatOptions? o) => o?.ModelId ?? _client.Options.Model;

    static ChatFinishReason? Finish(FinishReason? f) => f switch
    {
        FinishReason.Stop => ChatFinishReason.Stop,
        FinishReason.Length => ChatFinishReason.Length,
        FinishReason.Abort => new ChatFinishReason("abort"),
        _ => null,
    };

    static UsageDetails? Usage(TokenUsage? u) => u is null ? null : new UsageDetails
    {
        InputTokenCount = u.PromptTokens, OutputTokenCount = u.GeneratedTokens, TotalTokenCount = u.PromptTokens + u.GeneratedTokens,
        CachedInputTokenCount = u.CachedTokens,
    };

    /// <inheritdoc/>
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return _metadata;
        if (serviceType == typeof(SeaLionClient)) return _client;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_ownsClient) _client.Dispose();
    }
}

/// <summary>Registration of the SDK as Microsoft.Extensions.AI's <see cref="IChatClient"/>.</summary>
public static class SeaLionChatClientExtensions
{
    /// <summary>The client as an <see cref="IChatClient"/> (the client stays the caller's to dispose).</summary>
    public static IChatClient AsChatClient(this SeaLionClient client) => new SeaLionChatClient(client);

    /// <summary>
    /// Registers <see cref="SeaLionClient"/> and an <see cref="IChatClient"/> over it; the returned builder takes
    /// M.E.AI middleware (UseLogging, UseOpenTelemetry, UseDistributedCache, ...), as for any other provider.
    /// </summary>
    public static ChatClientBuilder AddSeaLionChatClient(this IServiceCollection services, Action<SeaLionClientOptions> configure)
    {
        services.AddSeaLionClient(configure);
        return services.AddChatClient(sp => new SeaLionChatClient(sp.GetRequiredService<SeaLionClient>()));
    }
}
