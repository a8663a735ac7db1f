using System.Net;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Grpc.Core;
using SeaLion.Contracts.V1;

namespace SeaLion.Gateway.Tests.Fuzzing;

/// <summary>
/// One test for each defect the fuzzers found (docs/hardening.md lists them): before its fix each of these got a
/// 500, an UNKNOWN or INTERNAL status, or ended the server process (a stack overflow); now each is the client's
/// error, naming what is wrong, and the server serves the next request as before.
/// </summary>
[Collection("sim-server")]
public sealed class FuzzFindingsTests(SimulatedServerFixture server)
{
    const string Model = "sea-lion-v2";
    static string Chat(string extra) => $$"""{"model":"{{Model}}","messages":[{"role":"user","content":"Halo"}],"max_tokens":3{{extra}}}""";
    static string Schema(string schema) => Chat(""","response_format":{"type":"json_schema","json_schema":{"name":"x","schema":""" + schema + "}}");
    /// <summary>root uses r0, r0 uses r1, ...: 5,400 rules with three-letter names fit under the 64 KiB limit (JSON-escaped newlines here).</summary>
    static string RuleChain(int rules)
    {
        const string a = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        static string Name(int i) => $"{a[i / 2704 % 52]}{a[i / 52 % 52]}{a[i % 52]}";
        return $"root ::= {Name(0)}\\n" + string.Concat(Enumerable.Range(0, rules).Select(i => $"{Name(i)} ::= {(i + 1 < rules ? Name(i + 1) : "\\\"x\\\"")}\\n"));
    }

    static string Nested(string open, string middle, string close, int n) => string.Concat(Enumerable.Repeat(open, n)) + middle + string.Concat(Enumerable.Repeat(close, n));

    /// <summary>Kind -> (body, what the error must say, the param it must name). Built here: some bodies are 60 KB.</summary>
    static (string Body, string Mention, string? Param) RestCase(string kind) => kind switch
    {
        "unpaired-surrogate-value" => (Chat("").Replace("Halo", "Halo \\ud800"), "the request body is not valid JSON: the string under \"content\" \"Halo \\ud800\" at byte 60 holds an unpaired UTF-16 surrogate escape", null),
        "reversed-surrogates-key" => (Chat(",\"\\udc00\\ud800\":1"), "the property name \"\\udc00\\ud800\"", null),
        "schema-required-a-string" => (Schema("""{"type":"object","properties":{"a":{"type":"integer"}},"required":"a"}"""), "required must be an array, got string", "response_format"),
        "schema-type-a-number" => (Schema("""{"type":1}"""), "type must be a string or an array of strings, got number", "response_format"),
        "schema-format-a-number" => (Schema("""{"type":"string","format":7}"""), "format must be a string, got number", "response_format"),
        "schema-ref-doubling" => (Schema("{\"$ref\":\"#/$defs/d0\",\"$defs\":{" + string.Join(",", Enumerable.Range(0, 40).Select(i => $"\"d{i}\":" + (i < 39
            ? $"{{\"type\":\"array\",\"prefixItems\":[{{\"$ref\":\"#/$defs/d{i + 1}\"}},{{\"$ref\":\"#/$defs/d{i + 1}\"}}]}}" : "{\"type\":\"null\"}"))) + "}}"),
            "the schema expands to more than 20000 subschemas", "response_format"),
        "regex-over-the-size-limit" => (Chat($",\"guided_regex\":\"{string.Join("|", Enumerable.Range(0, 200_000).Select(i => $"w{i}"))}\""), "guided_regex has 1488889 characters; the limit is 65536", "guided_regex"),
        "regex-nested-groups" => (Chat($",\"structured_outputs\":{{\"regex\":\"{Nested("(", "a", ")", 20_000)}\"}}"), "groups nested more than 200 deep", "structured_outputs.regex"),
        "regex-stacked-quantifiers" => (Chat($",\"guided_regex\":\"a{new string('*', 30_000)}\""), "a quantifier cannot follow another", "guided_regex"),
        "grammar-stacked-quantifiers" => (Chat($",\"guided_grammar\":\"root ::= \\\"a\\\"{new string('*', 30_000)}\""), "nested more than 2000 levels deep", "guided_grammar"),
        "grammar-nested-groups" => (Chat($",\"guided_grammar\":\"root ::= {Nested("(", "\\\"a\\\"", ")", 30_000)}\""), "groups nested more than 200 deep", "guided_grammar"),
        "grammar-rule-chain" => (Chat(",\"guided_grammar\":\"" + RuleChain(5400) + "\""), "more than 200 nested rule references", "guided_grammar"),
        "grammar-escape-past-unicode" => (Chat(",\"guided_grammar\":\"root ::= \\\"\\\\U7FFFFFFF\\\"\""), "is past U+10FFFF", "guided_grammar"),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static TheoryData<string> RestKinds => new()
    {
        "unpaired-surrogate-value", "reversed-surrogates-key", "schema-required-a-string", "schema-type-a-number", "schema-format-a-number", "schema-ref-doubling",
        "regex-over-the-size-limit", "regex-nested-groups", "regex-stacked-quantifiers", "grammar-stacked-quantifiers", "grammar-nested-groups",
        "grammar-rule-chain", "grammar-escape-past-unicode",
    };

