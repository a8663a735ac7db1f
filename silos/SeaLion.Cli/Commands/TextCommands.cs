using System.Text.Json;
using System.Text.Json.Nodes;
using SeaLion.Templates;
using SeaLion.Tokenization;

namespace SeaLion.Cli.Commands;

/// <summary>`tokenize` and `chat-template`: the model's own tokenizer and chat template, no weights loaded.</summary>
internal static class TextCommands
{
    public static int Tokenize(CliArgs a)
    {
        string dir = ModelLocator.Resolve(a.String("model"));
        string text = a.Required("text");
        bool addBos = a.Flag("add-bos"), json = a.Flag("json");
        a.EnsureAllUsed();
        var ids = BpeTokenizer.FromDirectory(dir).Encode(text, addBos: addBos, parseSpecial: true);
        Console.Out.WriteLine(json
            ? new JsonObject { ["token_ids"] = new JsonArray(ids.Select(i => (JsonNode)i).ToArray()) }.ToJsonString()
            : string.Join(' ', ids));
        return 0;
    }

    /// <summary>Prints the rendered prompt and nothing else: no trailing newline is added.</summary>
    public static int ChatTemplate(CliArgs a)
    {
        string dir = ModelLocator.Resolve(a.String("model"));
        string file = a.Required("messages");
        bool noGenerationPrompt = a.Flag("no-generation-prompt");
        a.EnsureAllUsed();
        if (!File.Exists(file)) throw new UsageException($"--messages: file '{file}' does not exist");
        var template = Templates.ChatTemplate.FromTokenizerConfig(Path.Combine(dir, "tokenizer_config.json"));
        string rendered = template.RenderJson(File.ReadAllText(file), addGenerationPrompt: !noGenerationPrompt);
        using var stdout = Console.OpenStandardOutput();
        stdout.Write(new System.Text.UTF8Encoding(false).GetBytes(rendered));
        return 0;
    }
}
