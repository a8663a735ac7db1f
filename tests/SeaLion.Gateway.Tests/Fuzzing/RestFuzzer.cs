using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SeaLion.Gateway.Tests.Fuzzing;

/// <summary>
/// Structure-aware fuzzing of the REST API: each case takes a valid body of the shape lm-eval, SEA-HELM and the
/// OpenAI clients send, and mutates it in its tree (a field's type, a boundary number, an edge-case string, a lone
/// surrogate or invalid UTF-8, a removed, unknown or duplicated key, deep nesting, a huge array, a long string) or in
/// its bytes (truncation, flips, inserted invalid UTF-8, a BOM, trailing data), sometimes under a wrong content type.
/// </summary>
internal sealed class RestFuzzer(long seed)
{
    const string Model = "sea-lion-v2";

    /// <summary>Valid requests: each is served (200) unmutated; the fuzz test checks that of a sample of them.</summary>
    internal static readonly (string Path, string Body)[] Seeds =
    [
        // lm-eval LocalCompletionsAPI: generate_until, then loglikelihood over token ids (echo, logprobs 1, max_tokens 1).
        ("/v1/completions", """{"model":"sea-lion-v2","prompt":"Question: Apa ibu kota Indonesia?\nAnswer:","max_tokens":4,"temperature":0,"stop":["\n\n","Question:"],"seed":1234}"""),
        ("/v1/completions", """{"model":"sea-lion-v2","prompt":[[128000,14924,25,362,6340,35010]],"max_tokens":1,"temperature":0,"logprobs":1,"echo":true,"seed":1234}"""),
        ("/v1/completions", """{"model":"sea-lion-v2","prompt":"Halo dunia","max_tokens":0,"echo":true,"logprobs":2,"prompt_logprobs":1}"""),
        ("/v1/completions", """{"model":"sea-lion-v2","prompt":"สวัสดีครับ","max_tokens":3,"stream":true,"stream_options":{"include_usage":true},"temperature":0.8,"top_p":0.95,"top_k":40,"seed":7}"""),
        ("/v1/completions", """{"model":"sea-lion-v2","prompt":["Xin chào","வணக்கம்"],"n":2,"max_tokens":2,"presence_penalty":0.5,"frequency_penalty":0.2,"repetition_penalty":1.1,"min_p":0.05,"logit_bias":{"1000":-100},"stop_token_ids":[128009],"ignore_eos":false,"min_tokens":1,"skip_special_tokens":true,"include_stop_str_in_output":false,"user":"fuzz"}"""),
        ("/v1/completions", """{"model":"sea-lion-v2","prompt":"Jawab ya atau tidak:","max_tokens":4,"guided_choice":["ya","tidak"],"temperature":0}"""),
        // The OpenAI clients' chat shapes, and SEA-HELM's (chat_template_kwargs, continue_final_message, prompt_logprobs).
        ("/v1/chat/completions", """{"messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Apa kabar?"}],"model":"sea-lion-v2","max_tokens":4,"temperature":0.7,"top_p":1,"n":1,"seed":42}"""),
        ("/v1/chat/completions", """{"model":"sea-lion-v2","messages":[{"role":"user","content":[{"type":"text","text":"ສະບາຍດີ"},{"type":"text","text":" ขอบคุณ"}]}],"max_completion_tokens":3,"stream":true,"stream_options":{"include_usage":true}}"""),
        ("/v1/chat/completions", """{"model":"sea-lion-v2","messages":[{"role":"developer","content":"Reply in JSON."},{"role":"user","content":"Xin chào"}],"max_tokens":6,"logprobs":true,"top_logprobs":2,"response_format":{"type":"json_object"}}"""),
        ("/v1/chat/completions", """{"model":"sea-lion-v2","messages":[{"role":"user","content":"Soalan: 2+2?"},{"role":"assistant","content":"Jawapan:"}],"add_generation_prompt":false,"continue_final_message":true,"chat_template_kwargs":{"enable_thinking":false},"include_stop_str_in_output":true,"max_tokens":3,"temperature":0}"""),
        ("/v1/chat/completions", """{"model":"sea-lion-v2","messages":[{"role":"user","content":"សួស្តី မင်္ဂလာပါ"}],"max_tokens":1,"prompt_logprobs":1,"temperature":0}"""),
        ("/v1/chat/completions", """{"model":"sea-lion-v2","messages":[{"role":"user","content":"Give a number"}],"max_tokens":8,"response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}}}}"""),
        ("/v1/chat/completions", """{"model":"sea-lion-v2","messages":[{"role":"user","content":"Dua digit:"}],"max_tokens":4,"structured_outputs":{"regex":"[0-9]{2}"},"stream":true}"""),
        // vLLM's tokenizer endpoints, as lm-eval's remote tokenizer calls them.
        ("/tokenize", """{"model":"sea-lion-v2","prompt":"Selamat pagi","add_special_tokens":true}"""),
        ("/tokenize", """{"model":"sea-lion-v2","messages":[{"role":"user","content":"Kumusta"}],"add_generation_prompt":true,"return_token_strs":true}"""),
        ("/tokenize", """{"prompt":"မင်္ဂလာပါ <|eot_id|>","add_special_tokens":false}"""),
        ("/detokenize", """{"model":"sea-lion-v2","tokens":[128000,9906,1917]}"""),
        ("/detokenize", """{"tokens":[40,1097,264,128009]}"""),
    ];

