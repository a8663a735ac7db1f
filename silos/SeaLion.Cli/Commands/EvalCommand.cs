using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SeaLion.Cli.Commands;

/// <summary>
/// `eval`: runs multiple-choice (loglikelihood) and generation tasks from a JSONL file against a running server,
/// through the public OpenAI-compatible API only, the way lm-evaluation-harness's local-completions model does:
/// each choice's continuation is scored by the sum of its tokens' logprobs from /v1/completions with echo,
/// logprobs 1 and max_tokens 1 over token-id prompts (context and continuation split with the server's /tokenize,
/// as lm-eval's remote tokenizer does), and generation tasks are greedy chat completions scored by exact or
/// contained match. Prints accuracy per task and language (docs/cli.md has the file format).
/// </summary>
internal static class EvalCommand
{
    public const string BuiltIn = "sea-mini";

    internal sealed record Item(int Line, string Task, string Lang, string Type, string? Context, string[] Choices, int Gold,
        string? Prompt, string[] Answers, string Match, int MaxTokens, bool Chat, string[] Stop);

    /// <summary>One item's result: correct by the task's metric (and by length-normalized loglikelihood for multiple choice).</summary>
    internal sealed record Outcome(Item Item, bool Correct, bool? CorrectNorm, string Prediction, double[]? Scores);

    internal sealed record TaskScore(string Task, string Lang, string Type, int N, double Acc, double? AccNorm);

    public static int Run(CliArgs a)
    {
        string url = (a.String("url") ?? "http://127.0.0.1:8080").TrimEnd('/');
        string? tasks = a.String("tasks");
        string? model = a.String("model");
        // As lm-eval does for OpenAI-compatible servers: the key from OPENAI_API_KEY unless given.
        string? key = a.String("api-key") ?? Environment.GetEnvironmentVariable("SEALION_API_KEY") ?? Environment.GetEnvironmentVariable("OPENAI_API_KEY");
        int concurrency = a.Int("concurrency", 8, 1, 256);
        int limit = a.Int("limit", int.MaxValue, 1);
        bool json = a.Flag("json");
        a.EnsureAllUsed();
        var (source, text) = tasks is null ? ($"built-in {BuiltIn}", BuiltInTasks()) : (tasks, File.ReadAllText(tasks));
        var items = Parse(text, source).Take(limit).ToList();
        using var http = new HttpClient { BaseAddress = new Uri(url + "/"), Timeout = TimeSpan.FromMinutes(10) };
        if (key is not null) http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        try
        {
            model ??= FirstModel(http).GetAwaiter().GetResult();
            var outcomes = Evaluate(http, model, items, concurrency).GetAwaiter().GetResult();
            var scores = Score(outcomes);
            if (json) Console.Out.WriteLine(ToJson(url, model, source, scores, outcomes));
            else Print(url, model, source, scores);
            return 0;
        }
        catch (HttpRequestException e)
        {
            Console.Error.WriteLine($"sealion: eval: {url}: {e.Message}");
            return 1;
        }
    }

    static string BuiltInTasks()
    {
        using var s = Assembly.GetExecutingAssembly().GetManifestResourceStream($"SeaLion.Cli.Eval.{BuiltIn}.jsonl")
            ?? throw new InvalidOperationException("the built-in eval tasks are missing from the assembly");
        return new StreamReader(s).ReadToEnd();
    }

