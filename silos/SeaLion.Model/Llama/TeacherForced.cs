using static TorchSharp.torch;

namespace SeaLion.Model.Llama;

/// <summary>
/// How close a subject's greedy decode must stay to a reference's logits, teacher-forced on the subject's tokens.
/// <see cref="ArgmaxSlack"/> + <see cref="SlackInRmsDiffs"/> x (that row's rms logit difference): how far below the
/// reference's maximum the subject's chosen token may lie (a near-tie, not a disagreement).
/// <see cref="MaxRelativeDiff"/>: the largest |logit difference| allowed, relative to the reference row's scale
/// (its largest |logit|, at least 1); 0 = not checked. <see cref="MinExactFraction"/>: the share of generated tokens
/// that must be the reference's exact argmax. <see cref="MaxRmsDiff"/>: the largest rms logit difference over all
/// positions; 0 = not checked.
/// </summary>
public sealed record GreedyCriteria(float ArgmaxSlack, double SlackInRmsDiffs, double MaxRelativeDiff, double MinExactFraction, double MaxRmsDiff = 0)
{
    /// <summary>Two fp32 passes of the same weights (the llama.cpp oracle's bounds: a tie within 0.01, logits within 1e-4 of the row scale).</summary>
    public static GreedyCriteria SamePrecision(double maxRelativeDiff = 1e-4) => new(0.01f, 0, maxRelativeDiff, 0);

    /// <summary>
    /// bf16 against fp32 of the same weights, judged against a yardstick: the rms logit difference the trusted path
    /// (bf16 against fp32 on the CPU) shows on the same model. Random weights amplify bf16 rounding layer by layer
    /// (on the 8-layer `small` config the CPU's own bf16 logits already differ from fp32 by ~0.5 of the row scale), so
    /// no fixed bound separates rounding from a bug; a bug gives logits unrelated to fp32's, tens of times the
    /// yardstick on a shallow model. Each greedy choice must be fp32's or a tie within 3 rms differences (the GGUF
    /// oracle's rule), at least 2/3 exact, and the rms difference at most <paramref name="factor"/> x the yardstick.
    /// </summary>
    public static GreedyCriteria LowerPrecisionThan(double yardstickRms, double factor = 4) => new(0.01f, 3, 0, 2.0 / 3, Math.Max(1e-3, factor * yardstickRms));
}

/// <summary>The outcome of <see cref="TeacherForced.Compare"/>; <see cref="Failures"/> empty means the subject passed.</summary>
public sealed record GreedyComparison(
    int Positions, int Generated, int ExactArgmax, int WithinSlack, double MaxAbsDiff, double MaxRelativeDiff, double RmsDiff,
    int WorstPosition, int WorstToken, IReadOnlyList<string> Failures)
{
    public bool Passed => Failures.Count == 0;
}

/// <summary>
/// Teacher-forced greedy comparison, one implementation for the oracle tests and the GPU check: the subject decodes
/// greedily through its KV cache (one logit row per token of prompt + generated), the reference runs one pass over
/// prompt + the subject's tokens, and <see cref="Compare"/> judges each generated token against the reference's row.
/// </summary>
public static class TeacherForced
{
    /// <summary>
    /// Prefill of <paramref name="prompt"/> (logits of every position), then <paramref name="newTokens"/> greedy decode
    /// steps; the last generated token is decoded too, so there is one row per token of prompt + generated.
    /// </summary>
    public static (float[][] Rows, int[] Generated) GreedyDecode(LlamaModel model, int[] prompt, int newTokens, int blockSize = 16)
    {
        var rows = new List<float[]>();
        var generated = new List<int>();
        int total = prompt.Length + newTokens;
        int[] table = Enumerable.Range(0, (total + blockSize - 1) / blockSize).ToArray();
        using var mode = inference_mode();
        using var cache = model.CreateKvCache(table.Length, blockSize);
        using (var l = model.Forward(new ForwardBatch { TokenIds = prompt, Sequences = [new SequenceChunk(prompt.Length, prompt.Length, table)], AllLogits = true }, cache))
            rows.AddRange(Rows(l));
        for (int step = 0; step < newTokens; step++)
        {
            int next = ArgMax(rows[^1]);
            generated.Add(next);
            using var l = model.Forward(new ForwardBatch { TokenIds = [next], Sequences = [new SequenceChunk(1, prompt.Length + step + 1, table)] }, cache);
            rows.Add(Rows(l)[0]);
        }
        return (rows.ToArray(), generated.ToArray());
    }