    static readonly string?[] ContentTypes =
    [
        null, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=fuzz", "application/json; charset=utf-16",
        "application/xml", "application/grpc", "*/*", "application/json; charset=iso-8859-1", "application/octet-stream",
    ];

    /// <summary>Words that are meaningful somewhere in these APIs, so a string mutation often lands on a neighbouring valid value.</summary>
    static readonly string[] FieldWords =
    [
        "system", "user", "assistant", "developer", "tool", "function", "USER", "text", "image_url", "json_object", "json_schema", "sea-lion-v2",
        "gpt-4o", "stop", "length", "true", "null", "NaN", "-1", "1e309",
    ];

    static readonly string[] UnknownKeys = ["tools", "tool_choice", "suffix", "functions", "best_of_n", "guided_decoding_backend", "", "\u0000", "MODEL", "model ", "max_tokens\u200B"];

    static readonly string[] BadNumberLiterals = ["NaN", "Infinity", "-Infinity", "+1", "01", ".5", "1.", "0x10", "1_000", "1e", "--1", "1e+", "١٢"];

    public RestCase Case(int index)
    {
        var r = FuzzSeed.For(seed, "rest", index);
        var (path, text) = r.Pick(Seeds);
        var body = new Body((JsonObject)JsonNode.Parse(text)!);
        var notes = new List<string>();
        int kind = r.Next(100);
        byte[] bytes;
        if (kind < 4)
        {
            notes.Add("unmutated");
            bytes = body.Bytes(r);
        }
        else if (kind < 78)
        {
            int mutations = r.Next(4) == 0 ? 2 + r.Next(2) : 1;
            for (int i = 0; i < mutations; i++) notes.Add(MutateTree(r, body));
            bytes = body.Bytes(r);
        }
        else
        {
            bytes = MutateBytes(r, body.Bytes(r), notes);
        }
        string? contentType = "application/json";
        if (r.Next(10) == 0)
        {
            contentType = r.Pick(ContentTypes);
            notes.Add("content-type " + (contentType ?? "none"));
        }
        return new RestCase(index, path, contentType, bytes, string.Join("; ", notes));
    }

    /// <summary>A mutable body: a JSON tree whose values may be raw JSON text (numbers JSON cannot round-trip, bad escapes, raw bytes).</summary>
    sealed class Body(JsonObject root)
    {
        public JsonObject Root { get; } = root;
        readonly List<byte[]> _raw = [];

        /// <summary>A placeholder string value replaced by these exact bytes when the body is written.</summary>
        public JsonNode Raw(byte[] json) { _raw.Add(json); return JsonValue.Create($"@@RAW{_raw.Count - 1}@@")!; }
        public JsonNode Raw(string json) => Raw(Encoding.UTF8.GetBytes(json));
        public string RawKey(string name)
        {
            // A key that is itself a placeholder (a duplicated duplicate) repeats that placeholder's bytes.
            bool placeholder = name.StartsWith("@@RAW", StringComparison.Ordinal) && name.EndsWith("@@", StringComparison.Ordinal);
            _raw.Add(placeholder ? _raw[int.Parse(name[5..^2])] : Encoding.UTF8.GetBytes(JsonSerializer.Serialize(name)));
            return $"@@RAW{_raw.Count - 1}@@";
        }

