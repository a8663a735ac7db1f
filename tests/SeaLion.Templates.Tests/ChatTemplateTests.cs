using System.Text.Json;

namespace SeaLion.Templates.Tests;

public sealed class ChatTemplateTests
{
    private static readonly string Llama3Config = Path.Combine(AppContext.BaseDirectory, "assets", "llama3-tokenizer", "tokenizer_config.json");

    private static string MessagesJson(TemplateCase c) => JsonSerializer.Serialize(c.Context["messages"]);

    private static bool AddGenerationPrompt(TemplateCase c) => ((JsonElement)c.Context["add_generation_prompt"]!).GetBoolean();

    [Fact]
    public void Llama3_template_trims_content_and_adds_bos_once()
    {
        TemplateCase c = TemplateCase.Get("llama3_whitespace_is_trimmed");
        string rendered = ChatTemplate.FromTokenizerConfig(Llama3Config).RenderJson(MessagesJson(c), addGenerationPrompt: true);
        Assert.Equal(c.Expected, rendered);
        Assert.Single(rendered.Split("<|begin_of_text|>"), s => s.Length == 0);
        Assert.StartsWith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>", rendered);
    }

    [Theory]
    [InlineData("llama3_basic_with_generation_prompt")]
    [InlineData("llama3_basic_without_generation_prompt")]
    [InlineData("llama3_multi_turn_with_generation_prompt")]
    [InlineData("llama3_multi_turn_without_generation_prompt")]
    [InlineData("llama3_unicode")]
    [InlineData("llama3_empty_content")]
    [InlineData("llama3_no_messages")]
    [InlineData("llama3_extra_message_fields")]
    public void Llama3_tokenizer_config_renders_like_transformers(string caseName)
    {
        TemplateCase c = TemplateCase.Get(caseName);
        var template = ChatTemplate.FromTokenizerConfig(Llama3Config);
        Assert.Equal(c.Expected, template.RenderJson(MessagesJson(c), AddGenerationPrompt(c)));
    }

    [Fact]
    public void Render_with_chat_messages_matches_render_json()
    {
        TemplateCase c = TemplateCase.Get("llama3_multi_turn_with_generation_prompt");
        var messages = JsonSerializer.Deserialize<List<ChatMessage>>(MessagesJson(c), new JsonSerializerOptions(JsonSerializerDefaults.Web))!;
        Assert.Equal(c.Expected, ChatTemplate.FromTokenizerConfig(Llama3Config).Render(messages, addGenerationPrompt: true));
    }

    [Fact]
    public void Extra_context_such_as_tools_reaches_the_template()
    {
        TemplateCase c = TemplateCase.Get("qwen25_tools_with_system");
        var messages = JsonSerializer.Deserialize<List<ChatMessage>>(MessagesJson(c), new JsonSerializerOptions(JsonSerializerDefaults.Web))!;
        var template = new ChatTemplate(c.Template, "<s>", "</s>");
        string rendered = template.Render(messages, addGenerationPrompt: true, new Dictionary<string, object?> { ["tools"] = c.Context["tools"] });
        Assert.Equal(c.Expected, rendered);
    }

    [Fact]
    public void Tools_and_documents_are_none_unless_given_as_in_transformers()
    {
        var template = new ChatTemplate("{{ tools is defined }}{{ tools is none }}{{ documents is none }}{{ bos_token }}{{ eos_token }}", "<s>", "</s>");
        Assert.Equal("TrueTrueTrue<s></s>", template.Render([], addGenerationPrompt: false));
    }

    [Fact]
    public void Raise_exception_in_template_surfaces_its_message()
    {
        TemplateCase c = TemplateCase.Get("mistral_bad_alternation_raises");
        var template = new ChatTemplate(c.Template, "<s>", "</s>");
        var ex = Assert.Throws<TemplateException>(() => template.Render([new("user", "a"), new("user", "b")], addGenerationPrompt: true));
        Assert.Contains("Conversation roles must alternate user/assistant/user/assistant/...", ex.Message);
        Assert.Matches(@"^line 1:\d+: ", ex.Message);
    }

    [Fact]
    public void Tokenizer_config_without_chat_template_fails_clearly()
    {
        string path = WriteTemp("""{"bos_token": "<s>"}""");
        var ex = Assert.Throws<InvalidDataException>(() => ChatTemplate.FromTokenizerConfig(path));
        Assert.Contains("no chat_template", ex.Message);
    }

    [Fact]
    public void Tokenizer_config_template_list_uses_default_and_token_objects_use_content()
    {
        string path = WriteTemp("""
            {"chat_template": [{"name": "tool_use", "template": "tools"}, {"name": "default", "template": "{{ bos_token }}|{{ messages[0].content }}|{{ eos_token }}"}],
             "bos_token": {"content": "<bos>", "lstrip": false}, "eos_token": "<eos>"}
            """);
        Assert.Equal("<bos>|hi|<eos>", ChatTemplate.FromTokenizerConfig(path).Render([new("user", "hi")], addGenerationPrompt: false));
    }

    [Fact]
    public void Tokenizer_config_template_list_without_default_fails_clearly()
    {
        string path = WriteTemp("""{"chat_template": [{"name": "tool_use", "template": "x"}]}""");
        var ex = Assert.Throws<InvalidDataException>(() => ChatTemplate.FromTokenizerConfig(path));
        Assert.Contains("\"default\"", ex.Message);
    }

    [Theory]
    [InlineData("""{"role": "user"}""", "must be a JSON list")]
    [InlineData("""[{"role": "user", "content": "x"}, "oops"]""", "messagesJson[1] must be a message object")]
    [InlineData("""[{"role": """, "not valid JSON")]
    public void Render_json_rejects_anything_but_a_list_of_objects(string json, string expectedMessage)
    {
        var template = new ChatTemplate("{{ messages }}", "", "");
        var ex = Assert.Throws<ArgumentException>(() => template.RenderJson(json, addGenerationPrompt: false));
        Assert.Contains(expectedMessage, ex.Message);
    }

    [Fact]
    public void Render_json_passes_extra_message_fields_through()
    {
        var template = new ChatTemplate("{% for m in messages %}{{ m.name }}:{{ m.tool_calls[0].function.arguments | tojson }}{% endfor %}", "", "");
        string json = """[{"role": "assistant", "name": "bot", "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1, "y": 1.0}}}]}]""";
        Assert.Equal("""bot:{"x": 1, "y": 1.0}""", template.RenderJson(json, addGenerationPrompt: false));
    }

    private static string WriteTemp(string json)
    {
        string path = Path.Combine(Path.GetTempPath(), $"tokenizer_config_{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return path;
    }
}
