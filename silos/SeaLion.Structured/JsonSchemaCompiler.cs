using System.Globalization;
using System.Text.Json;

namespace SeaLion.Structured;

/// <summary>
/// A JSON schema as the constraint language, emitting compact JSON (no whitespace between tokens, as xgrammar's
/// default), properties in the schema's order. Supported: type (one or a list), properties, required,
/// additionalProperties (only declared properties are written), enum, const, anyOf / oneOf (as anyOf), allOf of
/// one schema, $ref into #/$defs or #/definitions (not recursive), items, prefixItems, minItems, maxItems, strings
/// with minLength, maxLength, pattern and format (date, time, date-time, uuid, email, ipv4), integers with
/// minimum / maximum / exclusive bounds (exact ranges), numbers (minimum 0 or none). Anything else is refused with
/// its keyword and path. A free-form object or value ("type": "object" alone, json_object) is JSON nested at most
/// <see cref="MaxDepth"/> deep.
/// </summary>
internal sealed class JsonSchemaCompiler
{
    public const int MaxDepth = 3;
    /// <summary>
    /// At most this many subschemas in all, counting each $ref expansion: two refs to a definition that has two refs to
    /// the next, 22 levels deep (1.8 KB of schema), took 190 s and 4.5 GB to reach the automaton's state limit.
    /// </summary>
    public const int MaxSubschemas = 20_000;
    readonly JsonElement _root;
    readonly HashSet<string> _expanding = [];
    int _subschemas;

    JsonSchemaCompiler(JsonElement root) => _root = root;