        /// <summary>The body's bytes: non-ASCII written raw (as most clients do) or escaped (as Python's json.dumps does).</summary>
        public byte[] Bytes(Random r)
        {
            var options = new JsonSerializerOptions { Encoder = r.Next(2) == 0 ? JavaScriptEncoder.UnsafeRelaxedJsonEscaping : JavaScriptEncoder.Default };
            byte[] json = JsonSerializer.SerializeToUtf8Bytes(Root, options);
            if (_raw.Count == 0) return json;
            var output = new List<byte>(json.Length);
            ReadOnlySpan<byte> marker = "\"@@RAW"u8;
            for (int i = 0; i < json.Length;)
            {
                if (json.AsSpan(i).StartsWith(marker))
                {
                    int end = json.AsSpan(i + marker.Length).IndexOf("@@\""u8);
                    int n = int.Parse(Encoding.ASCII.GetString(json, i + marker.Length, end));
                    output.AddRange(_raw[n]);
                    i += marker.Length + end + 3;
                }
                else output.Add(json[i++]);
            }
            return output.ToArray();
        }
    }

    /// <summary>A place in the tree: a property of an object or an element of an array.</summary>
    readonly record struct Slot(JsonNode Parent, string? Key, int Index)
    {
        public JsonNode? Value => Parent is JsonObject o ? o[Key!] : Parent.AsArray()[Index];
        public void Set(JsonNode? v) { if (Parent is JsonObject o) o[Key!] = v; else Parent.AsArray()[Index] = v; }
        public void Remove() { if (Parent is JsonObject o) o.Remove(Key!); else Parent.AsArray().RemoveAt(Index); }
        public override string ToString() => Parent.GetPath() + (Key is not null ? "." + Key : $"[{Index}]");
    }

    static List<Slot> Slots(JsonNode node, List<Slot>? into = null)
    {
        into ??= [];
        if (node is JsonObject o)
            foreach (var (k, v) in o.ToList()) { into.Add(new Slot(o, k, 0)); if (v is not null) Slots(v, into); }
        else if (node is JsonArray a)
            for (int i = 0; i < a.Count; i++) { into.Add(new Slot(a, null, i)); if (a[i] is { } v) Slots(v, into); }
        return into;
    }

