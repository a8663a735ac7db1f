using System.Text.Json;

namespace SeaLion.Tokenization;

/// <summary>What BpeTokenizer needs from tokenizer_config.json.</summary>
internal sealed record TokenizerConfigContent(string BosToken, string? EosToken, bool? AddBosToken, string? ChatTemplate);

/// <summary>
/// Reads transformers' tokenizer_config.json. Special tokens may be a plain string or an AddedToken
/// object ({"content": ...}); chat_template may be a string or a list of {name, template} (the one named
/// "default" is taken). Unknown fields (e.g. the 31-digit model_max_length) are ignored.
/// </summary>
internal static class TokenizerConfigReader
{
    public static TokenizerConfigContent Read(string path)
    {
        using var file = JsonFile.Open(path);
        var root = file.Root;
        if (root.ValueKind != JsonValueKind.Object) throw file.Invalid("(root)", "must be an object");
        string bos = TokenContent(file, root, "bos_token") ?? throw file.Invalid("bos_token", "is missing");
        string? eos = TokenContent(file, root, "eos_token");
        bool? addBos = JsonFile.Optional(root, "add_bos_token") is null
            ? null
            : file.OptionalBool(root, "add_bos_token", "add_bos_token", false);
        return new TokenizerConfigContent(bos, eos, addBos, ChatTemplate(file, root));
    }

    private static string? TokenContent(JsonFile file, JsonElement root, string name) =>
        JsonFile.Optional(root, name) switch
        {
            null => null,
            { ValueKind: JsonValueKind.String } s => s.GetString(),
            { ValueKind: JsonValueKind.Object } o => file.RequiredString(o, "content", name + ".content"),
            _ => throw file.Invalid(name, "must be a string or an object with \"content\""),
        };

    private static string? ChatTemplate(JsonFile file, JsonElement root)
    {
        switch (JsonFile.Optional(root, "chat_template"))
        {
            case null:
                return null;
            case { ValueKind: JsonValueKind.String } s:
                return s.GetString();
            case { ValueKind: JsonValueKind.Array } list:
                int index = 0;
                foreach (var entry in list.EnumerateArray())
                {
                    string field = $"chat_template[{index++}]";
                    if (entry.ValueKind != JsonValueKind.Object) throw file.Invalid(field, "must be an object {name, template}");
                    if (file.RequiredString(entry, "name", field + ".name") == "default")
                        return file.RequiredString(entry, "template", field + ".template");
                }
                return null;
            default:
                throw file.Invalid("chat_template", "must be a string or a list of {name, template}");
        }
    }
}
