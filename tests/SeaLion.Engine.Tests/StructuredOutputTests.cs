using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Json.Schema;
using SeaLion.Model.Sampling;
using SeaLion.Structured;

namespace SeaLion.Engine.Tests;

/// <summary>
/// Constrained generation on random weights (where free output is noise): every output must parse and validate
/// with an independent checker (JsonSchema.Net for schemas, .NET's Regex for patterns and the grammar).
/// </summary>
[Collection("torch")]
public sealed class StructuredOutputTests
{
    static readonly string[] Schemas =
    [
        """{"type":"object","properties":{"name":{"type":"string","minLength":1,"maxLength":8},"age":{"type":"integer","minimum":0,"maximum":120},"member":{"type":"boolean"}},"required":["name","age"],"additionalProperties":false}""",
        """{"type":"array","items":{"type":"integer","minimum":-50,"maximum":50},"minItems":1,"maxItems":4}""",
        """{"type":"object","properties":{"id":{"type":"string","format":"uuid"},"tags":{"type":"array","items":{"enum":["a","b","c"]},"maxItems":3},"score":{"anyOf":[{"type":"number","minimum":0},{"type":"null"}]}},"required":["id","tags","score"]}""",
        """{"$defs":{"pt":{"type":"object","properties":{"x":{"type":"integer","minimum":0,"maximum":9},"y":{"type":"integer","minimum":0,"maximum":9}},"required":["x","y"]}},"type":"object","properties":{"from":{"$ref":"#/$defs/pt"},"to":{"$ref":"#/$defs/pt"},"label":{"const":"edge"}},"required":["from","to","label"]}""",
        """{"type":"object","properties":{"date":{"type":"string","format":"date"},"kind":{"type":"string","enum":["buy","sell"]},"note":{"type":"string","maxLength":6}},"required":["date","kind"]}""",
    ];

    static readonly string[] Patterns = [@"\d{3}-[A-Z]{2,4}", "(yes|no|maybe)", @"[a-z]{1,6}@[a-z]{2,5}\.(com|org)", @"-?(0|[1-9]\d{0,4})(\.\d{1,2})?"];

    const string Grammar = """
        # a greeting in three of the languages, a capitalised name, and a mark
        root     ::= greeting " " name ("!" | ".")
        greeting ::= "Halo" | "Selamat pagi" | "Xin chào"
        name     ::= [A-Z] [a-z]{1,6}
        """;
    static readonly Regex GrammarAsRegex = new("^(Halo|Selamat pagi|Xin chào) [A-Z][a-z]{1,6}(!|\\.)$");
    static readonly string[] Choices = ["positif", "negatif", "netral", "ไม่แน่ใจ"];

    /// <summary>n requests with this constraint: half sampled (temperature 0.9, their own seeds), half greedy, prompts varied.</summary>
    static List<(GenerateRequest Request, List<EngineOutput> Outputs)> Run(EngineCore core, IReadOnlyList<StructuredOutput> specs, int n, string tag)
    {
        var requests = Enumerable.Range(0, n).Select(i => (AtStep: 0, Request: new GenerateRequest(Engines.Prompt(6 + i % 7, 1000 + i),
            new SamplingParams { Temperature = i % 2 == 0 ? 0.9 : 0, Seed = i, MaxTokens = 160, Structured = specs[i % specs.Count] }, $"{tag}{i}"))).ToList();
        var outputs = Engines.RunAll(core, requests);
        return requests.Select(r => (r.Request, outputs[r.Request.RequestId!])).ToList();
    }

    static string Text(List<EngineOutput> outs) => string.Concat(outs.Select(o => o.Text));

