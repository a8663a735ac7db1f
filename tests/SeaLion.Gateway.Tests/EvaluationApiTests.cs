using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Grpc.Core;
using SeaLion.Contracts.V1;
using SeaLion.Model.Tests;
using SeaLion.Tokenization;

namespace SeaLion.Gateway.Tests;

/// <summary>
/// The evaluation harnesses' exact request shapes, replayed and parsed as they parse them, against the tiny model
/// (fp32); the numbers are checked against the naive reference forward pass, not against this server's own code.
/// lm-eval: lm_eval/models/openai_completions.py (LocalCompletionsAPI._create_payload, parse_logprobs,
/// parse_generations) and lm_eval/utils.py (RemoteTokenizer). SEA-HELM: src/serving/online/local_openai_serving.py
/// and src/inference_strategy/logprobs_inference_strategy.py.
/// </summary>
[Collection("server")]
public sealed class EvaluationApiTests(ServerFixture server)
{
    const string Model = "sea-lion-v2";
    static readonly BpeTokenizer Tok = BpeTokenizer.FromDirectory(TestModels.TokenizerDir);
    static NaiveLlama? _naive;
    NaiveLlama Naive => _naive ??= new NaiveLlama(server.ModelDir);

    HttpClient Http() => new() { BaseAddress = new Uri($"http://127.0.0.1:{server.HttpPort}") };

