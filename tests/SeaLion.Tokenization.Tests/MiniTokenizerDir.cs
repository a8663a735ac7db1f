using System.Text.Json.Nodes;

namespace SeaLion.Tokenization.Tests;

/// <summary>
/// A temporary folder holding a tiny but valid Llama-3-shaped tokenizer: the 256 byte tokens (ids 0-255),
/// then the given extra tokens and merges, and added tokens "&lt;s&gt;" / "&lt;/s&gt;" after them.
/// Tests edit the JSON before <see cref="Write"/> to break one thing at a time.
/// </summary>
internal sealed class MiniTokenizerDir : IDisposable
{
    public MiniTokenizerDir(string[]? extraTokens = null, string[]? merges = null)
    {
        Path = Directory.CreateTempSubdirectory("sealion-tok-").FullName;
        var vocab = new JsonObject();
        for (int b = 0; b < 256; b++) vocab[ByteLevelAlphabet.ByteToChar[b].ToString()] = b;
        foreach (string token in extraTokens ?? []) vocab[token] = vocab.Count;
        int bos = vocab.Count;
        Tokenizer = new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(AddedToken(bos, "<s>"), AddedToken(bos + 1, "</s>")),
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new JsonArray(
                    new JsonObject
                    {
                        ["type"] = "Split",
                        ["pattern"] = new JsonObject { ["Regex"] = Llama3PreTokenizer.Pattern },
                        ["behavior"] = "Isolated",
                        ["invert"] = false,
                    },
                    new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = false }),
            },
            ["post_processor"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = false, ["use_regex"] = true },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = true, ["use_regex"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["dropout"] = null,
                ["byte_fallback"] = false,
                ["ignore_merges"] = true,
                ["vocab"] = vocab,
                ["merges"] = new JsonArray((merges ?? []).Select(m => (JsonNode)JsonValue.Create(m)!).ToArray()),
            },
        };
        Config = new JsonObject { ["bos_token"] = "<s>", ["eos_token"] = "</s>", ["chat_template"] = "{{ x }}" };
    }

    public string Path { get; }

    public JsonObject Tokenizer { get; }

    public JsonObject Config { get; }

    public JsonObject Model => Tokenizer["model"]!.AsObject();

    /// <summary>Writes both files and returns the folder.</summary>
    public string Write()
    {
        File.WriteAllText(System.IO.Path.Combine(Path, "tokenizer.json"), Tokenizer.ToJsonString());
        File.WriteAllText(System.IO.Path.Combine(Path, "tokenizer_config.json"), Config.ToJsonString());
        return Path;
    }

    public BpeTokenizer Load() => BpeTokenizer.FromDirectory(Write());

    public void Dispose() => Directory.Delete(Path, recursive: true);

    private static JsonObject AddedToken(int id, string content) => new()
    {
        ["id"] = id, ["content"] = content, ["single_word"] = false, ["lstrip"] = false,
        ["rstrip"] = false, ["normalized"] = false, ["special"] = true,
    };
}