    /// <summary>Reads the JSONL task file; a bad line fails with its line number and the field.</summary>
    internal static List<Item> Parse(string text, string source)
    {
        var items = new List<Item>();
        int line = 0;
        foreach (var raw in text.Split('\n'))
        {
            line++;
            if (raw.Trim().Length == 0 || raw.TrimStart().StartsWith("//", StringComparison.Ordinal)) continue;
            string at = $"{source}:{line}";
            JsonObject o;
            try { o = JsonNode.Parse(raw) as JsonObject ?? throw new InvalidDataException($"{at}: each line must be a JSON object"); }
            catch (JsonException e) { throw new InvalidDataException($"{at}: not valid JSON: {e.Message}"); }
            string Str(string name) => o[name] is JsonValue v && v.TryGetValue(out string? s) && s.Length > 0 ? s : throw new InvalidDataException($"{at}: \"{name}\" must be a non-empty string");
            string[] List(string name) => o[name] is JsonArray arr && arr.Count > 0 && arr.All(x => x is JsonValue v && v.TryGetValue(out string? _))
                ? arr.Select(x => x!.GetValue<string>()).ToArray() : throw new InvalidDataException($"{at}: \"{name}\" must be a non-empty array of strings");
            string type = Str("type");
            if (type == "multiple_choice")
            {
                var choices = List("choices");
                int gold = o["gold"] is JsonValue g && g.TryGetValue(out int gi) && gi >= 0 && gi < choices.Length ? gi
                    : throw new InvalidDataException($"{at}: \"gold\" must be the index of the right choice, 0-{choices.Length - 1}");
                items.Add(new Item(line, Str("task"), Str("lang"), type, Str("context"), choices, gold, null, [], "", 1, false, []));
            }
            else if (type == "generate")
            {
                string match = o["match"] is null ? "exact" : Str("match");
                if (match is not ("exact" or "contains")) throw new InvalidDataException($"{at}: \"match\" must be \"exact\" or \"contains\", got \"{match}\"");
                int max = o["max_tokens"] is null ? 32 : o["max_tokens"] is JsonValue m && m.TryGetValue(out int mi) && mi is > 0 and <= 4096 ? mi
                    : throw new InvalidDataException($"{at}: \"max_tokens\" must be an integer in [1, 4096]");
                bool chat = o["chat"] is null || (o["chat"] is JsonValue c && c.TryGetValue(out bool cb) ? cb : throw new InvalidDataException($"{at}: \"chat\" must be a boolean"));
                items.Add(new Item(line, Str("task"), Str("lang"), type, null, [], 0, Str("prompt"), List("answers"), match, max, chat, o["stop"] is null ? [] : List("stop")));
            }
            else throw new InvalidDataException($"{at}: \"type\" must be \"multiple_choice\" or \"generate\", got \"{type}\"");
        }
        if (items.Count == 0) throw new InvalidDataException($"{source}: no tasks");
        return items;
    }

    static async Task<string> FirstModel(HttpClient http)
    {
        var models = await GetJson(http, "v1/models");
        return (string?)models["data"]?[0]?["id"] ?? throw new InvalidDataException("GET /v1/models listed no model");
    }

    internal static async Task<List<Outcome>> Evaluate(HttpClient http, string model, IReadOnlyList<Item> items, int concurrency)
    {
        // Every context starts with BOS, as the model saw documents in training (lm-eval's HF backend adds it for Llama 3).
        var info = await GetJson(http, "tokenizer_info");
        int[] bos = info["bos_token"] is JsonValue b && b.TryGetValue(out string? bosText) ? await Tokenize(http, bosText) : [];
        using var gate = new SemaphoreSlim(concurrency);
        var tasks = items.Select(async item =>
        {
            await gate.WaitAsync();
            try { return item.Type == "multiple_choice" ? await MultipleChoice(http, model, item, bos) : await Generate(http, model, item); }
            finally { gate.Release(); }
        });
        return [.. await Task.WhenAll(tasks)];
    }

    static async Task<int[]> Tokenize(HttpClient http, string text) =>
        (await PostJson(http, "tokenize", new { prompt = text, add_special_tokens = false }))["tokens"]!.AsArray().Select(x => (int)x!).ToArray();

    /// <summary>lm-eval's loglikelihood: (context, continuation) encoded as its _encode_pair does, scored with echo.</summary>
    static async Task<Outcome> MultipleChoice(HttpClient http, string model, Item item, int[] bos)
    {
        var prompts = new List<int[]>();
        var ctxlens = new List<int>();
        foreach (var choice in item.Choices)
        {
            // Trailing spaces of the context belong to the continuation; continuation ids are the whole's after the context's.
            string context = item.Context!, continuation = choice;
            int spaces = context.Length - context.TrimEnd().Length;
            if (spaces > 0) (context, continuation) = (context[..^spaces], context[^spaces..] + continuation);
            int[] whole = await Tokenize(http, context + continuation), ctx = await Tokenize(http, context);
            prompts.Add([.. bos, .. ctx, .. whole[ctx.Length..]]);
            ctxlens.Add(bos.Length + ctx.Length);
        }
        var body = await PostJson(http, "v1/completions", new { model, prompt = prompts, temperature = 0, max_tokens = 1, logprobs = 1, seed = 1234, echo = true });
        var choices = body["choices"]!.AsArray().OrderBy(c => (int)c!["index"]!).ToArray();
        if (choices.Length != prompts.Count) throw new InvalidDataException($"line {item.Line}: {prompts.Count} prompts got {choices.Length} choices");
        var scores = new double[prompts.Count];
        for (int i = 0; i < scores.Length; i++)
        {
            // parse_logprobs: token_logprobs[ctxlen:-1], the continuation without the one generated token.
            var lps = choices[i]!["logprobs"]!["token_logprobs"]!.AsArray();
            scores[i] = lps.Skip(ctxlens[i]).Take(lps.Count - 1 - ctxlens[i]).Sum(x => (double)x!);
        }
        int best = ArgMax(scores), bestNorm = ArgMax(scores.Select((s, i) => s / Math.Max(1, item.Choices[i].Length)).ToArray());
        return new Outcome(item, best == item.Gold, bestNorm == item.Gold, item.Choices[best], scores);
    }