    [Theory, MemberData(nameof(RestKinds))]
    public async Task Rest_bodies_that_once_failed_the_server_are_400s_naming_the_problem(string kind)
    {
        var (body, mention, param) = RestCase(kind);
        var driver = new FuzzDriver(server, FuzzSettings.FromEnvironment());
        using var http = driver.Http();
        var before = await driver.Probe(http);
        using var res = await http.PostAsync("/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));
        string text = await res.Content.ReadAsStringAsync();
        Assert.True(res.StatusCode == HttpStatusCode.BadRequest, $"{(int)res.StatusCode}: {text}");
        using var doc = JsonDocument.Parse(text);
        var error = doc.RootElement.GetProperty("error");
        Assert.Contains(mention, error.GetProperty("message").GetString());
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Equal(before, await driver.Probe(http));
    }

    [Fact]
    public async Task Rest_a_413_for_an_announced_oversize_body_says_the_connection_closes()
    {
        // The fuzzer's next request after a 9 MiB body failed to send: the 413 came without "Connection: close", the
        // client pooled the connection, and Kestrel closed it (the body was never read).
        using var tcp = new System.Net.Sockets.TcpClient("127.0.0.1", server.HttpPort);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {9 << 20}\r\n\r\n{{\"model\":"));
        var reader = new StreamReader(stream, Encoding.ASCII);
        Assert.StartsWith("HTTP/1.1 413", await reader.ReadLineAsync());
        var headers = new List<string>();
        for (string? line; (line = await reader.ReadLineAsync()) is { Length: > 0 };) headers.Add(line);
        Assert.Contains("Connection: close", headers);
    }

    /// <summary>Bytes that are not a GenerateRequest (or a TokenizeRequest), each of a kind Google.Protobuf refuses.</summary>
    static byte[] Malformed(string kind)
    {
        byte[] valid = new GenerateRequest { Text = "Halo dunia", Sampling = new SamplingParams { MaxTokens = 3 } }.ToByteArray();
        return kind switch
        {
            "truncated" => valid[..(valid.Length - 3)],
            "invalid-utf8-text" => [0x12, 0x04, 0x48, 0xC3, 0x28, 0x61],          // field 2 (text): "H", C3 28, "a"
            "overlong-utf8-text" => [0x12, 0x03, 0xE0, 0x80, 0xAF],              // "/" in three bytes
            "tag-zero" => [0x00, 0x01],
            "length-past-end" => [0x12, 0x05, 0x41],
            "varint-of-11-bytes" => [0x28, .. Enumerable.Repeat((byte)0xFF, 10), 0x01],
            "group-never-ended" => [.. valid, 0x3B],
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
    }

    public static TheoryData<string, string> MalformedKinds => new()
    {
        { "Generate", "truncated" }, { "Generate", "invalid-utf8-text" }, { "Generate", "overlong-utf8-text" }, { "Generate", "tag-zero" },
        { "Generate", "length-past-end" }, { "Generate", "varint-of-11-bytes" }, { "Generate", "group-never-ended" },
        { "Tokenize", "invalid-utf8-text" }, { "Tokenize", "truncated" },
    };

    [Theory, MemberData(nameof(MalformedKinds))]
    public async Task Grpc_bytes_that_are_not_a_request_message_are_invalid_argument_not_unknown(string method, string kind)
    {
        var driver = new FuzzDriver(server, FuzzSettings.FromEnvironment());
        using var http = driver.Http();
        var before = await driver.Probe(http);
        var invoker = server.Channel.CreateCallInvoker();
        var raw = FuzzDriver.RawMethod(method);
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            if (raw.Type == MethodType.ServerStreaming)
                await foreach (var _ in invoker.AsyncServerStreamingCall(raw, null, new CallOptions(), Malformed(kind)).ResponseStream.ReadAllAsync()) { }
            else await invoker.AsyncUnaryCall(raw, null, new CallOptions(), Malformed(kind));
        });
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.StartsWith($"the request is not a valid sealion.v1.{method}Request: ", e.Status.Detail);
        Assert.Equal(before, await driver.Probe(http));
    }

