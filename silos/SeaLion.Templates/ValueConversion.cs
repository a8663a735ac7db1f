using System.Collections;
using System.Text.Json;

namespace SeaLion.Templates;

/// <summary>
/// Converts caller-supplied context values into runtime values: integers become long, other
/// numbers double, dictionaries PyDict (insertion order kept), other enumerables lists, and
/// JsonElement as Python's json.loads would (1 is an int, 1.0 a float).
/// </summary>
internal static class ValueConversion
{
    public static object? FromHost(object? v, int depth = 0)
    {
        if (depth > 256) throw new ArgumentException("context value nested more than 256 levels deep");
        switch (v)
        {
            case null or string or bool or long or double:
                return v;
            case int or short or sbyte or byte or ushort or uint:
                return Convert.ToInt64(v, System.Globalization.CultureInfo.InvariantCulture);
            case ulong u:
                return u <= long.MaxValue ? (long)u : (double)u;
            case float or decimal:
                return Convert.ToDouble(v, System.Globalization.CultureInfo.InvariantCulture);
            case char c:
                return c.ToString();
            case JsonElement e:
                return FromJson(e, depth);
            case ChatMessage m:
                return Message(m);
            case PyDict or Namespace or PyFunction:
                return v;
            case IReadOnlyDictionary<string, object?> readOnly:
                var rd = new PyDict();
                foreach (var (key, value) in readOnly) rd[key] = FromHost(value, depth + 1);
                return rd;
            case IDictionary dict:
                var d = new PyDict();
                foreach (DictionaryEntry entry in dict) d[PyDict.Key(FromHost(entry.Key, depth + 1))] = FromHost(entry.Value, depth + 1);
                return d;
            case IEnumerable items:
                return items.Cast<object?>().Select(x => FromHost(x, depth + 1)).ToList();
            default:
                throw new ArgumentException($"context values of type {v.GetType().Name} are not supported");
        }
    }

    public static PyDict Message(ChatMessage m)
    {
        var d = new PyDict();
        d["role"] = m.Role;
        d["content"] = m.Content;
        return d;
    }

    public static object? FromJson(JsonElement e, int depth = 0)
    {
        if (depth > 256) throw new ArgumentException("JSON nested more than 256 levels deep");
        switch (e.ValueKind)
        {
            case JsonValueKind.Null or JsonValueKind.Undefined:
                return null;
            case JsonValueKind.True:
                return true;
            case JsonValueKind.False:
                return false;
            case JsonValueKind.String:
                return e.GetString();
            case JsonValueKind.Number:
                string raw = e.GetRawText();
                if (raw.IndexOfAny(['.', 'e', 'E']) < 0 && e.TryGetInt64(out long l)) return l;
                return e.GetDouble();
            case JsonValueKind.Array:
                return e.EnumerateArray().Select(x => FromJson(x, depth + 1)).ToList();
            default:
                var d = new PyDict();
                foreach (JsonProperty p in e.EnumerateObject()) d[p.Name] = FromJson(p.Value, depth + 1);
                return d;
        }
    }
}