    static async Task<Outcome> Generate(HttpClient http, string model, Item item)
    {
        string text;
        if (item.Chat)
        {
            var body = await PostJson(http, "v1/chat/completions", new
            {
                model, messages = new[] { new { role = "user", content = item.Prompt } }, max_tokens = item.MaxTokens, temperature = 0, seed = 1234,
                stop = item.Stop.Length > 0 ? item.Stop : null,
            });
            text = (string?)body["choices"]![0]!["message"]!["content"] ?? "";
        }
        else
        {
            var body = await PostJson(http, "v1/completions", new { model, prompt = item.Prompt, max_tokens = item.MaxTokens, temperature = 0, seed = 1234, stop = item.Stop.Length > 0 ? item.Stop : null });
            text = (string?)body["choices"]![0]!["text"] ?? "";
        }
        string got = Normalize(text);
        bool correct = item.Answers.Select(Normalize).Any(ans => item.Match == "exact" ? got == ans : got.Contains(ans, StringComparison.Ordinal));
        return new Outcome(item, correct, null, text, null);
    }

    /// <summary>Lower case, outer whitespace and trailing sentence punctuation removed.</summary>
    internal static string Normalize(string s) => s.Trim().TrimEnd('.', '!', '。', '।').Trim().ToLowerInvariant();

    static int ArgMax(double[] xs)
    {
        int best = 0;
        for (int i = 1; i < xs.Length; i++) if (xs[i] > xs[best]) best = i;
        return best;
    }

    internal static List<TaskScore> Score(IReadOnlyList<Outcome> outcomes) =>
        outcomes.GroupBy(o => (o.Item.Task, o.Item.Lang, o.Item.Type)).OrderBy(g => g.Key.Task, StringComparer.Ordinal).ThenBy(g => g.Key.Lang, StringComparer.Ordinal)
            .Select(g => new TaskScore(g.Key.Task, g.Key.Lang, g.Key.Type, g.Count(), g.Average(o => o.Correct ? 1.0 : 0.0),
                g.Key.Type == "multiple_choice" ? g.Average(o => o.CorrectNorm == true ? 1.0 : 0.0) : null)).ToList();

    static void Print(string url, string model, string source, List<TaskScore> scores)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"sealion eval: {source} against {url} (model {model})");
        sb.AppendLine($"{"task",-18} {"lang",-5} {"type",-16} {"n",4} {"acc",7} {"acc_norm",9}");
        foreach (var s in scores)
            sb.AppendLine($"{s.Task,-18} {s.Lang,-5} {s.Type,-16} {s.N,4} {s.Acc,7:F3} {(s.AccNorm is { } n ? n.ToString("F3", CultureInfo.InvariantCulture) : "-"),9}");
        foreach (var t in scores.GroupBy(s => s.Task))
        {
            int n = t.Sum(s => s.N);
            sb.AppendLine($"{t.Key,-18} {"all",-5} {t.First().Type,-16} {n,4} {t.Sum(s => s.Acc * s.N) / n,7:F3} {(t.First().AccNorm is null ? "-" : (t.Sum(s => s.AccNorm!.Value * s.N) / n).ToString("F3", CultureInfo.InvariantCulture)),9}");
        }
        Console.Out.Write(sb.ToString());
    }

    static string ToJson(string url, string model, string source, List<TaskScore> scores, List<Outcome> outcomes) => JsonSerializer.Serialize(new
    {
        eval = source, url, model,
        tasks = scores.Select(s => new { task = s.Task, lang = s.Lang, type = s.Type, n = s.N, acc = s.Acc, acc_norm = s.AccNorm }),
        items = outcomes.Select(o => new { line = o.Item.Line, task = o.Item.Task, lang = o.Item.Lang, correct = o.Correct, correct_norm = o.CorrectNorm, prediction = o.Prediction, scores = o.Scores }),
    }, new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });

    static async Task<JsonNode> GetJson(HttpClient http, string path)
    {
        using var res = await http.GetAsync(path);
        return await Body(res, "GET /" + path);
    }

    static async Task<JsonNode> PostJson(HttpClient http, string path, object body)
    {
        using var res = await http.PostAsJsonAsync(path, body, new JsonSerializerOptions { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull });
        return await Body(res, "POST /" + path);
    }

    static async Task<JsonNode> Body(HttpResponseMessage res, string what)
    {
        string text = await res.Content.ReadAsStringAsync();
        if (!res.IsSuccessStatusCode) throw new HttpRequestException($"{what} answered {(int)res.StatusCode}: {text}");
        return JsonNode.Parse(text) ?? throw new InvalidDataException($"{what} answered an empty body");
    }
}