    [Theory]
    [InlineData("{\"type\":\"\\ud800\"}", "unpaired UTF-16 surrogate")]
    [InlineData("{\"type\":\"object\",\"properties\":{\"a\":{}},\"required\":[1]}", "required must list strings, got number")]
    public async Task Grpc_json_schemas_that_once_failed_the_server_are_invalid_argument(string schema, string mention)
    {
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var _ in server.Client.Generate(new GenerateRequest { Text = "Halo", Sampling = new SamplingParams { MaxTokens = 3, JsonSchema = schema } }).ResponseStream.ReadAllAsync()) { }
        });
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains(mention, e.Status.Detail);
    }

    [Fact]
    public async Task Grpc_errors_echoing_a_huge_value_are_clipped_and_the_connection_survives()
    {
        // grpc-message is an HTTP/2 header: a detail of 1 MB passed the client's 64 KiB header limit, which failed the
        // whole connection: the call got INTERNAL (HPackDecodingException), and so did every other call on the channel.
        var running = Task.Run(async () =>
        {
            var ids = new List<int>();
            await foreach (var r in server.Client.Generate(new GenerateRequest { Text = "Halo", Sampling = new SamplingParams { MaxTokens = 300, IgnoreEos = true } }).ResponseStream.ReadAllAsync())
                ids.AddRange(r.TokenIds);
            return ids.Count;
        });
        var model = await Assert.ThrowsAsync<RpcException>(async () => await server.Client.TokenizeAsync(new TokenizeRequest { Model = new string('m', 1 << 20), Text = "Halo" }));
        Assert.Equal(StatusCode.NotFound, model.StatusCode);
        Assert.StartsWith("model 'mmmm", model.Status.Detail);
        Assert.True(model.Status.Detail.Length < 200, model.Status.Detail);

        // An unknown JSON schema keyword is echoed; 30,000 Thai letters are 270 KB once percent-encoded.
        string keyword = string.Concat(Enumerable.Repeat("สวัสดี", 5000));
        var schema = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var _ in server.Client.Generate(new GenerateRequest { Text = "Halo", Sampling = new SamplingParams { MaxTokens = 3, JsonSchema = $"{{\"{keyword}\":1}}" } }).ResponseStream.ReadAllAsync()) { }
        });
        Assert.Equal(StatusCode.InvalidArgument, schema.StatusCode);
        Assert.Contains("json schema at #: the keyword \"สวัสดีสวัสดี", schema.Status.Detail);
        Assert.EndsWith(" characters)", schema.Status.Detail);
        Assert.True(schema.Status.Detail.Length <= InferenceService.MaxDetailChars + 40, $"{schema.Status.Detail.Length} characters");
        Assert.Equal(300, await running);
    }
}
