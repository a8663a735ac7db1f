using System.Collections;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using SeaLion.Contracts.V1;
using static SeaLion.Gateway.Tests.Fuzzing.ProtoWire;

namespace SeaLion.Gateway.Tests.Fuzzing;

/// <summary>
/// Structure-aware fuzzing of sealion.v1.Inference: each case takes a valid request of one of its methods (as the
/// SDK sends them) and mutates it at the field level (a boundary value by the field's type, an oversize repeated or
/// map field, a cleared message) or at the wire level (a wrong wire type, truncation, unknown or invalid field
/// numbers, overlong varints, lying lengths, invalid UTF-8 in a string field, groups, duplicates, flipped bytes),
/// in the message or in one nested inside it. The bytes go out as they are, through a raw-bytes method.
/// </summary>
internal sealed class GrpcFuzzer(long seed)
{
    /// <summary>A valid request per method; index-dependent ids keep the cases' sessions apart.</summary>
    internal static (string Method, IMessage Message)[] Seeds(int index) =>
    [
        ("Generate", new GenerateRequest { Text = "Halo dunia", Sampling = new SamplingParams { MaxTokens = 3, Temperature = 0 } }),
        ("Generate", new GenerateRequest
        {
            Model = "sea-lion-v2", TokenIds = new TokenIds { Ids = { 128000, 9906, 1917 } }, RequestId = $"fuzz-{index}",
            Sampling = new SamplingParams
            {
                MaxTokens = 4, Temperature = 0.7, TopP = 0.9, TopK = 40, MinP = 0.05, Seed = 7, Stop = { "\n" }, StopTokenIds = { 128009 },
                PresencePenalty = 0.5, FrequencyPenalty = 0.2, RepetitionPenalty = 1.1, Logprobs = 2, LogitBias = { [1000] = -5 }, MinTokens = 1,
            },
        }),
        ("Generate", new GenerateRequest
        {
            Messages = new ChatMessages { Messages = { new ChatMessage { Role = "system", Content = "Jawab singkat." }, new ChatMessage { Role = "user", Content = "สวัสดีครับ" } } },
            Sampling = new SamplingParams { MaxTokens = 2, PromptLogprobs = 1, Temperature = 0 },
        }),
        ("Generate", new GenerateRequest { Text = "Jawab:", Sampling = new SamplingParams { MaxTokens = 4, Choice = new ChoiceList { Choices = { "ya", "tidak" } } } }),
        ("Generate", new GenerateRequest { Text = "Angka:", Sampling = new SamplingParams { MaxTokens = 4, Regex = "[0-9]{2}", KeepSpecialTokens = true, IncludeStopStrInOutput = true } }),
        ("Chat", new ChatRequest { SessionId = $"fuzz-{index}", Messages = { new ChatMessage { Role = "user", Content = "Xin chào" } }, Sampling = new SamplingParams { MaxTokens = 3 } }),
        ("Chat", new ChatRequest { Model = "sea-lion-v2", SessionId = $"fuzz-{index}", RequestId = $"turn-{index}", Messages = { new ChatMessage { Role = "user", Content = "វា​ជា​អ្វី?" } }, Sampling = new SamplingParams { MaxTokens = 2, Seed = 1 } }),
        ("GetSession", new GetSessionRequest { SessionId = $"fuzz-{index}" }),
        ("DeleteSession", new DeleteSessionRequest { SessionId = $"fuzz-{index}" }),
        ("Tokenize", new TokenizeRequest { Model = "sea-lion-v2", Text = "မင်္ဂလာပါ", AddBos = true }),
        ("Detokenize", new DetokenizeRequest { TokenIds = { 128000, 9906, 1917 }, SkipSpecialTokens = true }),
        ("ListModels", new ListModelsRequest()),
    ];

    public GrpcCase Case(int index)
    {
        var r = FuzzSeed.For(seed, "grpc", index);
        var (method, message) = r.Pick(Seeds(index));
        var notes = new List<string>();
        int kind = r.Next(100);
        byte[] bytes;
        if (kind < 4)
        {
            notes.Add("unmutated");
            bytes = message.ToByteArray();
        }
        else if (kind < 45)
        {
            int mutations = r.Next(4) == 0 ? 2 : 1;
            for (int i = 0; i < mutations; i++) notes.Add(MutateField(r, message, message.Descriptor.Name));
            bytes = message.ToByteArray();
        }
        else
        {
            bytes = MutateWire(r, message.ToByteArray(), message.Descriptor, message.Descriptor.Name, notes);
        }
        return new GrpcCase(index, method, bytes, string.Join("; ", notes));
    }

