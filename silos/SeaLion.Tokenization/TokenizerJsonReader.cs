using System.Text.Json;

namespace SeaLion.Tokenization;

/// <summary>What BpeTokenizer needs from tokenizer.json, already validated.</summary>
internal sealed record TokenizerJsonContent(
    Dictionary<string, int> Vocab,
    List<(int Left, int Right, int Merged)> Merges,
    bool IgnoreMerges,
    List<AddedTokenSpec> AddedTokens,
    List<string> TemplateLeadingSpecialTokens);

/// <summary>
/// Reads a HF tokenizer.json and accepts only what this library reproduces exactly: a byte-level BPE
/// model (no byte fallback, dropout, prefixes or suffixes), no normalizer, the Llama 3 Split + ByteLevel
/// pre-tokenizer and a ByteLevel decoder. Anything else is a NotSupportedException naming the part.
/// </summary>
internal static class TokenizerJsonReader
{
    public static TokenizerJsonContent Read(string path)
    {
        using var file = JsonFile.Open(path);
        var root = file.Root;
        if (root.ValueKind != JsonValueKind.Object) throw file.Invalid("(root)", "must be an object");

        var model = file.Required(root, "model", "model", JsonValueKind.Object);
        CheckModel(file, model);
        if (JsonFile.Optional(root, "normalizer") is { } normalizer)
            throw Unsupported(file, "normalizer", TypeOf(normalizer), "only tokenizers without a normalizer are supported");
        CheckPreTokenizer(file, root);
        CheckDecoder(file, root);

        var vocab = ReadVocab(file, model);
        var merges = ReadMerges(file, model, vocab);
        bool ignoreMerges = file.OptionalBool(model, "ignore_merges", "model.ignore_merges", false);
        var added = ReadAddedTokens(file, root);
        var leading = new List<string>();
        if (JsonFile.Optional(root, "post_processor") is { } post) CollectTemplateLeaders(post, leading);
        return new TokenizerJsonContent(vocab, merges, ignoreMerges, added, leading);
    }

