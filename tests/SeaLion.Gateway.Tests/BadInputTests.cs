using System.Net;
using System.Text;
using Grpc.Core;
using SeaLion.Contracts.V1;

namespace SeaLion.Gateway.Tests;

/// <summary>
/// Whatever a client sends, both APIs answer 4xx (or a gRPC status) with a message naming the problem, never a 5xx
/// or a crash, and the next request is served normally. Runs on the simulated engine.
/// </summary>
[Collection("sim-server")]
public sealed class BadInputTests(SimulatedServerFixture server)
{
    const string Model = "sea-lion-v2";

    static string Chat(string extra) => $"{{\"model\":\"{Model}\",\"messages\":[{{\"role\":\"user\",\"content\":\"Halo\"}}],\"max_tokens\":3{extra}}}";
    static string Completion(string extra) => $"{{\"model\":\"{Model}\",\"prompt\":\"Halo\",\"max_tokens\":3{extra}}}";

    public static TheoryData<string, string, int, string> RestCases => new()
    {
        { "chat/completions", "{\"model\": ", 400, "not valid JSON" },
        { "chat/completions", "[1, 2, 3]", 400, "must be a JSON object" },
        { "chat/completions", "{\"model\":\"sea-lion-v2\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":NaN}", 400, "not valid JSON" },
        { "chat/completions", Chat(",\"temperature\":\"hot\""), 400, "temperature must be a number, got a string" },
        { "chat/completions", Chat(",\"temperature\":-0.5"), 400, "temperature must be in [0, 2], got -0.5" },
        { "chat/completions", Chat(",\"top_p\":0"), 400, "top_p must be in (0, 1], got 0" },
        { "chat/completions", Chat(",\"n\":100000"), 400, "n must be in [1, 16], got 100000" },
        { "chat/completions", Chat(",\"stop\":[" + string.Join(",", Enumerable.Repeat("\"x\"", 17)) + "]"), 400, "stop has 17 sequences; the limit is 16" },
        { "chat/completions", Chat(",\"stop\":[1]"), 400, "stop[0] must be a string" },
        { "chat/completions", Chat(",\"top_logprobs\":3"), 400, "top_logprobs needs logprobs: true" },
        { "chat/completions", Chat(",\"logprobs\":true,\"top_logprobs\":50"), 400, "top_logprobs must be in [0, 20], got 50" },
        { "chat/completions", Chat(",\"seed\":1.5"), 400, "seed must be an integer" },
        { "chat/completions", Chat(",\"tools\":[{\"type\":\"function\"}]"), 400, "tools is not supported" },
        { "chat/completions", Chat(",\"stream_options\":{\"include_usage\":true}"), 400, "stream_options is only allowed with stream: true" },
        { "chat/completions", "{\"model\":\"sea-lion-v2\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":-4}", 400, "max_tokens must be in [1," },
        { "chat/completions", "{\"model\":\"sea-lion-v2\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":9000}", 400, "exceeds the context length of 8192" },
        { "chat/completions", "{\"model\":\"sea-lion-v2\",\"messages\":[]}", 400, "messages is empty" },
        { "chat/completions", "{\"model\":\"sea-lion-v2\",\"messages\":\"Halo\"}", 400, "messages must be an array, got a string" },
        { "chat/completions", "{\"model\":\"sea-lion-v2\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}", 400, "messages[0].content[0] must be a text part" },
        { "chat/completions", "{\"model\":\"sea-lion-v2\",\"messages\":[{\"content\":\"x\"}]}", 400, "messages[0].role is required" },
        { "chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", 400, "model is required" },
        { "chat/completions", "{\"model\":\"llama-70b\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", 404, "the model 'llama-70b' does not exist" },
        { "completions", Completion(",\"logprobs\":99"), 400, "logprobs must be in [0, 20], got 99" },
        { "completions", Completion(",\"suffix\":\"x\""), 400, "suffix is not supported" },
        { "completions", Completion(",\"guided_decoding_backend\":\"xgrammar\""), 400, "guided_decoding_backend is not supported" },
        { "chat/completions", Chat(",\"guided_whitespace_pattern\":\" \""), 400, "guided_whitespace_pattern is not supported" },
        { "chat/completions", Chat(",\"some_new_field\":1"), 400, "some_new_field is not supported" },
        { "completions", Completion(",\"logit_bias\":{\"128256\":5}"), 400, "logit_bias token id 128256 is outside the vocabulary [0, 128256)" },
        { "completions", Completion(",\"logit_bias\":{\"abc\":5}"), 400, "logit_bias key 'abc' is not a token id" },
        { "chat/completions", Chat(",\"logit_bias\":{\"42\":100.5}"), 400, "logit_bias[42] must be in [-100, 100], got 100.5" },
        { "chat/completions", Chat(",\"min_tokens\":4"), 400, "min_tokens must be in [0, max_tokens = 3], got 4" },
        { "completions", Completion(",\"prompt_logprobs\":21"), 400, "prompt_logprobs must be in [0, 20], got 21" },
        { "completions", Completion(",\"prompt_logprobs\":1,\"stream\":true"), 400, "prompt_logprobs is not available with stream: true" },
        { "chat/completions", Chat(",\"prompt_logprobs\":2,\"stream\":true"), 400, "prompt_logprobs is not available with stream: true" },
        { "completions", "{\"model\":\"sea-lion-v2\",\"prompt\":\"Halo\",\"max_tokens\":0}", 400, "max_tokens must be in [1," },
        { "completions", Completion(",\"stop_token_ids\":[-1]"), 400, "stop_token_ids[0] must be a token id in [0, 128256), got -1" },
        { "chat/completions", Chat(",\"echo\":true"), 400, "echo: true is not supported on /v1/chat/completions" },
        { "chat/completions", Chat(",\"continue_final_message\":true"), 400, "continue_final_message and add_generation_prompt cannot both be true" },
        { "chat/completions", "{\"model\":\"sea-lion-v2\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\",\"content\":\" \"}],\"continue_final_message\":true,\"add_generation_prompt\":false}", 400, "continue_final_message: the final message" },
        { "chat/completions", Chat(",\"chat_template_kwargs\":[1]"), 400, "chat_template_kwargs must be an object" },
        { "chat/completions", Chat(",\"skip_special_tokens\":\"no\""), 400, "skip_special_tokens must be a boolean" },
        { "completions", "{\"model\":\"sea-lion-v2\",\"prompt\":[1, 999999999]}", 400, "outside the vocabulary" },
        { "completions", "{\"model\":\"sea-lion-v2\",\"prompt\":[]}", 400, "an empty array" },
        { "completions", "{\"model\":\"sea-lion-v2\",\"prompt\":{\"a\":1}}", 400, "prompt must be a string" },
        { "completions", "{\"model\":\"sea-lion-v2\",\"prompt\":\"\"}", 400, "prompt is empty" },
        { "completions", "{\"model\":\"sea-lion-v2\",\"prompt\":[\"a\",\"b\",\"c\",\"d\",\"e\"],\"n\":16,\"max_tokens\":1}", 400, "is 80 choices; the limit is 64" },
    };

    async Task ServesNext(HttpClient http)
    {
        var ok = await http.PostAsync("/v1/chat/completions", new StringContent(Chat(""), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        var g = new List<GenerateResponse>();
        await foreach (var r in server.Client.Generate(new GenerateRequest { Text = "Halo", Sampling = new SamplingParams { MaxTokens = 2 } }).ResponseStream.ReadAllAsync()) g.Add(r);
        Assert.Equal(2, g.Sum(r => r.TokenIds.Count));
    }

    HttpClient Http() => new() { BaseAddress = new Uri($"http://127.0.0.1:{server.HttpPort}") };

    [Theory, MemberData(nameof(RestCases))]
    public async Task Rest_refuses_bad_bodies_with_an_openai_error_naming_the_problem(string path, string body, int status, string mention)
    {
        using var http = Http();
        var res = await http.PostAsync("/v1/" + path, new StringContent(body, Encoding.UTF8, "application/json"));
        string text = await res.Content.ReadAsStringAsync();
        Assert.True((int)res.StatusCode == status, $"{(int)res.StatusCode}: {text}");
        using var doc = System.Text.Json.JsonDocument.Parse(text);
        var error = doc.RootElement.GetProperty("error");
        Assert.Contains(mention, error.GetProperty("message").GetString());
        Assert.True(error.TryGetProperty("type", out _) && error.TryGetProperty("param", out _) && error.TryGetProperty("code", out _));
        await ServesNext(http);
    }

    [Fact]
    public async Task Rest_refuses_invalid_utf8_and_an_oversized_body()
    {
        using var http = Http();
        var bad = new ByteArrayContent([.. Encoding.UTF8.GetBytes("{\"model\":\"sea-lion-v2\",\"prompt\":\""), 0xC3, 0x28, 0xFF, .. Encoding.UTF8.GetBytes("\"}")]);
        var r1 = await http.PostAsync("/v1/completions", bad);
        Assert.Equal(HttpStatusCode.BadRequest, r1.StatusCode);
        Assert.Contains("not valid JSON", await r1.Content.ReadAsStringAsync());

        // 9 MiB announced: refused before the body is read (over a raw socket: HttpClient would stop on the early answer).
        using (var tcp = new System.Net.Sockets.TcpClient("127.0.0.1", server.HttpPort))
        {
            var stream = tcp.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {9 << 20}\r\n\r\n{{\"model\":"));
            var reader = new StreamReader(stream, Encoding.UTF8);
            string head = await reader.ReadLineAsync() ?? "";
            Assert.StartsWith("HTTP/1.1 413", head);
            string rest = "";
            for (string? line; (line = await reader.ReadLineAsync()) is not null && !rest.Contains("limit is");) rest += line;
            Assert.Contains("the limit is 8388608", rest);
        }
        await ServesNext(http);
    }

    public static TheoryData<string, string> GrpcCases => new()
    {
        { "nan-temperature", "temperature" },
        { "infinite-top-p", "top_p" },
        { "negative-max-tokens", "max_tokens" },
        { "too-many-stops", "stop" },
        { "huge-logprobs", "logprobs" },
        { "bad-penalty", "presence_penalty" },
        { "token-out-of-vocab", "outside the vocabulary" },
        { "over-context", "8192" },
    };

    [Theory, MemberData(nameof(GrpcCases))]
    public async Task Grpc_refuses_bad_parameters_with_invalid_argument_naming_the_field(string kind, string mention)
    {
        var req = new GenerateRequest { Text = "Halo", Sampling = new SamplingParams { MaxTokens = 3 } };
        switch (kind)
        {
            case "nan-temperature": req.Sampling.Temperature = double.NaN; break;
            case "infinite-top-p": req.Sampling.TopP = double.PositiveInfinity; break;
            case "negative-max-tokens": req.Sampling.MaxTokens = -1; break;
            case "too-many-stops": req.Sampling.Stop.AddRange(Enumerable.Range(0, 17).Select(i => $"s{i}")); break;
            case "huge-logprobs": req.Sampling.Logprobs = 1000; break;
            case "bad-penalty": req.Sampling.PresencePenalty = 7; break;
            case "token-out-of-vocab": req.TokenIds = new TokenIds { Ids = { 1, int.MaxValue } }; break;
            case "over-context": req.Sampling.MaxTokens = 8191; break;
        }
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var _ in server.Client.Generate(req).ResponseStream.ReadAllAsync()) { }
        });
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains(mention, e.Status.Detail);
        using var http = Http();
        await ServesNext(http);
    }
}