    // ---- field level: valid messages with values at and past the boundaries ----------------------------------------

    static readonly int[] Ints = [0, -1, 1, -2, int.MinValue, int.MaxValue, 128255, 128256, 8191, 8192, 20, 21, 16, 17, 1024, 1025];
    static readonly long[] Longs = [0, -1, long.MinValue, long.MaxValue, int.MaxValue + 1L];
    static readonly double[] Doubles = [double.NaN, double.PositiveInfinity, double.NegativeInfinity, -0.0, 0, 1e308, double.Epsilon, -1, 1.0000001, 2.0000001, 100.5, -2.5, 1e-300];

    static string MutateField(Random r, IMessage m, string path)
    {
        var fields = m.Descriptor.Fields.InDeclarationOrder().ToList();
        if (fields.Count == 0) return $"{path}: no fields";
        var f = r.Pick(fields);
        string at = $"{path}.{f.Name}";
        var accessor = f.Accessor;
        if (f.IsMap)
        {
            var map = (IDictionary)accessor.GetValue(m);
            int n = r.Pick([1, 5, 1025, 5000]);
            for (int i = 0; i < n; i++) map[i < 3 ? r.Pick(Ints) : r.Next(128256)] = (float)r.Pick(Doubles);
            return $"{at}: {n} entries";
        }
        if (f.IsRepeated)
        {
            var list = (IList)accessor.GetValue(m);
            if (r.Next(4) == 0) { list.Clear(); return $"{at} cleared"; }
            int n = r.Pick([1, 17, 65, 1025, 100_000, 1_100_000]);
            if (f.FieldType == FieldType.Message) n = Math.Min(n, r.Pick([65, 4097, 20_000]));
            if (f.FieldType == FieldType.String) n = Math.Min(n, 70_000);
            for (int i = 0; i < n; i++) list.Add(Value(r, f, m, at, i < 4));
            return $"{at}: {n} more entries";
        }
        if (f.FieldType == FieldType.Message)
        {
            var inner = (IMessage?)accessor.GetValue(m);
            if (inner is null || r.Next(4) == 0)
            {
                accessor.SetValue(m, f.MessageType.Parser.ParseFrom(Array.Empty<byte>()));   // set, empty
                return $"{at} = {{}}";
            }
            return MutateField(r, inner, at);
        }
        if (r.Next(8) == 0) { accessor.Clear(m); return $"{at} cleared"; }
        object v = Value(r, f, m, at, edge: true);
        accessor.SetValue(m, v);
        return $"{at} = {Describe(v)}";
    }

    static object Value(Random r, FieldDescriptor f, IMessage owner, string at, bool edge) => f.FieldType switch
    {
        FieldType.Int32 or FieldType.SInt32 or FieldType.SFixed32 => edge ? r.Pick(Ints) : r.Next(128256),
        FieldType.Int64 or FieldType.SInt64 or FieldType.SFixed64 => r.Pick(Longs),
        FieldType.Double => r.Pick(Doubles),
        FieldType.Float => (float)r.Pick(Doubles),
        FieldType.Bool => r.Next(2) == 0,
        FieldType.String when f.Name is "json_schema" or "regex" or "grammar" && r.Next(3) != 0 =>
            r.Pick(f.Name == "json_schema" ? EdgeValues.Schemas : f.Name == "regex" ? EdgeValues.Regexes : EdgeValues.Grammars),
        FieldType.String => edge ? (r.Next(4) == 0 ? r.Pick(["system", "user", "assistant", "tool", "sea-lion-v2", "llama", "a/b", "fuzz-1"]) : EdgeValues.AnyString(r)) : "x",
        FieldType.Message => Message(r, f.MessageType),
        _ => throw new InvalidOperationException($"{at}: no values for {f.FieldType}"),
    };

    static IMessage Message(Random r, MessageDescriptor d)
    {
        var m = d.Parser.ParseFrom(Array.Empty<byte>());
        if (m is ChatMessage c) { c.Role = r.Pick(["user", "assistant", "system", "tool", ""]); c.Content = r.Next(4) == 0 ? EdgeValues.AnyString(r) : "x"; }
        return m;
    }

