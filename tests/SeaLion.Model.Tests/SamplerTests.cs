using SeaLion.Model.Sampling;
using static TorchSharp.torch;

namespace SeaLion.Model.Tests;

[Collection("torch")]
public sealed class SamplerTests
{
    // Probabilities 0.5, 0.3, 0.15, 0.05 over a vocabulary of 4.
    static Tensor Logits(params double[] probs) => tensor(probs.Select(p => (float)Math.Log(p)).ToArray()).unsqueeze(0);
    static readonly double[] Probs = [0.5, 0.3, 0.15, 0.05];

    static int[] Draws(SamplingParams p, int n, double[]? probs = null)
    {
        using var logits = Logits(probs ?? Probs);
        var state = new SamplingState(p, []);
        return Enumerable.Range(0, n).Select(_ => Sampler.Sample(logits, [state])[0].TokenId).ToArray();
    }

    [Fact]
    public void A_batch_mixing_rows_with_and_without_logprobs_gives_each_what_it_asked()
    {
        // Was an engine-step failure (Nullable.Value on the row without logprobs), ending every stream in the batch.
        using var logits = cat([Logits(Probs), Logits(Probs)], 0);
        var withLogprobs = new SamplingState(new SamplingParams { Temperature = 0, Logprobs = 2 }, []);
        var sampled = new SamplingState(new SamplingParams { Temperature = 0.7, Seed = 1 }, []);
        var r = Sampler.Sample(logits, [withLogprobs, sampled]);
        Assert.Equal(0, r[0].TokenId);
        Assert.Equal(Math.Log(0.5), r[0].Logprob!.Value, 4);
        Assert.Equal([0, 1], r[0].TopLogprobs!.Select(t => t.TokenId));
        Assert.Null(r[1].Logprob);
        Assert.Null(r[1].TopLogprobs);
    }

    [Fact]
    public void Vector_argmax_finds_the_first_maximum_and_defers_on_nan()
    {
        var r = new Random(3);
        foreach (int n in new[] { 1, 5, 8, 9, 31, 128256 })
        {
            var row = Enumerable.Range(0, n).Select(_ => (float)r.NextDouble()).ToArray();
            int want = Array.IndexOf(row, row.Max());
            Assert.Equal(want, Sampler.ArgMax(row));
            row[n - 1] = row[want] = 2f;   // a tie: the first one wins, as with torch.argmax
            Assert.Equal(Math.Min(want, n - 1), Sampler.ArgMax(row));
            row[n / 2] = float.NaN;
            Assert.Equal(-1, Sampler.ArgMax(row));
        }
        Assert.Equal(0, Sampler.ArgMax(Enumerable.Repeat(float.NegativeInfinity, 20).ToArray()));
        using var logits = tensor(new float[] { 0.1f, 0.9f, float.NaN, 0.3f, 0.2f, 0.1f, 0.0f, 0.8f, 0.7f }).reshape(1, 9);
        Assert.Equal(logits.argmax(-1).item<long>(), Sampler.Sample(logits, [new SamplingState(new SamplingParams { Temperature = 0 }, [])])[0].TokenId);
    }

    [Fact]
    public void Greedy_picks_the_argmax()
    {
        Assert.All(Draws(new SamplingParams { Temperature = 0 }, 5, [0.1, 0.2, 0.6, 0.1]), t => Assert.Equal(2, t));
    }