    static string MutateTree(Random r, Body body)
    {
        var slots = Slots(body.Root);
        if (slots.Count == 0) { body.Root["model"] = Model; return "model restored"; }
        // Half the time a top-level field: that is where the parameters are.
        var top = slots.Where(s => ReferenceEquals(s.Parent, body.Root)).ToList();
        var slot = r.Next(2) == 0 && top.Count > 0 ? r.Pick(top) : r.Pick(slots);
        switch (r.Next(16))
        {
            case 15:
                return Constraint(r, body);
            case 0 or 1:
                slot.Set(WrongType(r, body));
                return $"{slot} wrong type";
            case 2 or 3:
            {
                string literal = r.Next(7) == 0 ? r.Pick(BadNumberLiterals) : r.Pick(EdgeValues.NumberLiterals);
                slot.Set(body.Raw(literal));
                return $"{slot} = {Clip(literal)}";
            }
            case 4:
            {
                string s = r.Next(4) == 0 ? r.Pick(FieldWords) : EdgeValues.AnyString(r);
                slot.Set(JsonValue.Create(s));
                return $"{slot} = string({s.Length}) {Clip(s)}";
            }
            case 5:
            {
                string literal = r.Pick(EdgeValues.SurrogateEscapes);
                slot.Set(body.Raw(literal));
                return $"{slot} = {literal}";
            }
            case 6:
            {
                byte[] bad = r.Pick(EdgeValues.InvalidUtf8);
                slot.Set(body.Raw(EdgeValues.RawStringLiteral(bad)));
                return $"{slot} = string with raw bytes {Convert.ToHexString(bad)}";
            }
            case 7:
                slot.Remove();
                return $"{slot} removed";
            case 8:
            {
                var target = Objects(body.Root, r);
                string key = r.Next(3) == 0 ? EdgeValues.AnyString(r) : r.Pick(UnknownKeys);
                key = EdgeValues.Cut(key, 300);
                target[body.RawKey(key)] = WrongType(r, body);
                return $"{target.GetPath()} unknown key {Clip(key)}";
            }
            case 9:
            {
                var target = Objects(body.Root, r);
                if (target.Count == 0) goto case 8;
                string key = r.Pick(target.Select(p => p.Key).ToList());
                target[body.RawKey(key)] = r.Next(2) == 0 ? target[key]?.DeepClone() : WrongType(r, body);
                return $"{target.GetPath()} duplicate key {key}";
            }
            case 10:
            {
                int depth = r.Pick([63, 64, 65, 256, 257, 1000, 10_000]);
                bool objects = r.Next(3) == 0, balanced = r.Next(5) != 0;
                string open = objects ? "{\"a\":" : "[", close = objects ? "}" : "]";
                var sb = new StringBuilder();
                for (int i = 0; i < depth; i++) sb.Append(open);
                sb.Append('1');
                if (balanced) for (int i = 0; i < depth; i++) sb.Append(close);
                slot.Set(body.Raw(sb.ToString()));
                return $"{slot} nested {depth} deep{(objects ? " (objects)" : "")}{(balanced ? "" : " unbalanced")}";
            }
            case 11:
            {
                int n = r.Pick([17, 65, 1025, 4097, 100_000]);
                string element = r.Next(4) switch
                {
                    0 => "\"x\"",
                    1 => "{\"role\":\"user\",\"content\":\"x\"}",
                    2 => "[1,2]",
                    _ => r.Next(128256).ToString(),
                };
                slot.Set(body.Raw("[" + string.Join(",", Enumerable.Repeat(element, n)) + "]"));
                return $"{slot} = array of {n} x {element}";
            }
            case 12:
            {
                int n = r.Next(20) == 0 ? 9 << 20 : r.Pick([257, 65_537, 1 << 20, (1 << 20) + 1]);
                slot.Set(JsonValue.Create(EdgeValues.Long(r, n)));
                return $"{slot} = string of {n} characters";
            }
            case 13:
            {
                var other = r.Pick(slots);
                slot.Set(other.Value?.DeepClone());
                return $"{slot} = value of {other}";
            }
            default:
            {
                // An edge-case string where the text goes: the prompt, a message's content or role.
                var text = slots.Where(s => s.Key is "prompt" or "content" or "text" or "role" || (s.Parent is JsonArray && s.Value is JsonValue)).ToList();
                var at = text.Count > 0 ? r.Pick(text) : slot;
                string s = r.Next(2) == 0 ? r.Pick(EdgeValues.Scripts) + r.Pick(EdgeValues.AwkwardStrings) : r.Pick(EdgeValues.AwkwardStrings);
                at.Set(JsonValue.Create(s));
                return $"{at} = {Clip(s)}";
            }
        }
    }

    static readonly string[] ConstraintFields = ["response_format", "structured_outputs", "guided_json", "guided_regex", "guided_choice", "guided_grammar"];

    /// <summary>A structured output from the constraint corpus, in one of the forms the API takes, replacing any the body had.</summary>
    static string Constraint(Random r, Body body)
    {
        foreach (var f in ConstraintFields) body.Root.Remove(f);
        switch (r.Next(6))
        {
            case 0:
            {
                string schema = r.Pick(EdgeValues.Schemas);
                body.Root["response_format"] = new JsonObject { ["type"] = "json_schema", ["json_schema"] = new JsonObject { ["name"] = "x", ["schema"] = body.Raw(schema) } };
                return $"response_format json_schema {RestFuzzer.Clip(schema)}";
            }
            case 1:
            {
                string schema = r.Pick(EdgeValues.Schemas);
                body.Root["guided_json"] = schema;   // the schema's text as a string
                return $"guided_json string {RestFuzzer.Clip(schema)}";
            }
            case 2 or 3:
            {
                string regex = r.Pick(EdgeValues.Regexes);
                if (r.Next(2) == 0) body.Root["guided_regex"] = regex;
                else body.Root["structured_outputs"] = new JsonObject { ["regex"] = regex };
                return $"regex {RestFuzzer.Clip(regex)}";
            }
            case 4:
            {
                string grammar = r.Pick(EdgeValues.Grammars);
                if (r.Next(2) == 0) body.Root["guided_grammar"] = grammar;
                else body.Root["structured_outputs"] = new JsonObject { ["grammar"] = grammar };
                return $"grammar {RestFuzzer.Clip(grammar)}";
            }
            default:
            {
                var choices = new JsonArray();
                int n = r.Pick([1, 2, 5, 4097]);
                for (int i = 0; i < n; i++) choices.Add(i < 8 ? EdgeValues.AnyString(r) : $"c{i}");
                body.Root["guided_choice"] = choices;
                return $"guided_choice of {n}";
            }
        }
    }

