using SeaLion.Cli.Commands;
using SeaLion.Model.Tests;
using SeaLion.Tokenization;

namespace SeaLion.Gateway.Tests;

/// <summary>`sealion eval` against the tiny model: its loglikelihood scores are the naive reference pass's sums.</summary>
[Collection("server")]
public sealed class EvalCommandTests(ServerFixture server)
{
    [Fact]
    public async Task The_built_in_tasks_run_and_each_choice_scores_the_naive_sum_of_its_continuation_logprobs()
    {
        var items = EvalCommand.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "sea-mini.jsonl")), "sea-mini");
        Assert.Equal(["en", "id", "ta", "th", "vi"], items.Select(i => i.Lang).Distinct().Order(StringComparer.Ordinal));
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{server.HttpPort}/") };
        var outcomes = await EvalCommand.Evaluate(http, "sea-lion-v2", items, 4);
        Assert.Equal(items.Count, outcomes.Count);

        var tok = BpeTokenizer.FromDirectory(TestModels.TokenizerDir);
        var naive = new NaiveLlama(server.ModelDir);
        foreach (var o in outcomes.Where(o => o.Item.Type == "multiple_choice").Take(4))
        {
            var want = o.Item.Choices.Select(choice =>
            {
                int[] ctx = tok.Encode(o.Item.Context!), whole = tok.Encode(o.Item.Context! + choice);
                int[] ids = [tok.BosTokenId, .. ctx, .. whole[ctx.Length..]];
                var logits = naive.Forward(ids);
                double sum = 0;
                for (int p = 1 + ctx.Length; p < ids.Length; p++)
                {
                    var row = logits[p - 1];
                    double max = row.Max(), lse = max + Math.Log(row.Sum(x => Math.Exp(x - max)));
                    sum += row[ids[p]] - lse;
                }
                return sum;
            }).ToArray();
            for (int i = 0; i < want.Length; i++) Assert.True(Math.Abs(o.Scores![i] - want[i]) < 1e-3, $"line {o.Item.Line} choice {i}: {o.Scores[i]} vs naive {want[i]}");
            int best = Array.IndexOf(want, want.Max());
            Assert.Equal(best == o.Item.Gold, o.Correct);
        }
        var scores = EvalCommand.Score(outcomes);
        Assert.Equal(20, scores.Count);   // 4 tasks x 5 languages
        Assert.All(scores, s => Assert.InRange(s.Acc, 0, 1));
    }

    [Theory]
    [InlineData("{\"task\":\"t\",\"lang\":\"id\",\"type\":\"multiple_choice\",\"context\":\"c\",\"choices\":[\"a\"],\"gold\":3}", "x:1: \"gold\" must be the index of the right choice, 0-0")]
    [InlineData("\n{\"task\":\"t\",\"lang\":\"id\",\"type\":\"generate\",\"prompt\":\"p\",\"answers\":[\"a\"],\"match\":\"regex\"}", "x:2: \"match\" must be \"exact\" or \"contains\"")]
    [InlineData("{\"task\":\"t\",\"lang\":\"id\",\"type\":\"rank\"}", "x:1: \"type\" must be \"multiple_choice\" or \"generate\"")]
    [InlineData("{oops", "x:1: not valid JSON")]
    public void A_bad_task_line_is_refused_with_its_line_and_field(string text, string message)
    {
        var e = Assert.Throws<InvalidDataException>(() => EvalCommand.Parse(text, "x"));
        Assert.Contains(message, e.Message);
    }
}