    /// <summary>The logits of every position of one pass over <paramref name="tokens"/> (a fresh cache).</summary>
    public static float[][] AllLogits(LlamaModel model, int[] tokens, int blockSize = 16)
    {
        int[] table = Enumerable.Range(0, (tokens.Length + blockSize - 1) / blockSize).ToArray();
        using var mode = inference_mode();
        using var cache = model.CreateKvCache(table.Length, blockSize);
        using var l = model.Forward(new ForwardBatch { TokenIds = tokens, Sequences = [new SequenceChunk(tokens.Length, tokens.Length, table)], AllLogits = true }, cache);
        return Rows(l);
    }

    /// <summary>Rows of a [tokens, vocab] logits tensor as fp32 on the host.</summary>
    public static float[][] Rows(Tensor logits)
    {
        using var f = logits.to(ScalarType.Float32);
        using var c = f.cpu();
        var flat = c.data<float>().ToArray();
        int v = (int)c.shape[1];
        return Enumerable.Range(0, (int)c.shape[0]).Select(r => flat.AsSpan(r * v, v).ToArray()).ToArray();
    }

    /// <summary>The sampler's greedy choice (first index of the maximum); a row holding a NaN is an error here, not a token.</summary>
    public static int ArgMax(float[] v) =>
        SeaLion.Model.Sampling.Sampler.ArgMax(v) is var i and >= 0 ? i : throw new InvalidDataException($"a logit row of {v.Length} is empty or holds a NaN");

    /// <param name="subject">The subject's rows, one per token of prompt + generated.</param>
    /// <param name="generated">The subject's greedy tokens.</param>
    /// <param name="reference">The reference's rows over prompt + <paramref name="generated"/>, teacher-forced.</param>
    public static GreedyComparison Compare(float[][] subject, int[] generated, float[][] reference, int promptLength, GreedyCriteria criteria)
    {
        var failures = new List<string>();
        int positions = promptLength + generated.Length;
        if (reference.Length < positions || subject.Length < positions)
            throw new ArgumentException($"{positions} positions expected, subject has {subject.Length} rows, reference {reference.Length}");
        if (subject[0].Length != reference[0].Length)
            throw new ArgumentException($"vocabularies differ: subject {subject[0].Length}, reference {reference[0].Length}");

        // The logits themselves, over every position, relative to each reference row's scale (its largest |logit|, at least 1).
        double worstAbs = 0, worstRel = 0, sumSq = 0; long count = 0; int worstPos = 0, worstTok = 0;
        var rowRms = new double[positions];
        for (int pos = 0; pos < positions; pos++)
        {
            float[] s = subject[pos], r = reference[pos];
            double scale = Math.Max(1.0, r.Max(Math.Abs)), rowSq = 0;
            for (int v = 0; v < r.Length; v++)
            {
                double d = Math.Abs(s[v] - r[v]);
                rowSq += d * d;
                if (d > worstAbs) worstAbs = d;
                if (d / scale > worstRel) { worstRel = d / scale; worstPos = pos; worstTok = v; }
            }
            rowRms[pos] = Math.Sqrt(rowSq / r.Length);
            sumSq += rowSq; count += r.Length;
        }

        // Every generated token is the reference's argmax at that position, or within the slack of its maximum.
        int exact = 0, within = 0;
        for (int i = 0; i < generated.Length; i++)
        {
            int pos = promptLength - 1 + i;
            var row = reference[pos];
            int best = ArgMax(row);
            if (best == generated[i]) { exact++; within++; continue; }
            double slack = criteria.ArgmaxSlack + criteria.SlackInRmsDiffs * rowRms[pos];
            if (row[generated[i]] >= row[best] - slack) { within++; continue; }
            failures.Add($"generated token {i} (position {pos}): the subject chose {generated[i]} (reference logit {row[generated[i]]}), " +
                         $"the reference's argmax is {best} (logit {row[best]}, slack {slack:G3}); generated so far: [{string.Join(", ", generated.Take(i + 1))}]");
        }
        if (criteria.MaxRelativeDiff > 0 && worstRel > criteria.MaxRelativeDiff)
            failures.Add($"logits differ by {worstRel:E3} of the row scale at position {worstPos}, token {worstTok} " +
                         $"(subject {subject[worstPos][worstTok]}, reference {reference[worstPos][worstTok]}) > {criteria.MaxRelativeDiff}");
        double rms = Math.Sqrt(sumSq / Math.Max(1, count));
        if (criteria.MaxRmsDiff > 0 && rms > criteria.MaxRmsDiff)
            failures.Add($"logits differ by {rms:G4} rms over all positions > {criteria.MaxRmsDiff:G4}");
        if (generated.Length > 0 && exact < criteria.MinExactFraction * generated.Length)
            failures.Add($"the reference's exact greedy choice at only {exact}/{generated.Length} generated tokens (at least {criteria.MinExactFraction:P0} required)");
        return new GreedyComparison(positions, generated.Length, exact, within, worstAbs, worstRel, rms, worstPos, worstTok, failures);
    }
}
