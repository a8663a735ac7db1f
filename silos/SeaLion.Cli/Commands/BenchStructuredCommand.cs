using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using SeaLion.Engine;
using SeaLion.Model.Sampling;
using SeaLion.Structured;
using SeaLion.Tokenization;

namespace SeaLion.Cli.Commands;

/// <summary>
/// `bench structured`: N concurrent json_schema requests against N unconstrained ones of the same lengths through
/// the engine, rounds alternated (this VM varies by 20-40%): output throughput of each and their ratio, the
/// per-row mask time (p50/p99, once every state's mask is cached, and the first-visit cost), and the compile time
/// of a 20-property schema. JSON on stdout.
/// </summary>
internal static class BenchStructuredCommand
{
    /// <summary>A 20-property schema of the usual kinds (strings, enums, bounded integers, numbers, booleans, an array, a nested object).</summary>
    internal static string Schema20()
    {
        var props = new JsonObject();
        for (int i = 0; i < 20; i++)
        {
            props[$"field_{i}"] = (i % 7) switch
            {
                0 => new JsonObject { ["type"] = "string", ["maxLength"] = 12 },
                1 => new JsonObject { ["type"] = "integer", ["minimum"] = 0, ["maximum"] = 1000 },
                2 => new JsonObject { ["type"] = "string", ["enum"] = new JsonArray("id", "th", "vi", "ta", "en") },
                3 => new JsonObject { ["type"] = "boolean" },
                4 => new JsonObject { ["type"] = "number", ["minimum"] = 0 },
                5 => new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["type"] = "integer", ["minimum"] = -9, ["maximum"] = 9 }, ["maxItems"] = 3 },
                _ => new JsonObject { ["type"] = "object", ["properties"] = new JsonObject { ["kota"] = new JsonObject { ["type"] = "string", ["maxLength"] = 10 }, ["kode"] = new JsonObject { ["type"] = "integer", ["minimum"] = 1, ["maximum"] = 99 } }, ["required"] = new JsonArray("kota") },
            };
        }
        return new JsonObject { ["type"] = "object", ["properties"] = props, ["required"] = new JsonArray([.. Enumerable.Range(0, 20).Where(i => i % 3 != 2).Select(i => (JsonNode)$"field_{i}")]) }.ToJsonString();
    }

    const string Schema = """{"type":"object","properties":{"nama":{"type":"string","maxLength":16},"umur":{"type":"integer","minimum":0,"maximum":120},"bahasa":{"type":"string","enum":["Indonesia","Thai","Vietnam","Tamil","English"]},"kota":{"type":"array","items":{"type":"string","maxLength":10},"minItems":1,"maxItems":3},"aktif":{"type":"boolean"}},"required":["nama","umur","bahasa","kota","aktif"]}""";

    public static async Task<int> Run(CliArgs a)
    {
        int streams = a.Int("streams", 16, 1, 256);
        int rounds = a.Int("rounds", 3, 1, 20);
        int promptLen = a.Int("prompt-len", 32, 1, 4000);
        var (load, name, tokenizerDir, options) = ModelArgs.ReadForBench(a, defaultDtype: "fp32");
        a.EnsureAllUsed();
        var tokenizer = BpeTokenizer.FromDirectory(tokenizerDir);
        var vocab = new Vocabulary(tokenizer.VocabSize, id => tokenizer.IsSpecial(id) ? null : tokenizer.TokenBytes(id), [tokenizer.EosTokenId ?? 0]);

        // Compile times, cold (no cache): the 20-property schema and the one the requests use.
        var compile20 = CompiledConstraint.Compile(new StructuredOutput(StructuredKind.JsonSchema, Schema20()), vocab);
        var compileRun = CompiledConstraint.Compile(new StructuredOutput(StructuredKind.JsonSchema, Schema), vocab);
        // Every mask of the 20-property schema computed once: the first-visit cost per DFA state.
        var clock = Stopwatch.StartNew();
        compile20.ComputeAllMasks();
        double maskAll = clock.Elapsed.TotalSeconds;

        using var model = load();
        using var engine = LlmEngine.Create(model, tokenizer, new EngineOptions { Scheduler = new SchedulerOptions { MaxSeqs = Math.Max(64, streams) } });
        var rnd = new Random(1);
        int[] Prompt() => [.. Enumerable.Range(0, promptLen).Select(_ => rnd.Next(1000, 100_000))];
        var spec = new StructuredOutput(StructuredKind.JsonSchema, Schema);

        var maskTimes = new ConcurrentBag<double>();
        void Listen(double seconds) => maskTimes.Add(seconds);
        var constrained = new List<(double Seconds, int Tokens, int Valid)>();
        var free = new List<(double Seconds, int Tokens)>();
        // Warm-up round: JIT, allocator, and the masks of the states these outputs visit.
        var lengths = (await Round(engine, streams, Prompt, i => new SamplingParams { Temperature = 0.8, Seed = i, MaxTokens = 200, Structured = spec })).Lengths;
        Sampler.ConstraintApplied += Listen;
        try
        {
            for (int r = 0; r < rounds; r++)
            {
                var c = await Round(engine, streams, Prompt, i => new SamplingParams { Temperature = 0.8, Seed = 1000 * r + i, MaxTokens = 200, Structured = spec });
                constrained.Add((c.Seconds, c.Lengths.Sum(), c.Texts.Count(t => Valid(t))));
                lengths = c.Lengths;
                // The same number of tokens per request, unconstrained (ignore_eos so each runs its full length).
                var f = await Round(engine, streams, Prompt, i => new SamplingParams { Temperature = 0.8, Seed = 1000 * r + i, MaxTokens = Math.Max(1, lengths[i]), IgnoreEos = true });
                free.Add((f.Seconds, f.Lengths.Sum()));
            }
        }
        finally { Sampler.ConstraintApplied -= Listen; }

        var times = maskTimes.Order().ToArray();
        double P(double q) => times.Length == 0 ? double.NaN : times[Math.Min(times.Length - 1, (int)(q * times.Length))] * 1e6;
        double cTput = constrained.Sum(x => x.Tokens) / constrained.Sum(x => x.Seconds), fTput = free.Sum(x => x.Tokens) / free.Sum(x => x.Seconds);
        Console.Out.WriteLine(JsonSerializer.Serialize(new
        {
            bench = "structured", model = name, streams, rounds, prompt_len = promptLen,
            constrained_tok_s = Math.Round(cTput, 1), unconstrained_tok_s = Math.Round(fTput, 1), throughput_ratio = Math.Round(cTput / fTput, 3),
            constrained_valid = $"{constrained.Sum(x => x.Valid)}/{streams * rounds}",
            mean_output_tokens = Math.Round(constrained.Average(x => (double)x.Tokens / streams), 1),
            mask_us_p50 = Math.Round(P(0.5), 1), mask_us_p99 = Math.Round(P(0.99), 1), mask_us_max = Math.Round(P(1.0), 1), mask_samples = times.Length,
            schema20_compile_ms = Math.Round(compile20.CompileTime.TotalMilliseconds, 1), schema20_dfa_states = compile20.States,
            schema20_all_masks_ms = Math.Round(maskAll * 1000, 1), schema20_mask_first_visit_us = Math.Round(maskAll * 1e6 / compile20.States, 1),
            run_schema_compile_ms = Math.Round(compileRun.CompileTime.TotalMilliseconds, 1), run_schema_dfa_states = compileRun.States,
        }));
        return 0;
    }

    static bool Valid(string text)
    {
        try { return JsonNode.Parse(text) is JsonObject o && o.Count >= 5; }
        catch (JsonException) { return false; }
    }

    static async Task<(double Seconds, int[] Lengths, string[] Texts)> Round(LlmEngine engine, int n, Func<int[]> prompt, Func<int, SamplingParams> sampling)
    {
        var clock = Stopwatch.StartNew();
        var results = await Task.WhenAll(Enumerable.Range(0, n).Select(async i =>
        {
            int tokens = 0;
            var text = new System.Text.StringBuilder();
            await foreach (var o in engine.GenerateAsync(new GenerateRequest(prompt(), sampling(i))))
            {
                tokens += o.TokenIds.Count;
                text.Append(o.Text);
            }
            return (tokens, text.ToString());
        }));
        return (clock.Elapsed.TotalSeconds, [.. results.Select(r => r.tokens)], [.. results.Select(r => r.Item2)]);
    }
}