    static string Describe(object v) => v switch
    {
        string s => $"string({s.Length}) {RestFuzzer.Clip(s)}",
        double d => d.ToString("R"),
        float x => x.ToString("R"),
        _ => v.ToString() ?? "null",
    };

    // ---- wire level: bytes a serializer would never write -------------------------------------------------------

    static byte[] MutateWire(Random r, byte[] message, MessageDescriptor d, string path, List<string> notes, int depth = 0)
    {
        var fields = Read(message) ?? [];
        // Into a nested message (sampling, token_ids, messages, a chat message, a map entry) a third of the time.
        var nested = fields.Select((f, i) => (f, i)).Where(x => x.f.WireType == LengthDelimited && d.FindFieldByNumber((int)x.f.Number) is { FieldType: FieldType.Message }).ToList();
        if (nested.Count > 0 && depth < 3 && r.Next(3) == 0)
        {
            var (f, i) = r.Pick(nested);
            var fd = d.FindFieldByNumber((int)f.Number);
            fields[i] = f with { Payload = MutateWire(r, f.Payload, fd.MessageType, $"{path}.{fd.Name}", notes, depth + 1) };
            return Write(fields);
        }
        string Name(Field f) => d.FindFieldByNumber((int)Math.Min(f.Number, int.MaxValue))?.Name ?? $"#{f.Number}";
        switch (r.Next(13))
        {
            case 0 when fields.Count > 0:
            {
                int i = r.Next(fields.Count);
                int wire = r.Pick(new[] { Varint, Fixed64, LengthDelimited, Fixed32 }.Where(w => w != fields[i].WireType).ToArray());
                byte[] payload = r.Next(2) == 0 ? fields[i].Payload : PayloadFor(r, wire);
                if (wire is Fixed64 or Fixed32 && payload.Length != (wire == Fixed64 ? 8 : 4)) payload = PayloadFor(r, wire);
                if (wire == Varint && !IsVarint(payload)) payload = PayloadFor(r, wire);
                notes.Add($"{path}.{Name(fields[i])} sent as wire type {wire} (was {fields[i].WireType})");
                fields[i] = fields[i] with { WireType = wire, Payload = payload };
                return Write(fields);
            }
            case 1:
            {
                int at = r.Next(message.Length + 1);
                notes.Add($"{path} truncated at {at} of {message.Length}");
                return message[..at];
            }
            case 2:
            {
                ulong number = r.Pick(new ulong[] { 99, 5000, 19000, 19999, 1 << 28, (1 << 29) - 1 });
                int wire = r.Pick(new[] { Varint, Fixed64, LengthDelimited, Fixed32 });
                fields.Insert(r.Next(fields.Count + 1), new Field(number, wire, PayloadFor(r, wire)));
                notes.Add($"{path} unknown field {number} wire type {wire}");
                return Write(fields);
            }
            case 3:
            {
                // Field number 0, or past 2^29 - 1: never valid.
                ulong number = r.Pick(new ulong[] { 0, 1 << 29, uint.MaxValue, ulong.MaxValue >> 3 });
                notes.Add($"{path} invalid field number {number}");
                return [.. message, .. EncodeVarint((number << 3) | Varint), 1];
            }
            case 4 when fields.Any(f => f.WireType == Varint):
            {
                var varints = fields.Select((f, i) => (f, i)).Where(x => x.f.WireType == Varint).ToList();
                var (f, i) = r.Pick(varints);
                byte[] v = r.Next(4) switch
                {
                    0 => EncodeVarint(ulong.MaxValue),
                    1 => OverlongVarint(1, 10),
                    2 => OverlongVarint(1, 11),   // malformed: more than 10 bytes
                    _ => EncodeVarint((1UL << 32) + (ulong)r.Next(1000)),
                };
                notes.Add($"{path}.{Name(f)} varint {Convert.ToHexString(v)}");
                fields[i] = f with { Payload = v };
                return Write(fields);
            }
            case 5 when fields.Any(f => f.WireType == LengthDelimited):
            {
                // A length that runs past the end, or one that overflows an int.
                var delimited = fields.Select((f, i) => (f, i)).Where(x => x.f.WireType == LengthDelimited).ToList();
                var (f, i) = r.Pick(delimited);
                ulong lie = r.Pick(new ulong[] { (ulong)f.Payload.Length + 1, (ulong)f.Payload.Length + 1000, int.MaxValue, 1UL << 32, ulong.MaxValue });
                notes.Add($"{path}.{Name(f)} length {lie} for {f.Payload.Length} bytes");
                return [.. Write(fields.Take(i)), .. EncodeVarint((f.Number << 3) | LengthDelimited), .. EncodeVarint(lie), .. f.Payload, .. Write(fields.Skip(i + 1))];
            }
            case 6 or 7:
            {
                // Invalid UTF-8 in a string field (set, or added if the message has one unset).
                var strings = d.Fields.InDeclarationOrder().Where(x => x.FieldType == FieldType.String).ToList();
                if (strings.Count == 0) goto case 2;
                var sf = r.Pick(strings);
                byte[] bad = r.Pick(EdgeValues.InvalidUtf8);
                byte[] payload = r.Next(2) == 0 ? bad : [.. "Halo "u8, .. bad, .. " dunia"u8];
                int i = fields.FindIndex(x => x.Number == (ulong)sf.FieldNumber);
                if (i >= 0) fields[i] = fields[i] with { WireType = LengthDelimited, Payload = payload };
                else fields.Add(new Field((ulong)sf.FieldNumber, LengthDelimited, payload));
                notes.Add($"{path}.{sf.Name} invalid UTF-8 {Convert.ToHexString(bad)}");
                return Write(fields);
            }
            case 8 when fields.Count > 0:
            {
                var f = r.Pick(fields);
                int copies = r.Pick([1, 2, 1000]);
                for (int k = 0; k < copies; k++) fields.Add(f);
                notes.Add($"{path}.{Name(f)} repeated {copies} more times");
                return Write(fields);
            }
            case 9:
            {
                byte[] group = r.Next(3) switch
                {
                    0 => [.. EncodeVarint((7UL << 3) | StartGroup)],                                        // never ended
                    1 => [.. EncodeVarint((7UL << 3) | EndGroup)],                                          // ended, never started
                    _ => [.. EncodeVarint((7000UL << 3) | StartGroup), 8, 1, .. EncodeVarint((7000UL << 3) | EndGroup)],   // a whole unknown group
                };
                notes.Add($"{path} group {Convert.ToHexString(group)}");
                return [.. message, .. group];
            }
            case 10:
            {
                var c = (byte[])message.Clone();
                int flips = 1 + r.Next(6);
                for (int k = 0; k < flips && c.Length > 0; k++) c[r.Next(c.Length)] ^= (byte)(1 << r.Next(8));
                notes.Add($"{path} {flips} bit flips");
                return c;
            }
            case 11:
            {
                var junk = new byte[r.Pick([1, 2, 16, 256])];
                r.NextBytes(junk);
                int at = r.Next(message.Length + 1);
                notes.Add($"{path} {junk.Length} random bytes at {at}");
                return [.. message[..at], .. junk, .. message[at..]];
            }
            default:
            {
                // A packed repeated field whose content is not whole varints (or is a huge run of them).
                int number = d.Fields.InDeclarationOrder().FirstOrDefault(x => x.IsRepeated && x.FieldType == FieldType.Int32)?.FieldNumber ?? 1;
                byte[] payload = r.Next(2) == 0 ? [0x80, 0x80] : [.. Enumerable.Repeat((byte)0x01, r.Pick([10, 1 << 20, (4 << 20) + 1]))];
                notes.Add($"{path} packed #{number} of {payload.Length} bytes");
                fields.Add(new Field((ulong)number, LengthDelimited, payload));
                return Write(fields);
            }
        }
    }

    static byte[] PayloadFor(Random r, int wire) => wire switch
    {
        Varint => EncodeVarint(r.Next(2) == 0 ? (ulong)r.Next(1000) : ulong.MaxValue),
        Fixed64 => BitConverter.GetBytes(r.Next(2) == 0 ? double.NaN : r.NextDouble()),
        Fixed32 => BitConverter.GetBytes((float)r.NextDouble()),
        _ => r.Next(2) == 0 ? "x"u8.ToArray() : [0x08, 0x01, 0x12],
    };

    static bool IsVarint(byte[] b) => b.Length is > 0 and <= 10 && b[^1] < 0x80 && b[..^1].All(x => x >= 0x80);
}
