using System.Text;
using System.Text.Json;

namespace SeaLion.Model;

/// <summary>
/// JSON text a client sent (a request body, a JSON schema). System.Text.Json checks syntax and UTF-8 when it parses,
/// but decodes a string's \u escapes only when the string is read, and then throws InvalidOperationException on an
/// unpaired surrogate ("\ud800", "\udc00\ud800"): valid JSON syntax, not valid Unicode. Checked once, up front, so
/// that such text is refused as the client's error instead of failing wherever it is first read.
/// </summary>
public static class JsonText
{
    /// <summary>
    /// Null when every string and property name of this JSON decodes to well-formed UTF-16; else which one does not
    /// (its text as sent, its byte offset and the property it belongs to). Syntax errors are left to the parser.
    /// </summary>
    public static string? UnpairedSurrogate(ReadOnlySpan<byte> utf8Json)
    {
        var reader = new Utf8JsonReader(utf8Json, new JsonReaderOptions { MaxDepth = 1024 });
        string? property = null;
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType is not (JsonTokenType.String or JsonTokenType.PropertyName)) continue;
                if (!reader.ValueIsEscaped)
                {
                    if (reader.TokenType == JsonTokenType.PropertyName) property = reader.GetString();
                    continue;
                }
                try
                {
                    string s = reader.GetString()!;
                    if (reader.TokenType == JsonTokenType.PropertyName) property = s;
                }
                catch (InvalidOperationException)
                {
                    string raw = Encoding.UTF8.GetString(reader.ValueSpan.Length <= 60 ? reader.ValueSpan : reader.ValueSpan[..60]) + (reader.ValueSpan.Length > 60 ? "..." : "");
                    string what = reader.TokenType == JsonTokenType.PropertyName ? "the property name" : property is null ? "the string" : $"the string under \"{property}\"";
                    return $"{what} \"{raw}\" at byte {reader.TokenStartIndex} holds an unpaired UTF-16 surrogate escape; JSON text must be well-formed Unicode";
                }
            }
        }
        catch (JsonException) { }   // a syntax error: the parser reports it
        return null;
    }
}