    public static Node Compile(string schemaJson)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(schemaJson); }
        catch (JsonException e) { throw new ConstraintException($"json schema: not valid JSON: {e.Message}"); }
        if (SeaLion.Model.JsonText.UnpairedSurrogate(System.Text.Encoding.UTF8.GetBytes(schemaJson)) is { } bad)
        {
            doc.Dispose();
            throw new ConstraintException($"json schema: not valid JSON: {bad}");
        }
        using (doc) return new JsonSchemaCompiler(doc.RootElement.Clone()).Schema(doc.RootElement.Clone(), "#");
    }

    /// <summary>Any JSON object (json_object): an object whose values nest at most MaxDepth deep.</summary>
    public static Node AnyObject() => ObjectOf(AnyValue(MaxDepth - 1));

    static ConstraintException Error(string path, string message) => new($"json schema at {path}: {message}");

    /// <summary>A keyword's value that must be a string (JsonElement.GetString throws on any other kind).</summary>
    static string Text(JsonElement v, string path, string what) =>
        v.ValueKind == JsonValueKind.String ? v.GetString()! : throw Error(path, $"{what}, got {v.ValueKind.ToString().ToLowerInvariant()}");

    static JsonElement ArrayOf(JsonElement v, string path, string keyword) =>
        v.ValueKind == JsonValueKind.Array ? v : throw Error(path, $"{keyword} must be an array, got {v.ValueKind.ToString().ToLowerInvariant()}");

    static readonly HashSet<string> Ignored = ["title", "description", "$schema", "$id", "$comment", "examples", "default", "deprecated", "readOnly", "writeOnly", "$defs", "definitions", "strict", "additionalProperties"];

    Node Schema(JsonElement s, string path)
    {
        if (++_subschemas > MaxSubschemas) throw Error(path, $"the schema expands to more than {MaxSubschemas} subschemas (through $ref)");
        if (s.ValueKind == JsonValueKind.True) return AnyValue(MaxDepth);
        if (s.ValueKind != JsonValueKind.Object) throw Error(path, $"a schema must be an object or true, got {s.ValueKind}");
        foreach (var p in s.EnumerateObject())
            if (!Known.Contains(p.Name) && !Ignored.Contains(p.Name))
                throw Error(path, $"the keyword \"{p.Name}\" is not supported");
        if (s.TryGetProperty("additionalProperties", out var ap) && ap.ValueKind == JsonValueKind.Object && ap.EnumerateObject().Any() && !s.TryGetProperty("properties", out _))
            throw Error(path, "additionalProperties with a schema (a map) is not supported; list the properties");
        if (s.TryGetProperty("$ref", out var r)) return Ref(r, path);
        if (s.TryGetProperty("const", out var c)) return Literal(c);
        if (s.TryGetProperty("enum", out var e))
        {
            if (e.ValueKind != JsonValueKind.Array || e.GetArrayLength() == 0) throw Error(path, "enum must be a non-empty array");
            return Node.Either([.. e.EnumerateArray().Select(Literal)]);
        }
        if (s.TryGetProperty("anyOf", out var any) || s.TryGetProperty("oneOf", out any))
        {
            if (any.ValueKind != JsonValueKind.Array || any.GetArrayLength() == 0) throw Error(path, "anyOf / oneOf must be a non-empty array");
            return Node.Either([.. any.EnumerateArray().Select((x, i) => Schema(x, $"{path}/anyOf/{i}"))]);
        }
        if (s.TryGetProperty("allOf", out var all))
        {
            if (all.ValueKind != JsonValueKind.Array || all.GetArrayLength() != 1) throw Error(path, "allOf is supported with exactly one schema");
            return Schema(all[0], $"{path}/allOf/0");
        }
        if (!s.TryGetProperty("type", out var type))
        {
            if (s.TryGetProperty("properties", out _)) return Object(s, path);
            if (s.TryGetProperty("items", out _)) return Array(s, path);
            return AnyValue(MaxDepth);
        }
        if (type.ValueKind == JsonValueKind.Array)
            return Node.Either([.. type.EnumerateArray().Select(t => Typed(s, Text(t, path, "type entries must be strings"), path))]);
        return Typed(s, Text(type, path, "type must be a string or an array of strings"), path);
    }

    static readonly HashSet<string> Known = ["type", "properties", "required", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "items", "prefixItems",
        "minItems", "maxItems", "minLength", "maxLength", "pattern", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"];

    Node Typed(JsonElement s, string type, string path) => type switch
    {
        "object" => Object(s, path),
        "array" => Array(s, path),
        "string" => String(s, path),
        "integer" => Integer(s, path),
        "number" => Number(s, path),
        "boolean" => Node.Either(Node.Text("true"), Node.Text("false")),
        "null" => Node.Text("null"),
        _ => throw Error(path, $"unknown type \"{type}\""),
    };

    Node Ref(JsonElement r, string path)
    {
        string target = Text(r, path, "$ref must be a string");
        if (!target.StartsWith("#/", StringComparison.Ordinal)) throw Error(path, $"$ref \"{target}\": only references into this schema (#/$defs/...) are supported");
        if (!_expanding.Add(target)) throw Error(path, $"$ref \"{target}\" is recursive; recursive schemas are not supported");
        var at = _root;
        foreach (var part in target[2..].Split('/'))
        {
            string key = part.Replace("~1", "/").Replace("~0", "~");
            if (at.ValueKind != JsonValueKind.Object || !at.TryGetProperty(key, out at)) throw Error(path, $"$ref \"{target}\" points at nothing");
        }
        var node = Schema(at, target);
        _expanding.Remove(target);
        return node;
    }

    Node Object(JsonElement s, string path)
    {
        if (!s.TryGetProperty("properties", out var props) || props.ValueKind != JsonValueKind.Object || !props.EnumerateObject().Any())
        {
            if (s.TryGetProperty("required", out var req0) && ArrayOf(req0, path, "required").GetArrayLength() > 0) throw Error(path, "required names properties that are not declared");
            return ObjectOf(AnyValue(MaxDepth - 1));
        }
        var required = new HashSet<string>();
        if (s.TryGetProperty("required", out var req))
            foreach (var x in ArrayOf(req, path, "required").EnumerateArray()) required.Add(Text(x, path, "required must list strings"));
        foreach (var name in required)
            if (!props.TryGetProperty(name, out _)) throw Error(path, $"required property \"{name}\" is not declared in properties");
        var members = props.EnumerateObject().Select(p =>
            (Node.Concat(Node.Text(JsonSerializer.Serialize(p.Name)), Node.Text(":"), Schema(p.Value, $"{path}/properties/{p.Name}")), required.Contains(p.Name))).ToArray();
        return Node.Concat(Node.Text("{"), new Members(members, Node.Text(",")), Node.Text("}"));
    }

    Node Array(JsonElement s, string path)
    {
        int min = Int(s, "minItems", path) ?? 0, max = Int(s, "maxItems", path) ?? -1;
        if (max >= 0 && max < min) throw Error(path, "maxItems < minItems");
        if (max > RegexParser.MaxRepeat || min > RegexParser.MaxRepeat) throw Error(path, $"minItems / maxItems over {RegexParser.MaxRepeat}");
        var prefix = new List<Node>();
        if (s.TryGetProperty("prefixItems", out var pre))
            prefix.AddRange(ArrayOf(pre, path, "prefixItems").EnumerateArray().Select((x, i) => Schema(x, $"{path}/prefixItems/{i}")));
        Node item = s.TryGetProperty("items", out var it) ? (it.ValueKind == JsonValueKind.False ? Node.Empty : Schema(it, $"{path}/items")) : AnyValue(MaxDepth - 1);
        if (prefix.Count > 0)
        {
            // The prefix items in order, then (if items allows) more: at least min in all, at most max.
            if (it.ValueKind == JsonValueKind.False || s.TryGetProperty("items", out _) == false) max = max < 0 ? prefix.Count : Math.Min(max, prefix.Count);
            var body = new List<Node> { prefix[0] };
            for (int i = 1; i < prefix.Count; i++) body.Add(Node.Concat(Node.Text(","), prefix[i]));
            int restMax = max < 0 ? -1 : Math.Max(0, max - prefix.Count);
            var withRest = restMax == 0 ? Node.Concat([.. body]) : Node.Concat([.. body, new Repeat(Node.Concat(Node.Text(","), item), Math.Max(0, min - prefix.Count), restMax)]);
            return Node.Concat(Node.Text("["), min == 0 ? Node.Optional(withRest) : withRest, Node.Text("]"));
        }
        return Node.Concat(Node.Text("["), List(item, min, max), Node.Text("]"));
    }

    /// <summary>min to max items joined by commas (max -1: no bound).</summary>
    static Node List(Node item, int min, int max)
    {
        if (max == 0) return Node.Empty;
        var rest = new Repeat(Node.Concat(Node.Text(","), item), Math.Max(0, min - 1), max < 0 ? -1 : max - 1);
        var some = Node.Concat(item, rest);
        return min == 0 ? Node.Optional(some) : some;
    }

    static Node ObjectOf(Node value) =>
        Node.Concat(Node.Text("{"), List(Node.Concat(JsonString(0, -1), Node.Text(":"), value), 0, -1), Node.Text("}"));

    /// <summary>Any JSON value, with objects and arrays nested at most depth deep.</summary>
    static Node AnyValue(int depth)
    {
        var scalars = new List<Node> { JsonString(0, -1), NumberNode(false), Node.Text("true"), Node.Text("false"), Node.Text("null") };
        if (depth > 0)
        {
            var inner = AnyValue(depth - 1);
            scalars.Add(ObjectOf(inner));
            scalars.Add(Node.Concat(Node.Text("["), List(inner, 0, -1), Node.Text("]")));
        }
        return Node.Either([.. scalars]);
    }

    static readonly CharSet Hex = CharSet.Of(('0', '9'), ('a', 'f'), ('A', 'F'));

    /// <summary>One JSON string character: anything but '"', '\' and controls, or an escape.</summary>
    static Node StringChar() => Node.Either(
        new Chars(CharSet.Of(('"', '"'), ('\\', '\\'), (0, 0x1F)).Negate()),
        Node.Concat(Node.Text("\\"), new Chars(CharSet.Of(('"', '"'), ('\\', '\\'), ('/', '/'), ('b', 'b'), ('f', 'f'), ('n', 'n'), ('r', 'r'), ('t', 't')))),
        Node.Concat(Node.Text("\\u"), new Repeat(new Chars(Hex), 4, 4)));

    static Node JsonString(int min, int max) => Node.Concat(Node.Text("\""), new Repeat(StringChar(), min, max), Node.Text("\""));

    Node String(JsonElement s, string path)
    {
        int min = Int(s, "minLength", path) ?? 0, max = Int(s, "maxLength", path) ?? -1;
        if (max >= 0 && max < min) throw Error(path, "maxLength < minLength");
        if (max > RegexParser.MaxRepeat || min > RegexParser.MaxRepeat) throw Error(path, $"minLength / maxLength over {RegexParser.MaxRepeat}");
        if (s.TryGetProperty("pattern", out var pattern))
        {
            // The pattern is matched against the string's content; only patterns whose strings need no JSON escape are
            // safe to write raw, so '"', '\' and control characters are taken out of what the pattern allows.
            var node = RegexParser.Parse(Text(pattern, path, "pattern must be a string"), $"json schema at {path}: pattern");
            return Node.Concat(Node.Text("\""), WithoutJsonSpecials(node), Node.Text("\""));
        }
        if (s.TryGetProperty("format", out var format))
        {
            string f = Text(format, path, "format must be a string");
            string? rx = f switch
            {
                // Days within their month (29 February is left out: a regular language cannot tell leap years).
                "date" => Date,
                "time" => @"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])",
                "date-time" => Date + @"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])",
                "uuid" => @"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                "email" => @"[a-zA-Z0-9._%+-]{1,64}@[a-zA-Z0-9-]{1,63}(\.[a-zA-Z0-9-]{1,63}){0,4}\.[a-zA-Z]{2,24}",
                "ipv4" => @"((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])",
                _ => null,
            };
            if (rx is null) throw Error(path, $"format \"{f}\" is not supported (date, time, date-time, uuid, email, ipv4 are)");
            return Node.Concat(Node.Text("\""), RegexParser.Parse(rx), Node.Text("\""));
        }
        return JsonString(min, max);
    }

    const string Date = @"[0-9]{4}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))";

    static Node WithoutJsonSpecials(Node n) => n switch
    {
        Chars c => new Chars(c.Set.Except(CharSet.Of(('"', '"'), ('\\', '\\'), (0, 0x1F)))),
        Seq s => new Seq([.. s.Items.Select(WithoutJsonSpecials)]),
        Alt a => new Alt([.. a.Options.Select(WithoutJsonSpecials)]),
        Repeat r => r with { Item = WithoutJsonSpecials(r.Item) },
        _ => n,
    };

    Node Integer(JsonElement s, string path)
    {
        long? lo = Bound(s, "minimum", path), hi = Bound(s, "maximum", path);
        if (Bound(s, "exclusiveMinimum", path) is { } xlo) lo = Math.Max(lo ?? long.MinValue, xlo + 1);
        if (Bound(s, "exclusiveMaximum", path) is { } xhi) hi = Math.Min(hi ?? long.MaxValue, xhi - 1);
        if (lo > hi) throw Error(path, "the integer range is empty");
        // Unbounded sides stop at 18 digits, so a number's length is bounded whatever the model does.
        const long Limit = 999_999_999_999_999_999;
        long a = Math.Max(lo ?? -Limit, -Limit), b = Math.Min(hi ?? Limit, Limit);
        return IntegerRange.Node(a, b);
    }

    Node Number(JsonElement s, string path)
    {
        foreach (var k in new[] { "maximum", "exclusiveMinimum", "exclusiveMaximum" })
            if (s.TryGetProperty(k, out _)) throw Error(path, $"\"{k}\" on a number is not supported (use \"type\": \"integer\" for exact ranges)");
        bool nonNegative = false;
        if (s.TryGetProperty("minimum", out var min))
        {
            if (min.ValueKind != JsonValueKind.Number || min.GetDouble() != 0) throw Error(path, "\"minimum\" on a number is supported only as 0");
            nonNegative = true;
        }
        return NumberNode(nonNegative);
    }

    /// <summary>A JSON number with at most 15 integer digits, 15 fraction digits and a 3-digit exponent.</summary>
    static Node NumberNode(bool nonNegative)
    {
        var digit = new Chars(CharSet.Of(('0', '9')));
        var intPart = Node.Either(Node.Text("0"), Node.Concat(new Chars(CharSet.Of(('1', '9'))), new Repeat(digit, 0, 14)));
        var frac = Node.Optional(Node.Concat(Node.Text("."), new Repeat(digit, 1, 15)));
        var exp = Node.Optional(Node.Concat(new Chars(CharSet.Of(('e', 'e'), ('E', 'E'))), Node.Optional(new Chars(CharSet.Of(('+', '+'), ('-', '-')))), new Repeat(digit, 1, 3)));
        return Node.Concat(nonNegative ? Node.Empty : Node.Optional(Node.Text("-")), intPart, frac, exp);
    }

    static Node Literal(JsonElement v) => Node.Text(JsonSerializer.Serialize(v));

    static int? Int(JsonElement s, string name, string path)
    {
        if (!s.TryGetProperty(name, out var v)) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int i) || i < 0) throw Error(path, $"{name} must be a non-negative integer");
        return i;
    }

    static long? Bound(JsonElement s, string name, string path)
    {
        if (!s.TryGetProperty(name, out var v)) return null;
        if (v.ValueKind != JsonValueKind.Number) throw Error(path, $"{name} must be a number");
        double d = v.GetDouble();
        if (Math.Abs(d) > 1e18) throw Error(path, $"{name} {v.GetRawText()} is out of range");
        return name.Contains("inimum", StringComparison.Ordinal) ? (long)Math.Ceiling(d) : (long)Math.Floor(d);
    }
}