    private static void CheckModel(JsonFile file, JsonElement model)
    {
        string? type = JsonFile.Optional(model, "type")?.GetString();
        if (type is not null && type != "BPE")
            throw Unsupported(file, "model.type", type, "only byte-level BPE models are supported");
        if (type is null && JsonFile.Optional(model, "merges") is null)
            throw Unsupported(file, "model", "(no type, no merges)", "only byte-level BPE models are supported");
        if (file.OptionalBool(model, "byte_fallback", "model.byte_fallback", false))
            throw Unsupported(file, "model.byte_fallback", "true", "byte fallback (SentencePiece-style BPE) is not byte-level BPE");
        if (JsonFile.Optional(model, "dropout") is { } dropout && dropout.ValueKind == JsonValueKind.Number && dropout.GetDouble() > 0)
            throw Unsupported(file, "model.dropout", dropout.GetRawText(), "BPE dropout is not supported");
        foreach (string field in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
        {
            if (JsonFile.Optional(model, field) is { ValueKind: JsonValueKind.String } v && v.GetString()!.Length > 0)
                throw Unsupported(file, $"model.{field}", v.GetString()!, "subword prefixes/suffixes are not byte-level BPE");
        }
    }

    private static void CheckPreTokenizer(JsonFile file, JsonElement root)
    {
        const string reason = "only the Llama 3 pre-tokenizer (Split on its regex, Isolated, then ByteLevel without regex) is supported";
        var pre = JsonFile.Optional(root, "pre_tokenizer")
            ?? throw Unsupported(file, "pre_tokenizer", "null", reason);
        bool ok = TypeOf(pre) == "Sequence"
            && JsonFile.Optional(pre, "pretokenizers") is { ValueKind: JsonValueKind.Array } steps
            && steps.GetArrayLength() == 2
            && IsLlama3Split(steps[0])
            && TypeOf(steps[1]) == "ByteLevel"
            && !BoolOr(steps[1], "use_regex", true)
            && !BoolOr(steps[1], "add_prefix_space", false);
        if (!ok) throw Unsupported(file, "pre_tokenizer", Abbreviate(pre.GetRawText()), reason);
    }

    private static bool IsLlama3Split(JsonElement split) =>
        TypeOf(split) == "Split"
        && JsonFile.Optional(split, "pattern") is { } pattern
        && JsonFile.Optional(pattern, "Regex")?.GetString() == Llama3PreTokenizer.Pattern
        && JsonFile.Optional(split, "behavior")?.GetString() == "Isolated"
        && !BoolOr(split, "invert", false);

    private static void CheckDecoder(JsonFile file, JsonElement root)
    {
        var decoder = JsonFile.Optional(root, "decoder");
        if (decoder is null || TypeOf(decoder.Value) != "ByteLevel")
            throw Unsupported(file, "decoder", decoder is null ? "null" : TypeOf(decoder.Value), "only the ByteLevel decoder is supported");
    }

    private static Dictionary<string, int> ReadVocab(JsonFile file, JsonElement model)
    {
        var vocabElement = file.Required(model, "vocab", "model.vocab", JsonValueKind.Object);
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in vocabElement.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out int id) || id < 0)
                throw file.Invalid($"model.vocab[\"{entry.Name}\"]", $"must be a non-negative integer id, found {entry.Value.GetRawText()}");
            vocab[entry.Name] = id;
        }
        if (vocab.Count == 0) throw file.Invalid("model.vocab", "is empty");
        return vocab;
    }

    private static List<(int, int, int)> ReadMerges(JsonFile file, JsonElement model, Dictionary<string, int> vocab)
    {
        var mergesElement = file.Required(model, "merges", "model.merges", JsonValueKind.Array);
        var merges = new List<(int, int, int)>(mergesElement.GetArrayLength());
        var lookup = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        int index = 0;
        foreach (var merge in mergesElement.EnumerateArray())
        {
            string field = $"model.merges[{index++}]";
            string left, right;
            if (merge.ValueKind == JsonValueKind.String)
            {
                string line = merge.GetString()!;
                int space = line.IndexOf(' ');
                if (space < 0 || line.IndexOf(' ', space + 1) >= 0)
                    throw file.Invalid(field, $"must be two tokens separated by one space, found \"{line}\"");
                left = line[..space];
                right = line[(space + 1)..];
            }
            else if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2
                && merge[0].ValueKind == JsonValueKind.String && merge[1].ValueKind == JsonValueKind.String)
            {
                left = merge[0].GetString()!;
                right = merge[1].GetString()!;
            }
            else throw file.Invalid(field, "must be a string \"a b\" or an array [a, b]");

            if (!lookup.TryGetValue(left, out int leftId)) throw file.Invalid(field, $"token \"{left}\" is not in model.vocab");
            if (!lookup.TryGetValue(right, out int rightId)) throw file.Invalid(field, $"token \"{right}\" is not in model.vocab");
            if (!lookup.TryGetValue(string.Concat(left, right), out int mergedId))
                throw file.Invalid(field, $"merged token \"{left}{right}\" is not in model.vocab");
            merges.Add((leftId, rightId, mergedId));
        }
        return merges;
    }

    private static List<AddedTokenSpec> ReadAddedTokens(JsonFile file, JsonElement root)
    {
        var result = new List<AddedTokenSpec>();
        if (JsonFile.Optional(root, "added_tokens") is not { } array) return result;
        if (array.ValueKind != JsonValueKind.Array) throw file.Invalid("added_tokens", "must be an array");
        int index = 0;
        foreach (var token in array.EnumerateArray())
        {
            string field = $"added_tokens[{index++}]";
            if (token.ValueKind != JsonValueKind.Object) throw file.Invalid(field, "must be an object");
            int id = file.RequiredInt(token, "id", field + ".id");
            string content = file.RequiredString(token, "content", field + ".content");
            bool special = file.OptionalBool(token, "special", field + ".special", false);
            result.Add(new AddedTokenSpec(
                id, content, special,
                file.OptionalBool(token, "single_word", field + ".single_word", false),
                file.OptionalBool(token, "lstrip", field + ".lstrip", false),
                file.OptionalBool(token, "rstrip", field + ".rstrip", false),
                file.OptionalBool(token, "normalized", field + ".normalized", !special)));
        }
        return result;
    }

    /// <summary>For each TemplateProcessing (top level or inside a Sequence), the SpecialToken its "single" starts with.</summary>
    private static void CollectTemplateLeaders(JsonElement processor, List<string> leaders)
    {
        string? type = TypeOf(processor);
        if (type == "Sequence" && JsonFile.Optional(processor, "processors") is { ValueKind: JsonValueKind.Array } inner)
        {
            foreach (var p in inner.EnumerateArray()) CollectTemplateLeaders(p, leaders);
        }
        else if (type == "TemplateProcessing"
            && JsonFile.Optional(processor, "single") is { ValueKind: JsonValueKind.Array } single
            && single.GetArrayLength() > 0
            && JsonFile.Optional(single[0], "SpecialToken") is { } first
            && JsonFile.Optional(first, "id") is { ValueKind: JsonValueKind.String } id)
        {
            leaders.Add(id.GetString()!);
        }
    }

    private static string? TypeOf(JsonElement element) =>
        JsonFile.Optional(element, "type") is { ValueKind: JsonValueKind.String } t ? t.GetString() : null;

    private static bool BoolOr(JsonElement element, string name, bool fallback) =>
        JsonFile.Optional(element, name) is { } v ? v.ValueKind == JsonValueKind.True : fallback;

    private static string Abbreviate(string json) => json.Length <= 200 ? json : json[..200] + "...";

    private static NotSupportedException Unsupported(JsonFile file, string field, string? found, string reason) =>
        new($"{file.Path}: {field} = {found ?? "(no type)"}: {reason}.");
}