    [Fact]
    public void Two_hundred_generations_per_kind_all_parse_and_validate()
    {
        using var model = Engines.TinyModel();
        using var core = Engines.TorchCore(model, 1200, new SchedulerOptions { MaxSeqs = 64, MaxBatchedTokens = 1024 });
        var schemas = Schemas.Select(s => JsonSchema.FromText(s)).ToArray();
        void AllStopped(List<(GenerateRequest Request, List<EngineOutput> Outputs)> results) =>
            Assert.All(results, r => Assert.True(r.Outputs[^1].FinishReason == "stop", $"{r.Request.RequestId}: finished '{r.Outputs[^1].FinishReason}' with \"{Text(r.Outputs)}\""));

        var json = Run(core, [.. Schemas.Select(s => new StructuredOutput(StructuredKind.JsonSchema, s))], 200, "json");
        AllStopped(json);
        for (int i = 0; i < json.Count; i++)
        {
            string text = Text(json[i].Outputs);
            var result = schemas[i % Schemas.Length].Evaluate(System.Text.Json.JsonDocument.Parse(text).RootElement);
            Assert.True(result.IsValid, $"schema {i % Schemas.Length}: {text}");
        }

        var rx = Run(core, [.. Patterns.Select(p => new StructuredOutput(StructuredKind.Regex, p))], 200, "rx");
        AllStopped(rx);
        for (int i = 0; i < rx.Count; i++)
            Assert.Matches(new Regex($"^(?:{Patterns[i % Patterns.Length]})$"), Text(rx[i].Outputs));

        var choice = Run(core, [new StructuredOutput(StructuredKind.Choice, System.Text.Json.JsonSerializer.Serialize(Choices))], 200, "ch");
        AllStopped(choice);
        Assert.All(choice, c => Assert.Contains(Text(c.Outputs), Choices));

        var grammar = Run(core, [new StructuredOutput(StructuredKind.Grammar, Grammar)], 200, "gr");
        AllStopped(grammar);
        Assert.All(grammar, g => Assert.Matches(GrammarAsRegex, Text(g.Outputs)));
        // The sampled half is not one output repeated: the constraint leaves the model its choices.
        Assert.True(json.Select(j => Text(j.Outputs)).Distinct().Count() > 20);
        Assert.Equal(core.Kv.Pool.NumBlocks, core.Kv.Pool.FreeCount);
    }

    [Fact]
    public void Any_json_object_parses_when_it_ends()
    {
        using var model = Engines.TinyModel();
        using var core = Engines.TorchCore(model, 600, new SchedulerOptions { MaxSeqs = 32 });
        var results = Run(core, [new StructuredOutput(StructuredKind.JsonObject, "")], 32, "obj");
        foreach (var (req, outs) in results)
        {
            string text = Text(outs);
            Assert.StartsWith("{", text);
            if (outs[^1].FinishReason == "stop") Assert.IsType<JsonObject>(JsonNode.Parse(text));
            else Assert.Equal("length", outs[^1].FinishReason);   // free-form strings may run to max_tokens
        }
        Assert.Contains(results, r => r.Outputs[^1].FinishReason == "stop");
    }

    [Fact]
    public void The_same_seed_gives_the_same_output_alone_and_in_a_batch()
    {
        using var model = Engines.TinyModel();
        var spec = new StructuredOutput(StructuredKind.JsonSchema, Schemas[0]);
        var p = new SamplingParams { Temperature = 0.9, Seed = 42, MaxTokens = 120, Structured = spec };
        int[] prompt = Engines.Prompt(9, 5);
        using var alone = Engines.TorchCore(model, 64, new SchedulerOptions());
        var solo = Engines.RunAll(alone, [(0, new GenerateRequest(prompt, p, "solo"))])["solo"];
        using var busy = Engines.TorchCore(model, 600, new SchedulerOptions { MaxBatchedTokens = 32 });
        var others = Enumerable.Range(0, 8).Select(i => (AtStep: i % 3, Request: new GenerateRequest(Engines.Prompt(5 + i, 70 + i),
            new SamplingParams { Temperature = 1, Seed = 100 + i, MaxTokens = 40, Structured = i % 2 == 0 ? new StructuredOutput(StructuredKind.Regex, Patterns[i % 4]) : null }, $"o{i}")));
        var batch = Engines.RunAll(busy, [.. others, (1, new GenerateRequest(prompt, p, "batched"))])["batched"];
        Assert.Equal(Engines.Tokens(solo), Engines.Tokens(batch));
        Assert.Equal(Text(solo), Text(batch));
    }