    internal static async Task<JsonNode> Post(HttpClient http, string path, object body)
    {
        var res = await http.PostAsync(path, new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"));
        string text = await res.Content.ReadAsStringAsync();
        Assert.True(res.StatusCode == HttpStatusCode.OK, $"{path}: {(int)res.StatusCode} {text}");
        return JsonNode.Parse(text)!;
    }

    /// <summary>The naive model's log-softmax at each position (row p predicts token p + 1).</summary>
    double[][] NaiveLogprobs(int[] ids) => Naive.Forward(ids).Select(row =>
    {
        double max = row.Max(), lse = max + Math.Log(row.Sum(x => Math.Exp(x - max)));
        return row.Select(x => x - lse).ToArray();
    }).ToArray();

    [Fact]
    public async Task Lm_eval_loglikelihood_requests_get_the_sum_and_greediness_of_the_naive_pass()
    {
        using var http = Http();
        // lm-eval encodes context and continuation with the server's tokenizer (remote backend, no special tokens).
        var pairs = new (string Context, string Continuation)[]
        {
            ("Ibu kota Indonesia adalah", " Jakarta"), ("Thủ đô của Việt Nam là", " Hà Nội"), ("The capital of Thailand is", " Bangkok"),
        };
        var contexts = new List<int[]>();
        var inputs = new List<int[]>();
        foreach (var (context, continuation) in pairs)
        {
            int[] whole = (await Post(http, "/tokenize", new { prompt = context + continuation, add_special_tokens = false }))["tokens"]!.AsArray().Select(x => (int)x!).ToArray();
            int[] ctx = (await Post(http, "/tokenize", new { prompt = context, add_special_tokens = false }))["tokens"]!.AsArray().Select(x => (int)x!).ToArray();
            contexts.Add(ctx);
            inputs.Add(whole);
        }
        // LocalCompletionsAPI._create_payload(generate=False), tokenized_requests: a batch of token-id lists.
        var body = await Post(http, "/v1/completions", new { model = Model, prompt = inputs, temperature = 0, max_tokens = 1, logprobs = 1, seed = 1234, echo = true });
        var choices = body["choices"]!.AsArray().OrderBy(c => (int)c!["index"]!).ToArray();
        Assert.Equal(pairs.Length, choices.Length);
        Assert.Equal(inputs.Sum(x => x.Length), (int)body["usage"]!["prompt_tokens"]!);   // each prompt of the list counted
        for (int i = 0; i < choices.Length; i++)
        {
            // parse_logprobs: token_logprobs[ctxlen:-1] (the context, then the one generated token, are dropped).
            int ctxlen = contexts[i].Length;
            var tokenLogprobs = choices[i]!["logprobs"]!["token_logprobs"]!.AsArray();
            var topLogprobs = choices[i]!["logprobs"]!["top_logprobs"]!.AsArray();
            Assert.Equal(inputs[i].Length + 1, tokenLogprobs.Count);
            Assert.Null(tokenLogprobs[0]);
            Assert.Null(topLogprobs[0]);
            var cont = tokenLogprobs.Skip(ctxlen).Take(tokenLogprobs.Count - 1 - ctxlen).Select(x => (double)x!).ToArray();
            var tops = topLogprobs.Skip(ctxlen).Take(tokenLogprobs.Count - 1 - ctxlen).Select(x => x!.AsObject().Select(kv => (double)kv.Value!).ToArray()).ToArray();
            double sum = cont.Sum();
            bool greedy = cont.Zip(tops).All(x => x.First == x.Second.Max());

            var reference = NaiveLogprobs(inputs[i]);
            double want = Enumerable.Range(ctxlen, inputs[i].Length - ctxlen).Sum(p => reference[p - 1][inputs[i][p]]);
            bool wantGreedy = Enumerable.Range(ctxlen, inputs[i].Length - ctxlen).All(p => reference[p - 1][inputs[i][p]] >= reference[p - 1].Max() - 1e-5);
            Assert.True(Math.Abs(sum - want) < 1e-3, $"pair {i}: sum {sum}, naive {want}");
            Assert.Equal(wantGreedy, greedy);
            // The echoed text is the prompt (decoded ids), then the one generated token's text.
            Assert.StartsWith(pairs[i].Context + pairs[i].Continuation, (string)choices[i]!["text"]!);
        }
    }

    [Fact]
    public async Task Echo_with_max_tokens_0_returns_only_the_prompt_with_its_logprobs()
    {
        using var http = Http();
        int[] ids = [128000, 9906, 11, 1917, 0, 578];
        var body = await Post(http, "/v1/completions", new { model = Model, prompt = ids, max_tokens = 0, echo = true, logprobs = 2 });
        var choice = body["choices"]![0]!;
        Assert.Equal(Tok.Decode(ids), (string)choice["text"]!);
        Assert.Equal("length", (string)choice["finish_reason"]!);
        var lps = choice["logprobs"]!["token_logprobs"]!.AsArray();
        Assert.Equal(ids.Length, lps.Count);
        var reference = NaiveLogprobs(ids);
        for (int p = 1; p < ids.Length; p++) Assert.True(Math.Abs((double)lps[p]! - reference[p - 1][ids[p]]) < 1e-4, $"position {p}");
        Assert.Equal(0, (int)body["usage"]!["completion_tokens"]!);
        Assert.Equal(ids.Length, (int)body["usage"]!["prompt_tokens"]!);
    }

    [Fact]
    public async Task Lm_eval_generation_requests_and_its_remote_tokenizer_probes_are_answered()
    {
        using var http = Http();
        // check_remote_tokenizer_support: GET /tokenizer_info must hold eos_token, POST /tokenize must give tokens.
        var info = JsonNode.Parse(await http.GetStringAsync("/tokenizer_info"))!;
        string eos = (string)info["eos_token"]!;
        Assert.Equal(Tok.EosToken, eos);
        Assert.Equal(Tok.ChatTemplateSource, (string?)info["chat_template"]);
        Assert.True(info.AsObject().ContainsKey("bos_token") && info.AsObject().ContainsKey("pad_token"));
        var probe = await Post(http, "/tokenize", new { prompt = "test", add_special_tokens = false });
        Assert.Equal(Tok.Encode("test"), probe["tokens"]!.AsArray().Select(x => (int)x!).ToArray());
        Assert.Equal(1, (int)probe["count"]!);
        Assert.Equal(8192, (int)probe["max_model_len"]!);
        // RemoteTokenizer.eos_token_id = encode(eos)[0]: the special token's string is its one id.
        Assert.Equal(Tok.EosTokenId, (int)(await Post(http, "/tokenize", new { prompt = eos, add_special_tokens = false }))["tokens"]![0]!);
        // decode: POST /detokenize {"tokens": [...]} -> {"prompt": ...}, special tokens kept.
        Assert.Equal("<|begin_of_text|>Halo dunia", (string)(await Post(http, "/detokenize", new { tokens = Tok.Encode("Halo dunia", addBos: true) }))["prompt"]!);
        var strs = await Post(http, "/tokenize", new { prompt = "Halo dunia", return_token_strs = true });
        // add_special_tokens defaults to true; this tokenizer's files add no BOS to plain text (no BOS post-processor).
        Assert.Equal(["H", "alo", "Ġdun", "ia"], strs["token_strs"]!.AsArray().Select(x => (string)x!).ToArray());

        // _create_payload(generate=True): prompt, model, max_tokens, temperature, stop (until + EOS), seed; parse_generations reads text.
        int[] prompt = Tok.Encode("Terjemahkan ke bahasa Inggris: selamat pagi\n", addBos: true);
        var gen = await Post(http, "/v1/completions", new { prompt = new[] { prompt }, model = Model, max_tokens = 12, temperature = 0, stop = new[] { "\n\n", eos }, seed = 1234 });
        var c = gen["choices"]![0]!;
        Assert.Equal(0, (int)c["index"]!);
        Assert.IsType<string>((string)c["text"]!);
        Assert.DoesNotContain("\n\n", (string)c["text"]!);
        // The same request as gRPC gives the same text (one engine, greedy).
        var req = new GenerateRequest { TokenIds = new TokenIds(), Sampling = new SamplingParams { Temperature = 0, MaxTokens = 12, Seed = 1234 } };
        req.TokenIds.Ids.AddRange(prompt);
        req.Sampling.Stop.Add("\n\n");
        req.Sampling.Stop.Add(eos);
        var grpc = new StringBuilder();
        await foreach (var r in server.Client.Generate(req).ResponseStream.ReadAllAsync()) grpc.Append(r.Text);
        Assert.Equal(grpc.ToString(), (string)c["text"]!);
        // /health, /ping and /version as vLLM answers them.
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.PostAsync("/ping", null)).StatusCode);
        Assert.False(string.IsNullOrEmpty((string?)JsonNode.Parse(await http.GetStringAsync("/version"))!["version"]));
    }

    [Fact]
    public async Task Sea_helm_logprob_requests_get_vllms_prompt_logprobs_equal_to_the_naive_pass()
    {
        using var http = Http();
        var conversation = new object[] { new { role = "user", content = "Apa ibu kota Indonesia? Jawab dengan A atau B. A: Jakarta B: Bandung" } };
        // Phase 1: generate up to the answer tag, with the tag kept (include_stop_str_in_output, from extra_body).
        var first = await Post(http, "/v1/chat/completions", new
        {
            model = Model, messages = conversation, seed = 1234, max_tokens = 24, stop = "Jawaban:", temperature = 0,
            include_stop_str_in_output = true, chat_template_kwargs = new { enable_thinking = false },
        });
        string response = (string)first["choices"]![0]!["message"]!["content"]!;
        int inputLen = (int)first["usage"]!["total_tokens"]!;
        // Phase 2: the conversation with the assistant's answer appended, max_tokens 1 and prompt_logprobs 1.
        var messages = new object[] { conversation[0], new { role = "assistant", content = response + " A" } };
        var second = await Post(http, "/v1/chat/completions", new
        {
            model = Model, messages, seed = 1234, max_tokens = 1, prompt_logprobs = 1, include_stop_str_in_output = true,
            chat_template_kwargs = new { enable_thinking = false },
        });
        var promptLogprobs = second["prompt_logprobs"]!.AsArray();
        // The prompt's ids as SEA-HELM's online client gets them: POST /tokenize with the messages.
        int[] ids = (await Post(http, "/tokenize", new { model = "", messages, add_special_tokens = false, add_generation_prompt = true }))["tokens"]!
            .AsArray().Select(x => (int)x!).ToArray();
        Assert.Equal(ids.Length, promptLogprobs.Count);
        Assert.Equal(ids.Length, (int)second["usage"]!["prompt_tokens"]!);
        Assert.Null(promptLogprobs[0]);
        var reference = NaiveLogprobs(ids);
        for (int p = 1; p < ids.Length; p++)
        {
            var entry = promptLogprobs[p]!.AsObject();
            Assert.InRange(entry.Count, 1, 2);   // the prompt token and the top 1 (one entry when they are the same)
            var own = entry[ids[p].ToString()]!;
            Assert.True(Math.Abs((double)own["logprob"]! - reference[p - 1][ids[p]]) < 1e-4, $"position {p}");
            Assert.True((int)own["rank"]! >= 1);
            Assert.Equal(Tok.Decode([ids[p]]), (string)own["decoded_token"]!);
            Assert.Contains(entry, kv => (int)kv.Value!["rank"]! == 1);
        }
        // SEA-HELM sums the logprobs from input_len on (phase 1's prompt + completion tokens).
        Assert.True(inputLen < ids.Length);
    }

    [Fact]
    public async Task Chat_template_options_render_as_the_llama_3_template_does()
    {
        using var http = Http();
        async Task<string> Rendered(object body) =>
            Tok.Decode((await Post(http, "/tokenize", body))["tokens"]!.AsArray().Select(x => (int)x!).ToArray());
        var messages = new object[] { new { role = "user", content = "Halo" }, new { role = "assistant", content = "Jawaban: B" } };
        Assert.Equal("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHalo<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nJawaban: B",
            await Rendered(new { messages, continue_final_message = true, add_generation_prompt = false }));
        // (The test tokenizer's template, Llama 3 base's, writes the assistant header whatever add_generation_prompt says.)
        Assert.Equal("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHalo<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nJawaban: B<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            await Rendered(new { messages, add_generation_prompt = false }));
        // chat_template_kwargs are template variables: the Llama 3 template writes bos_token first.
        Assert.StartsWith("[BOS]<|start_header_id|>", await Rendered(new { messages = new[] { messages[0] }, chat_template_kwargs = new { bos_token = "[BOS]" } }));
        Assert.EndsWith("<|start_header_id|>assistant<|end_header_id|>\n\n", await Rendered(new { messages = new[] { messages[0] } }));
        // continue_final_message through a chat completion: the reply continues the assistant's message.
        var body = await Post(http, "/v1/chat/completions", new { model = Model, messages, continue_final_message = true, add_generation_prompt = false, max_tokens = 3, temperature = 0, ignore_eos = true });
        Assert.Equal(ids(await Rendered(new { messages, continue_final_message = true, add_generation_prompt = false })).Length, (int)body["usage"]!["prompt_tokens"]!);
        static int[] ids(string s) => Tok.Encode(s, addBos: false);
    }

    [Fact]
    public async Task Grpc_and_the_sdk_shape_carry_prompt_logprobs_min_tokens_and_logit_bias()
    {
        int[] ids = [128000, 9906, 11, 1917, 0];
        var req = new GenerateRequest { TokenIds = new TokenIds(), Sampling = new SamplingParams { Temperature = 0, MaxTokens = 3, PromptLogprobs = 1, IgnoreEos = true } };
        req.TokenIds.Ids.AddRange(ids);
        req.Sampling.LogitBias.Add(4242, 100);
        var outs = new List<GenerateResponse>();
        await foreach (var r in server.Client.Generate(req).ResponseStream.ReadAllAsync()) outs.Add(r);
        Assert.Equal(ids.Length - 1, outs[0].PromptLogprobs.Count);
        Assert.All(outs.Skip(1), o => Assert.Empty(o.PromptLogprobs));
        var reference = NaiveLogprobs(ids);
        for (int p = 1; p < ids.Length; p++) Assert.True(Math.Abs(outs[0].PromptLogprobs[p - 1].Logprob - reference[p - 1][ids[p]]) < 1e-4);
        Assert.All(outs.SelectMany(o => o.TokenIds), t => Assert.Equal(4242, t));   // +100 on one token: greedy picks it

        var bad = new GenerateRequest { Text = "Halo", Sampling = new SamplingParams { MaxTokens = 2, MinTokens = 3 } };
        var e = await Assert.ThrowsAsync<RpcException>(async () => { await foreach (var _ in server.Client.Generate(bad).ResponseStream.ReadAllAsync()) { } });
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("min_tokens", e.Status.Detail);
    }
}

