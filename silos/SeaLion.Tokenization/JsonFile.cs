using System.Text.Json;

namespace SeaLion.Tokenization;

/// <summary>
/// A parsed JSON file whose every error names the file and the field path, so a broken tokenizer folder
/// is diagnosable from the message alone.
/// </summary>
internal sealed class JsonFile : IDisposable
{
    private JsonFile(string path, JsonDocument document)
    {
        Path = path;
        Document = document;
    }

    public string Path { get; }

    public string Name => System.IO.Path.GetFileName(Path);

    public JsonDocument Document { get; }

    public JsonElement Root => Document.RootElement;

    /// <summary>Opens and parses; <see cref="FileNotFoundException"/> if absent, InvalidDataException if not JSON.</summary>
    public static JsonFile Open(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Tokenizer file not found: {path}", path);
        byte[] bytes = File.ReadAllBytes(path);
        try
        {
            var options = new JsonDocumentOptions { AllowTrailingCommas = false, MaxDepth = 256 };
            return new JsonFile(path, JsonDocument.Parse(bytes, options));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message})", e);
        }
    }

    public InvalidDataException Invalid(string field, string problem) =>
        new($"{Path}: field '{field}' {problem}");

    /// <summary>The named property, or null when absent or JSON null.</summary>
    public static JsonElement? Optional(JsonElement parent, string name) =>
        parent.ValueKind == JsonValueKind.Object && parent.TryGetProperty(name, out var value)
            && value.ValueKind != JsonValueKind.Null
            ? value
            : null;

    public JsonElement Required(JsonElement parent, string name, string fieldPath, JsonValueKind kind) =>
        Optional(parent, name) is { } value
            ? (value.ValueKind == kind ? value : throw Invalid(fieldPath, $"must be {Describe(kind)}, found {Describe(value.ValueKind)}"))
            : throw Invalid(fieldPath, "is missing");

    public string RequiredString(JsonElement parent, string name, string fieldPath) =>
        Required(parent, name, fieldPath, JsonValueKind.String).GetString()!;

    public int RequiredInt(JsonElement parent, string name, string fieldPath)
    {
        var value = Required(parent, name, fieldPath, JsonValueKind.Number);
        return value.TryGetInt32(out int n) && n >= 0 ? n : throw Invalid(fieldPath, $"must be a non-negative 32-bit integer, found {value.GetRawText()}");
    }

    /// <summary>Boolean field; absent or null gives <paramref name="fallback"/>.</summary>
    public bool OptionalBool(JsonElement parent, string name, string fieldPath, bool fallback) =>
        Optional(parent, name) switch
        {
            null => fallback,
            { ValueKind: JsonValueKind.True } => true,
            { ValueKind: JsonValueKind.False } => false,
            { } other => throw Invalid(fieldPath, $"must be a boolean, found {Describe(other.ValueKind)}"),
        };

    public void Dispose() => Document.Dispose();

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };
}