    [Fact]
    public void Same_seed_gives_same_tokens_and_other_seeds_differ()
    {
        var a = Draws(new SamplingParams { Seed = 42 }, 200);
        var b = Draws(new SamplingParams { Seed = 42 }, 200);
        var c = Draws(new SamplingParams { Seed = 43 }, 200);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void Seeded_row_is_independent_of_its_batch_neighbours()
    {
        using var one = Logits(Probs);
        using var two = cat([Logits(0.25, 0.25, 0.25, 0.25), Logits(Probs)], 0);
        var alone = new SamplingState(new SamplingParams { Seed = 9 }, []);
        var inBatch = new SamplingState(new SamplingParams { Seed = 9 }, []);
        var other = new SamplingState(new SamplingParams { Seed = 1 }, []);
        for (int i = 0; i < 50; i++)
            Assert.Equal(Sampler.Sample(one, [alone])[0].TokenId, Sampler.Sample(two, [other, inBatch])[1].TokenId);
    }

    [Fact]
    public void Unfiltered_sampling_follows_the_distribution()
    {
        var d = Draws(new SamplingParams { Seed = 1 }, 4000);
        for (int t = 0; t < 4; t++)
            Assert.InRange(d.Count(x => x == t) / 4000.0, Probs[t] - 0.03, Probs[t] + 0.03);
    }

    [Fact]
    public void Temperature_sharpens_and_flattens()
    {
        double Top(double temp) => Draws(new SamplingParams { Seed = 3, Temperature = temp }, 2000).Count(x => x == 0) / 2000.0;
        // p^(1/T) renormalised: T=0.5 gives 0.25/0.3525 = 0.709 for the top token; T=2 gives 0.707/1.9 = 0.372.
        Assert.InRange(Top(0.5), 0.68, 0.74);
        Assert.InRange(Top(2.0), 0.34, 0.40);
    }

    [Fact]
    public void Top_k_keeps_only_the_k_most_likely()
    {
        var d = Draws(new SamplingParams { Seed = 5, TopK = 2 }, 1000);
        Assert.All(d, t => Assert.True(t is 0 or 1));
        Assert.InRange(d.Count(x => x == 0) / 1000.0, 0.5 / 0.8 - 0.05, 0.5 / 0.8 + 0.05);
        Assert.All(Draws(new SamplingParams { Seed = 5, TopK = 1, Temperature = 5 }, 50), t => Assert.Equal(0, t));
    }

    [Theory]
    [InlineData(0.5, new[] { 0 })]
    [InlineData(0.7, new[] { 0, 1 })]
    [InlineData(0.85, new[] { 0, 1, 2 })]
    [InlineData(0.96, new[] { 0, 1, 2, 3 })]
    public void Top_p_keeps_the_smallest_head_reaching_p(double topP, int[] allowed)
    {
        var d = Draws(new SamplingParams { Seed = 11, TopP = topP }, 1500);
        Assert.All(d, t => Assert.Contains(t, allowed));
        Assert.Equal(allowed, d.Distinct().Order().ToArray());
    }

    [Fact]
    public void Top_p_over_a_large_vocabulary_matches_the_exact_head()
    {
        // 5000 near-equal tokens: the 1024 candidates hold too little mass, so the full sort path must be taken.
        var probs = Enumerable.Repeat(1.0 / 5000, 5000).ToArray();
        var d = Draws(new SamplingParams { Seed = 2, TopP = 0.5 }, 3000, probs);
        Assert.True(d.Distinct().Count() > 1024, $"only {d.Distinct().Count()} distinct tokens drawn");
    }

    [Fact]
    public void Min_p_drops_tokens_below_the_scaled_threshold()
    {
        var d = Draws(new SamplingParams { Seed = 4, MinP = 0.5 }, 1000);   // threshold 0.25: tokens 0 and 1
        Assert.Equal(new[] { 0, 1 }, d.Distinct().Order().ToArray());
    }

    [Fact]
    public void Repetition_penalty_divides_positive_and_multiplies_negative_logits()
    {
        using var logits = tensor(new float[] { 2.0f, 1.5f, -0.5f, -3f }).unsqueeze(0);
        var state = new SamplingState(new SamplingParams { Temperature = 0, RepetitionPenalty = 2.0 }, [0]);
        Assert.Equal(1, Sampler.Sample(logits, [state])[0].TokenId);        // 2.0 / 2 = 1.0 < 1.5
        using var neg = tensor(new float[] { -1.0f, -1.5f, -10f, -10f }).unsqueeze(0);
        var s2 = new SamplingState(new SamplingParams { Temperature = 0, RepetitionPenalty = 2.0 }, [0]);
        Assert.Equal(1, Sampler.Sample(neg, [s2])[0].TokenId);             // -1.0 * 2 = -2.0 < -1.5
    }

    [Fact]
    public void Presence_and_frequency_penalties_count_output_tokens()
    {
        using var logits = tensor(new float[] { 3.0f, 2.0f, 0f, 0f }).unsqueeze(0);
        var freq = new SamplingState(new SamplingParams { Temperature = 0, FrequencyPenalty = 0.6 }, [1, 1, 1]);
        freq.Append(0);
        Assert.Equal(0, Sampler.Sample(logits, [freq])[0].TokenId);         // 3.0 - 0.6 = 2.4 > 2.0: prompt tokens do not count
        freq.Append(0);
        Assert.Equal(1, Sampler.Sample(logits, [freq])[0].TokenId);         // 3.0 - 1.2 = 1.8 < 2.0
        var pres = new SamplingState(new SamplingParams { Temperature = 0, PresencePenalty = 1.5 }, []);
        pres.Append(0);
        Assert.Equal(1, Sampler.Sample(logits, [pres])[0].TokenId);         // 3.0 - 1.5 < 2.0
    }

    [Fact]
    public void Logprobs_are_of_the_raw_distribution_with_sorted_alternatives()
    {
        using var logits = Logits(Probs);
        var state = new SamplingState(new SamplingParams { Temperature = 0, Logprobs = 3, RepetitionPenalty = 1.5 }, []);
        var s = Sampler.Sample(logits, [state])[0];
        Assert.Equal(Math.Log(0.5), s.Logprob!.Value, 4);
        Assert.Equal(new[] { 0, 1, 2 }, s.TopLogprobs!.Select(t => t.TokenId).ToArray());
        Assert.Equal(Math.Log(0.15), s.TopLogprobs![2].Logprob, 4);
    }

    [Theory]
    [InlineData("temperature")]
    [InlineData("top_p")]
    [InlineData("top_k")]
    [InlineData("min_p")]
    [InlineData("max_tokens")]
    [InlineData("stop")]
    [InlineData("logprobs")]
    [InlineData("presence_penalty")]
    public void Invalid_parameters_are_rejected_naming_the_field(string field)
    {
        var p = field switch
        {
            "temperature" => new SamplingParams { Temperature = double.NaN },
            "top_p" => new SamplingParams { TopP = 0 },
            "top_k" => new SamplingParams { TopK = -5 },
            "min_p" => new SamplingParams { MinP = 1.5 },
            "max_tokens" => new SamplingParams { MaxTokens = 0 },
            "stop" => new SamplingParams { Stop = Enumerable.Repeat("x", 17).ToArray() },
            "logprobs" => new SamplingParams { Logprobs = 21 },
            _ => new SamplingParams { PresencePenalty = -3 },
        };
        var e = Assert.ThrowsAny<ArgumentException>(() => p.Validate(128256));
        Assert.Contains(field, e.Message);
    }
}