/// <summary>Structured outputs through both APIs on the tiny model (random weights: only the constraint makes output valid).</summary>
[Collection("server")]
public sealed class StructuredApiTests(ServerFixture server)
{
    const string Model = "sea-lion-v2";
    HttpClient Http() => new() { BaseAddress = new Uri($"http://127.0.0.1:{server.HttpPort}") };

    static Task<JsonNode> Post(HttpClient http, string path, object body) => EvaluationApiTests.Post(http, path, body);

    [Fact]
    public async Task Response_format_guided_fields_and_structured_outputs_constrain_the_output()
    {
        using var http = Http();
        var schema = JsonNode.Parse("""{"type":"object","properties":{"kota":{"type":"string","enum":["Jakarta","Hanoi","Bangkok"]},"penduduk":{"type":"integer","minimum":1,"maximum":40000000}},"required":["kota","penduduk"]}""")!;
        var chat = await Post(http, "/v1/chat/completions", new
        {
            model = Model, messages = new[] { new { role = "user", content = "Kota terbesar di Asia Tenggara? Jawab dalam JSON." } }, max_tokens = 60, temperature = 0.8, seed = 7, n = 3,
            response_format = new { type = "json_schema", json_schema = new { name = "kota", schema, strict = true } },
        });
        foreach (var c in chat["choices"]!.AsArray())
        {
            var o = JsonNode.Parse((string)c!["message"]!["content"]!)!.AsObject();
            Assert.Contains((string)o["kota"]!, new[] { "Jakarta", "Hanoi", "Bangkok" });
            Assert.InRange((long)o["penduduk"]!, 1, 40000000);
            Assert.Equal("stop", (string)c["finish_reason"]!);
        }
        var choice = await Post(http, "/v1/completions", new { model = Model, prompt = "Sentimen:", max_tokens = 10, guided_choice = new[] { "positif", "negatif" } });
        Assert.Contains((string)choice["choices"]![0]!["text"]!, new[] { "positif", "negatif" });
        var regex = await Post(http, "/v1/completions", new { model = Model, prompt = "Kode:", max_tokens = 12, temperature = 1, seed = 3, structured_outputs = new { regex = @"[A-Z]{3}-\d{2}" } });
        Assert.Matches(@"^[A-Z]{3}-\d{2}$", (string)regex["choices"]![0]!["text"]!);
        var obj = await Post(http, "/v1/chat/completions", new { model = Model, messages = new[] { new { role = "user", content = "JSON" } }, max_tokens = 40, response_format = new { type = "json_object" } });
        Assert.StartsWith("{", (string)obj["choices"]![0]!["message"]!["content"]!);

        // gRPC: the same kinds in SamplingParams' oneof.
        var req = new GenerateRequest { Text = "Jawab:", Sampling = new SamplingParams { MaxTokens = 10, Temperature = 0, Choice = new ChoiceList() } };
        req.Sampling.Choice.Choices.AddRange(["ya", "tidak"]);
        var text = new StringBuilder();
        await foreach (var r in server.Client.Generate(req).ResponseStream.ReadAllAsync()) text.Append(r.Text);
        Assert.Contains(text.ToString(), new[] { "ya", "tidak" });
    }