/// <summary>The decimal strings of the integers in [lo, hi], as a node (the classic range-to-regex construction).</summary>
internal static class IntegerRange
{
    public static Node Node(long lo, long hi)
    {
        var parts = new List<Node>();
        if (lo < 0)
        {
            long nlo = hi < 0 ? -hi : 1, nhi = -lo;
            parts.Add(Structured.Node.Concat(Structured.Node.Text("-"), Positive(nlo, nhi)));
        }
        if (hi >= 0)
        {
            long plo = Math.Max(lo, 0);
            if (plo == 0) { parts.Add(Structured.Node.Text("0")); plo = 1; }
            if (plo <= hi) parts.Add(Positive(plo, hi));
        }
        return Structured.Node.Either([.. parts]);
    }

    /// <summary>Integers in [lo, hi], 1 &lt;= lo &lt;= hi, without leading zeros.</summary>
    static Node Positive(long lo, long hi)
    {
        var options = new List<Node>();
        // Split by number of digits, then each same-length range into digit-wise pieces.
        for (int len = Digits(lo); len <= Digits(hi); len++)
        {
            long a = Math.Max(lo, Pow10(len - 1)), b = Math.Min(hi, Pow10(len) - 1);
            SameLength(a.ToString(CultureInfo.InvariantCulture), b.ToString(CultureInfo.InvariantCulture), options);
        }
        return Structured.Node.Either([.. options]);
    }