    static JsonObject Objects(JsonObject root, Random r)
    {
        var all = new List<JsonObject> { root };
        all.AddRange(Slots(root).Select(s => s.Value).OfType<JsonObject>());
        return r.Next(2) == 0 ? root : r.Pick(all);
    }

    static JsonNode? WrongType(Random r, Body body) => r.Next(12) switch
    {
        0 => JsonValue.Create("a string"),
        1 => JsonValue.Create(1),
        2 => JsonValue.Create(1.5),
        3 => JsonValue.Create(true),
        4 => JsonValue.Create(false),
        5 => null,
        6 => new JsonArray(),
        7 => new JsonObject(),
        8 => new JsonArray(1, "x", null, new JsonObject()),
        9 => new JsonObject { ["a"] = 1, ["type"] = "text" },
        10 => body.Raw("[[]]"),
        _ => JsonValue.Create(""),
    };

    static byte[] MutateBytes(Random r, byte[] b, List<string> notes)
    {
        switch (r.Next(12))
        {
            case 0:
            {
                int at = b.Length == 0 ? 0 : r.Next(b.Length);
                notes.Add($"truncated at {at} of {b.Length}");
                return b[..at];
            }
            case 1:
            {
                var c = (byte[])b.Clone();
                int flips = 1 + r.Next(8);
                for (int i = 0; i < flips && c.Length > 0; i++) c[r.Next(c.Length)] ^= (byte)(1 << r.Next(8));
                notes.Add($"{flips} bit flips");
                return c;
            }
            case 2:
            {
                byte[] bad = r.Pick(EdgeValues.InvalidUtf8);
                int at = r.Next(b.Length + 1);
                notes.Add($"raw bytes {Convert.ToHexString(bad)} inserted at {at}");
                return [.. b[..at], .. bad, .. b[at..]];
            }
            case 3:
            {
                byte c = (byte)r.Pick("{}[],:\"\\0-.e "u8.ToArray());
                int at = r.Next(b.Length + 1);
                notes.Add($"'{(char)c}' inserted at {at}");
                return [.. b[..at], c, .. b[at..]];
            }
            case 4:
            {
                int from = r.Next(b.Length), to = Math.Min(b.Length, from + 1 + r.Next(40));
                notes.Add($"bytes {from}..{to} deleted");
                return [.. b[..from], .. b[to..]];
            }
            case 5:
                notes.Add("UTF-8 BOM prefix");
                return [0xEF, 0xBB, 0xBF, .. b];
            case 6:
                notes.Add("sent as UTF-16 with BOM");
                return [.. Encoding.Unicode.GetPreamble(), .. Encoding.Unicode.GetBytes(Encoding.UTF8.GetString(b))];
            case 7:
            {
                string whole = r.Pick(["", " ", "null", "[]", "\"x\"", "1", "{}", "{", "}", "true", "[{}]", "{\"\":{}}", "\u0000"]);
                notes.Add($"body replaced by '{whole}'");
                return Encoding.UTF8.GetBytes(whole);
            }
            case 8:
            {
                string tail = r.Pick(["}", "{}", " x", ",", "\u0000", "\n{\"model\":1}", "]"]);
                notes.Add($"trailing '{tail.Replace("\n", "\\n")}'");
                return [.. b, .. Encoding.UTF8.GetBytes(tail)];
            }
            case 9:
            {
                var junk = new byte[r.Next(1, 256)];
                r.NextBytes(junk);
                notes.Add($"{junk.Length} random bytes");
                return junk;
            }
            case 10:
            {
                // Overlong encodings of JSON's own structural characters (a classic filter bypass).
                byte[][] overlong = [[0xC0, 0xA2], [0xC0, 0xBA], [0xC1, 0xBB], [0xE0, 0x80, 0xA2]];
                byte[] o = r.Pick(overlong);
                int at = r.Next(b.Length + 1);
                notes.Add($"overlong {Convert.ToHexString(o)} inserted at {at}");
                return [.. b[..at], .. o, .. b[at..]];
            }
            default:
            {
                int at = r.Next(b.Length + 1);
                notes.Add($"NUL inserted at {at}");
                return [.. b[..at], 0, .. b[at..]];
            }
        }
    }

    internal static string Clip(string s)
    {
        s = s.Replace("\n", "\\n");
        return s.Length <= 48 ? s : EdgeValues.Cut(s, 48) + $"...({s.Length})";
    }
}