    [Theory]
    [InlineData("{\"guided_regex\":\"(ab\"}", "guided_regex", "missing ')'")]
    [InlineData("{\"guided_json\":{\"type\":\"object\",\"patternProperties\":{}}}", "guided_json", "the keyword \\\"patternProperties\\\" is not supported")]
    [InlineData("{\"guided_grammar\":\"root ::= x\\nx ::= \\\"a\\\" x\"}", "guided_grammar", "rule \\\"x\\\" is recursive")]
    [InlineData("{\"guided_choice\":[],\"x\":1}", "guided_choice", "guided_choice must be a non-empty array of strings")]
    [InlineData("{\"guided_regex\":\"a\",\"guided_choice\":[\"a\"]}", "guided_choice", "only one structured output may be given")]
    [InlineData("{\"structured_outputs\":{\"structural_tag\":\"x\"}}", "structured_outputs.structural_tag", "structured_outputs.structural_tag is not supported")]
    [InlineData("{\"guided_decoding_backend\":\"xgrammar\"}", "guided_decoding_backend", "guided_decoding_backend is not supported")]
    [InlineData("{\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\"}}}", "response_format", "schema must be a JSON schema object")]
    public async Task A_bad_constraint_is_a_400_naming_it_and_the_server_goes_on(string extra, string param, string mention)
    {
        using var http = Http();
        var body = JsonNode.Parse(extra)!.AsObject();
        body.Remove("x");
        body["model"] = Model;
        body["prompt"] = "Halo";
        body["max_tokens"] = 4;
        var res = await http.PostAsync("/v1/completions", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        string text = await res.Content.ReadAsStringAsync();
        Assert.True(res.StatusCode == HttpStatusCode.BadRequest, text);
        var error = JsonNode.Parse(text)!["error"]!;
        Assert.Contains(mention.Replace("\\\"", "\""), (string)error["message"]!);
        Assert.Equal(param, (string?)error["param"]);
        await Post(http, "/v1/completions", new { model = Model, prompt = "Halo", max_tokens = 2 });
    }
}