    static void SameLength(string a, string b, List<Node> into)
    {
        if (a.Length == 0) { into.Add(Structured.Node.Empty); return; }
        if (a == b) { into.Add(Structured.Node.Text(a)); return; }
        int n = a.Length;
        // All of [a, b] when a is d000.. and b is e999..: one class then free digits.
        if (a[1..].All(c => c == '0') && b[1..].All(c => c == '9'))
        {
            into.Add(Structured.Node.Concat(Digit(a[0], b[0]), new Repeat(Digit('0', '9'), n - 1, n - 1)));
            return;
        }
        if (a[0] == b[0])
        {
            var rest = new List<Node>();
            SameLength(a[1..], b[1..], rest);
            into.Add(Structured.Node.Concat(Structured.Node.Text(a[..1]), Structured.Node.Either([.. rest])));
            return;
        }
        // a .. a[0]999, then (a[0]+1)000 .. (b[0]-1)999, then b[0]000 .. b
        SameLength(a, a[0] + new string('9', n - 1), into);
        if (b[0] - a[0] > 1) SameLength((char)(a[0] + 1) + new string('0', n - 1), (char)(b[0] - 1) + new string('9', n - 1), into);
        SameLength(b[0] + new string('0', n - 1), b, into);
    }

    static Node Digit(char lo, char hi) => new Chars(CharSet.Of((lo, hi)));
    static int Digits(long v) => v.ToString(CultureInfo.InvariantCulture).Length;
    static long Pow10(int n) { long p = 1; for (int i = 0; i < n; i++) p *= 10; return p; }
}
