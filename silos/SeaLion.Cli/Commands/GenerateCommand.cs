using System.Text.Json;
using System.Text.Json.Nodes;
using SeaLion.Model.Generation;
using SeaLion.Model.Llama;
using SeaLion.Model.Sampling;
using SeaLion.Templates;
using SeaLion.Tokenization;

namespace SeaLion.Cli.Commands;

/// <summary>
/// `generate`: one prompt through the model. --prompt-ids are used as given; --prompt text gets BOS only as the
/// tokenizer files say (tokenizer_config add_bos_token, or a BOS in the post-processor template); --chat wraps
/// the prompt as one user message in the model's chat template. Sampling defaults come from the model's
/// generation_config.json (greedy when it says do_sample false or gives nothing), as transformers does.
/// </summary>
internal static class GenerateCommand
{
    public static int Run(CliArgs a)
    {
        var (dir, options) = ModelArgs.Read(a);
        string? prompt = a.String("prompt");
        string? promptIds = a.String("prompt-ids");
        bool chat = a.Flag("chat"), json = a.Flag("json");
        var defaults = GenerationDefaults.Read(dir);
        var p = new SamplingParams
        {
            MaxTokens = a.Int("max-tokens", 32, 1, 1 << 20),
            Temperature = a.Double("temperature") ?? defaults.Temperature,
            TopP = a.Double("top-p") ?? defaults.TopP,
            TopK = a.Int("top-k", defaults.TopK, -1),
            MinP = a.Double("min-p") ?? 0,
            RepetitionPenalty = a.Double("repetition-penalty") ?? defaults.RepetitionPenalty,
            PresencePenalty = a.Double("presence-penalty") ?? 0,
            FrequencyPenalty = a.Double("frequency-penalty") ?? 0,
            Seed = a.Long("seed"),
            Stop = a.Strings("stop"),
            IgnoreEos = a.Flag("ignore-eos"),
            Logprobs = a.Has("logprobs") ? a.Int("logprobs", 0, 0, SamplingParams.MaxTopLogprobs) : null,
        };
        a.EnsureAllUsed();
        if ((prompt is null) == (promptIds is null)) throw new UsageException("'generate': give exactly one of --prompt TEXT or --prompt-ids 1,2,3");
        if (chat && prompt is null) throw new UsageException("'generate': --chat needs --prompt TEXT");

        var tokenizer = BpeTokenizer.FromDirectory(dir);
        int[] ids;
        if (promptIds is not null) ids = ParseIds(promptIds);
        else if (chat)
        {
            var template = ChatTemplate.FromTokenizerConfig(Path.Combine(dir, "tokenizer_config.json"));
            ids = tokenizer.Encode(template.Render([new ChatMessage("user", prompt!)], addGenerationPrompt: true), addBos: false);
        }
        else ids = tokenizer.Encode(prompt!, addBos: tokenizer.AddBosByDefault);

        using var model = LlamaModel.Load(dir, options);
        var tokens = new List<int>();
        var text = new System.Text.StringBuilder();
        var logprobs = new JsonArray();
        string finish = "length";
        foreach (var step in SequenceGenerator.Generate(model, tokenizer, ids, p))
        {
            tokens.Add(step.TokenId);
            text.Append(step.TextDelta);
            if (!json) { Console.Out.Write(step.TextDelta); Console.Out.Flush(); }
            if (step.Sample.Logprob is { } lp)
                logprobs.Add(new JsonObject
                {
                    ["token_id"] = step.TokenId, ["logprob"] = lp,
                    ["top_logprobs"] = new JsonArray(step.Sample.TopLogprobs!.Select(t => (JsonNode)new JsonObject { ["token_id"] = t.TokenId, ["logprob"] = t.Logprob }).ToArray()),
                });
            if (step.FinishReason is not null) finish = step.FinishReason;
        }
        if (json)
        {
            var o = new JsonObject
            {
                ["prompt_token_ids"] = new JsonArray(ids.Select(i => (JsonNode)i).ToArray()),
                ["token_ids"] = new JsonArray(tokens.Select(i => (JsonNode)i).ToArray()),
                ["text"] = text.ToString(),
                ["finish_reason"] = finish,
                ["usage"] = new JsonObject { ["prompt_tokens"] = ids.Length, ["completion_tokens"] = tokens.Count },
            };
            if (p.Logprobs is not null) o["logprobs"] = logprobs;
            Console.Out.WriteLine(o.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
        }
        else Console.Out.WriteLine();
        return 0;
    }

    static int[] ParseIds(string s)
    {
        var parts = s.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw new UsageException("--prompt-ids: no token ids given");
        return parts.Select(x => int.TryParse(x, out int v) ? v : throw new UsageException($"--prompt-ids: '{x}' is not an integer token id")).ToArray();
    }
}

/// <summary>Sampling defaults from generation_config.json, the way transformers' generate reads them.</summary>
internal sealed record GenerationDefaults(double Temperature, double TopP, int TopK, double RepetitionPenalty)
{
    public static GenerationDefaults Read(string dir)
    {
        var greedy = new GenerationDefaults(0, 1, 0, 1);
        string path = Path.Combine(dir, "generation_config.json");
        if (!File.Exists(path)) return greedy;
        JsonNode? n;
        try { n = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON ({e.Message})"); }
        if (n?["do_sample"]?.GetValue<bool>() != true) return greedy with { RepetitionPenalty = Num(n, "repetition_penalty") ?? 1 };
        return new GenerationDefaults(Num(n, "temperature") ?? 1, Num(n, "top_p") ?? 1, (int)(Num(n, "top_k") ?? 50), Num(n, "repetition_penalty") ?? 1);
    }

    static double? Num(JsonNode? n, string name) => n?[name] is JsonValue v && v.TryGetValue(out double d) ? d : null;
}
