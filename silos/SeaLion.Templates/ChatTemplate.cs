using System.Text.Json;

namespace SeaLion.Templates;

/// <summary>
/// A model's chat template rendered as transformers' apply_chat_template(tokenize=False) does:
/// the template sees messages, add_generation_prompt, bos_token, eos_token, tools and documents
/// (None unless given) and any extra context.
/// </summary>
public sealed class ChatTemplate
{
    private readonly JinjaTemplate _template;
    private readonly string _bosToken;
    private readonly string _eosToken;

    public ChatTemplate(string source, string bosToken, string eosToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        _template = JinjaTemplate.Parse(source);
        _bosToken = bosToken ?? throw new ArgumentNullException(nameof(bosToken));
        _eosToken = eosToken ?? throw new ArgumentNullException(nameof(eosToken));
    }

    /// <summary>
    /// Reads chat_template (a string, or a list of {name, template} from which "default" is used)
    /// and bos_token/eos_token (a string or {"content": ...}) from a tokenizer_config.json.
    /// </summary>
    public static ChatTemplate FromTokenizerConfig(string tokenizerConfigPath)
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(tokenizerConfigPath));
        JsonElement root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{tokenizerConfigPath}: expected a JSON object");
        if (!root.TryGetProperty("chat_template", out JsonElement template) || template.ValueKind == JsonValueKind.Null)
        {
            throw new InvalidDataException($"{tokenizerConfigPath} has no chat_template");
        }
        string source = template.ValueKind switch
        {
            JsonValueKind.String => template.GetString()!,
            JsonValueKind.Array => DefaultTemplate(template, tokenizerConfigPath),
            _ => throw new InvalidDataException($"{tokenizerConfigPath}: chat_template must be a string or a list of {{name, template}}"),
        };
        return new ChatTemplate(source, Token(root, "bos_token"), Token(root, "eos_token"));
    }

    private static string DefaultTemplate(JsonElement list, string path)
    {
        foreach (JsonElement item in list.EnumerateArray())
        {
            if (item.ValueKind == JsonValueKind.Object && item.TryGetProperty("name", out JsonElement name) && name.ValueKind == JsonValueKind.String
                && name.GetString() == "default" && item.TryGetProperty("template", out JsonElement t) && t.ValueKind == JsonValueKind.String)
            {
                return t.GetString()!;
            }
        }
        throw new InvalidDataException($"{path}: chat_template is a list with no template named \"default\"");
    }

    private static string Token(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out JsonElement token)) return "";
        return token.ValueKind switch
        {
            JsonValueKind.String => token.GetString()!,
            JsonValueKind.Object when token.TryGetProperty("content", out JsonElement c) && c.ValueKind == JsonValueKind.String => c.GetString()!,
            _ => "",
        };
    }

    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, IReadOnlyDictionary<string, object?>? extraContext = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        return RenderList([.. messages.Select(m => (object?)ValueConversion.Message(m))], addGenerationPrompt, extraContext);
    }

    /// <summary>
    /// transformers' continue_final_message: the prompt ends right after the final message's content, with no
    /// end-of-turn after it, so the model continues that message (the final message is usually the assistant's).
    /// </summary>
    public string RenderContinuing(IReadOnlyList<ChatMessage> messages, IReadOnlyDictionary<string, object?>? extraContext = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (messages.Count == 0) throw new TemplateException("continue_final_message needs at least one message");
        string rendered = Render(messages, addGenerationPrompt: false, extraContext);
        string final = messages[^1].Content, trimmed = final.Trim();
        int at = trimmed.Length == 0 ? -1 : rendered.LastIndexOf(trimmed, StringComparison.Ordinal);
        if (at < 0) throw new TemplateException("continue_final_message: the final message does not appear in the rendered chat (is it empty?)");
        // As transformers: keep the message's own trailing whitespace when the template kept it, else cut after the trimmed text.
        int keep = rendered.AsSpan(at).StartsWith(final.TrimStart(), StringComparison.Ordinal) ? final.TrimStart().Length : trimmed.Length;
        return rendered[..(at + keep)];
    }

    /// <summary>A JSON object's members as template variables (chat_template_kwargs), converted as the template's own JSON values.</summary>
    public static IReadOnlyDictionary<string, object?> ContextFromJson(JsonElement obj)
    {
        if (obj.ValueKind != JsonValueKind.Object) throw new ArgumentException($"expected a JSON object, got {obj.ValueKind}");
        return obj.EnumerateObject().ToDictionary(p => p.Name, p => ValueConversion.FromJson(p.Value), StringComparer.Ordinal);
    }

    /// <summary>Renders a JSON list of message objects, which may carry any fields (name, tool_calls, ...).</summary>
    public string RenderJson(string messagesJson, bool addGenerationPrompt)
    {
        ArgumentNullException.ThrowIfNull(messagesJson);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(messagesJson);
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"messagesJson is not valid JSON: {e.Message}", nameof(messagesJson), e);
        }
        using (doc)
        {
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Array) throw new ArgumentException($"messagesJson must be a JSON list of message objects, got a {root.ValueKind}", nameof(messagesJson));
            int index = 0;
            foreach (JsonElement item in root.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Object)
                {
                    throw new ArgumentException($"messagesJson[{index}] must be a message object, got a {item.ValueKind}", nameof(messagesJson));
                }
                index++;
            }
            return RenderList(ValueConversion.FromJson(root) as List<object?> ?? [], addGenerationPrompt, null);
        }
    }

    private string RenderList(List<object?> messages, bool addGenerationPrompt, IReadOnlyDictionary<string, object?>? extraContext)
    {
        var context = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["tools"] = null,
            ["documents"] = null,
            ["bos_token"] = _bosToken,
            ["eos_token"] = _eosToken,
        };
        if (extraContext is not null)
        {
            foreach (var (k, v) in extraContext) context[k] = v;
        }
        context["messages"] = messages;
        context["add_generation_prompt"] = addGenerationPrompt;
        return _template.Render(context);
    }
}