    [Fact]
    public void A_constraint_whose_end_is_out_of_reach_ends_with_length()
    {
        using var model = Engines.TinyModel();
        using var core = Engines.TorchCore(model, 64, new SchedulerOptions());
        var outs = Engines.RunAll(core, [(0, new GenerateRequest(Engines.Prompt(5, 1),
            new SamplingParams { Temperature = 0, MaxTokens = 4, Structured = new StructuredOutput(StructuredKind.Regex, "[a-z]{40}") }, "short"))])["short"];
        Assert.Equal("length", outs[^1].FinishReason);
        Assert.Matches("^[a-z]+$", Text(outs));
    }

    [Theory]
    [InlineData(StructuredKind.Regex, "(abc", "missing ')'")]
    [InlineData(StructuredKind.Regex, "a(?=b)", "lookaround")]
    [InlineData(StructuredKind.Regex, @"(a)\1", "backreferences are not supported")]
    [InlineData(StructuredKind.Regex, "(a{1000}){1000}", "exceeds 200000 states")]
    [InlineData(StructuredKind.JsonSchema, """{"type":"object","patternProperties":{"^a":{}}}""", "json schema at #: the keyword \"patternProperties\" is not supported")]
    [InlineData(StructuredKind.JsonSchema, """{"$defs":{"n":{"type":"object","properties":{"next":{"$ref":"#/$defs/n"}}}},"$ref":"#/$defs/n"}""", "is recursive")]
    [InlineData(StructuredKind.JsonSchema, """{"type":"string","format":"hostname"}""", "format \"hostname\" is not supported")]
    [InlineData(StructuredKind.JsonSchema, """{"type":"object","properties":{"a":{"type":"integer"}},"required":["b"]}""", "required property \"b\" is not declared")]
    [InlineData(StructuredKind.JsonSchema, "{not json", "json schema: not valid JSON")]
    [InlineData(StructuredKind.Grammar, "root ::= item\nitem ::= \"a\" item | \"b\"", "rule \"item\" is recursive")]
    [InlineData(StructuredKind.Grammar, "root ::= missing", "rule \"missing\" is used but not defined")]
    [InlineData(StructuredKind.Grammar, "start ::= \"a\"", "there is no rule \"root\"")]
    [InlineData(StructuredKind.Choice, "[]", "choice: expected a non-empty list of strings")]
    public void A_bad_constraint_is_refused_naming_the_construct(StructuredKind kind, string value, string message)
    {
        var e = Assert.Throws<ConstraintException>(() => CompiledConstraint.Compile(new StructuredOutput(kind, value), null));
        Assert.Contains(message, e.Message);
        Assert.Equal("structured_outputs", e.ParamName);
    }

    [Fact]
    public void Automata_accept_what_an_independent_matcher_accepts()
    {
        // Regex: the automaton against .NET's engine on strings near the language (mutations of members).
        var rnd = new Random(3);
        foreach (var pattern in Patterns.Append(@"[^a-c]x?|é{2}|\u0e01+"))
        {
            var c = CompiledConstraint.Compile(new StructuredOutput(StructuredKind.Regex, pattern), null);
            var dotnet = new Regex($"^(?:{pattern})$");
            string alphabet = "0123456789-ABCZabcxyz@.é" + "\u0e01";
            for (int k = 0; k < 400; k++)
            {
                int len = rnd.Next(0, 9);
                string s = new([.. Enumerable.Range(0, len).Select(_ => alphabet[rnd.Next(alphabet.Length)])]);
                Assert.True(dotnet.IsMatch(s) == ConstraintState.Matches(c, Encoding.UTF8.GetBytes(s)), $"/{pattern}/ on \"{s}\"");
            }
        }
        // Integer ranges: exactly the integers in [lo, hi].
        foreach (var (lo, hi) in new[] { (0L, 120L), (-50L, 50L), (7L, 7L), (-1234L, -5L), (95L, 1003L) })
        {
            var c = CompiledConstraint.Compile(new StructuredOutput(StructuredKind.JsonSchema, $$"""{"type":"integer","minimum":{{lo}},"maximum":{{hi}}}"""), null);
            for (long v = lo - 30; v <= hi + 30; v++)
                Assert.True(ConstraintState.Matches(c, Encoding.UTF8.GetBytes(v.ToString())) == (v >= lo && v <= hi), $"[{lo}, {hi}] on {v}");
            Assert.False(ConstraintState.Matches(c, "007"u8));
        }
    }
}
