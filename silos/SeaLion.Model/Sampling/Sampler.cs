using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using SeaLion.Model.Llama;
using static TorchSharp.torch;

namespace SeaLion.Model.Sampling;

/// <summary>One sequence's sampling state: its parameters, token history and random stream.</summary>
public sealed class SamplingState
{
    readonly SplitMix64 _rng;
    readonly List<int> _output = new();
    readonly Dictionary<int, int> _outputCounts = new();
    readonly HashSet<int> _seen;

    public SamplingState(SamplingParams p, IEnumerable<int> promptIds, IReadOnlyList<int>? priorOutput = null)
    {
        Params = p;
        _rng = new SplitMix64((ulong)(p.Seed ?? Random.Shared.NextInt64()));
        _seen = new HashSet<int>(promptIds);
        // Resuming a stream cut after these tokens: they count as output (penalties), and the random stream moves
        // past the draws they took (one per sampled token, none when greedy), so a seeded request continues exactly.
        if (priorOutput is null) return;
        foreach (int t in priorOutput) Append(t);
        if (!p.IsGreedy) _rng.Skip((ulong)priorOutput.Count);
    }

    public SamplingParams Params { get; }
    public IReadOnlyList<int> Output => _output;
    /// <summary>The structured output's state: only the tokens it allows may be sampled (null: free text).</summary>
    public ITokenConstraint? Constraint { get; set; }
    /// <summary>The tokens that end the request (EOS unless ignored, and stop_token_ids): masked while fewer than min_tokens exist.</summary>
    public IReadOnlySet<int>? StopTokenIds { get; set; }
    /// <summary>min_tokens is not reached yet: the stop tokens must not be sampled.</summary>
    internal bool MasksStops => Params.MinTokens > _output.Count && StopTokenIds is { Count: > 0 };
    internal IReadOnlyDictionary<int, int> OutputCounts => _outputCounts;
    internal IReadOnlyCollection<int> Seen => _seen;

    /// <summary>Uniform in [0, 1), one draw per sampled token: the sequence of draws depends only on the seed.</summary>
    internal double NextUniform() => _rng.NextDouble();

    public void Append(int token)
    {
        Constraint?.Advance(token);
        _output.Add(token);
        _outputCounts[token] = _outputCounts.GetValueOrDefault(token) + 1;
        _seen.Add(token);
    }
}

public sealed record TokenLogprob(int TokenId, float Logprob);

public sealed record SampledToken(int TokenId, float? Logprob, IReadOnlyList<TokenLogprob>? TopLogprobs);

/// <summary>A prompt token's logprob given the tokens before it; Rank 1 is the most likely token; Top in descending order.</summary>
public sealed record PromptLogprob(int TokenId, float Logprob, int Rank, IReadOnlyList<TokenLogprob> Top);

/// <summary>
/// Samples one token per row of a batch of logits, each row with its own parameters. Order as in HF generate:
/// penalties, temperature, top-k, top-p, min-p, then an inverse-CDF draw with the row's own seeded stream, so
/// a seeded request gives the same tokens whatever else shares its batch. Logprobs are of the raw model
/// distribution (before penalties and temperature), as vLLM reports them by default.
/// </summary>
public static class Sampler
{
    /// <summary>Top-p first looks at this many candidates; only if they hold less than top_p mass does it sort all.</summary>
    const int TopPCandidates = 1024;

    public static SampledToken[] Sample(Tensor logits, IReadOnlyList<SamplingState> rows)
    {
        if (logits.shape[0] != rows.Count) throw new ArgumentException($"{logits.shape[0]} rows of logits for {rows.Count} sequences");
        using var mode = inference_mode();
        using var scope = NewDisposeScope();
        using var scalars = new ScalarScope();
        var result = new SampledToken[rows.Count];
        Tensor? logp = rows.Any(r => r.Params.Logprobs is not null) ? logits.log_softmax(-1) : null;
        // Plain greedy rows (no penalties, no logprobs), the common serving case, share one argmax.
        var plain = Enumerable.Range(0, rows.Count).Where(i => IsPlainGreedy(rows[i])).ToArray();
        if (plain.Length > 0)
        {
            var best = ArgMaxRows(logits, plain);
            for (int k = 0; k < plain.Length; k++) result[plain[k]] = new SampledToken((int)best[k], null, null);
        }
        for (int i = 0; i < rows.Count; i++)
        {
            if (result[i] is not null) continue;
            using var rowScope = NewDisposeScope();
            var state = rows[i];
            var row = Penalize(logits[i], state, scalars);
            int token = state.Params.IsGreedy ? (int)row.argmax().item<long>() : Draw(row, state, scalars);
            // logp exists when any row asked for logprobs; a row that did not gets none (a batch mixes both).
            result[i] = logp is null || state.Params.Logprobs is not { } topN ? new SampledToken(token, null, null) : WithLogprobs(token, logp[i], topN);
        }
        return result;
    }

    /// <summary>
    /// The first index of each listed row's maximum. CPU float32 logits are scanned in place (two vector passes
    /// per row, no copy of the rows); elsewhere, or when a row holds a NaN, libtorch's argmax decides.
    /// </summary>
    static unsafe long[] ArgMaxRows(Tensor logits, int[] rows)
    {
        if (logits.device_type == TorchSharp.DeviceType.CPU && logits.dtype == ScalarType.Float32 && logits.is_contiguous() && logits.dim() == 2)
        {
            float* data = TensorMemory.Floats(logits);
            int vocab = (int)logits.shape[1];
            var found = new long[rows.Length];
            bool ok = true;
            for (int k = 0; k < rows.Length && ok; k++)
                ok = (found[k] = ArgMax(new ReadOnlySpan<float>(data + (long)rows[k] * vocab, vocab))) >= 0;
            if (ok) return found;
        }
        using var idx = tensor(rows.Select(i => (long)i).ToArray(), device: logits.device);
        using var picked = logits.index_select(0, idx);
        using var best = picked.argmax(-1);
        using var onCpu = best.cpu();
        return onCpu.data<long>().ToArray();
    }

    /// <summary>First index of the maximum, or -1 if the row holds a NaN (the caller then defers to libtorch).</summary>
    internal static int ArgMax(ReadOnlySpan<float> row)
    {
        if (row.IsEmpty) return -1;
        int n = row.Length, i = 0, w = Vector256<float>.Count;
        ref float r0 = ref MemoryMarshal.GetReference(row);
        float max = float.NegativeInfinity;
        if (Vector256.IsHardwareAccelerated && n >= w)
        {
            var vmax = Vector256.Create(float.NegativeInfinity);
            var unordered = Vector256<float>.Zero;
            for (; i <= n - w; i += w)
            {
                var v = Vector256.LoadUnsafe(ref r0, (nuint)i);
                unordered |= ~Vector256.Equals(v, v);   // all-ones lanes where v is NaN
                vmax = Vector256.Max(vmax, v);
            }
            if (unordered != Vector256<float>.Zero) return -1;
            for (int l = 0; l < w; l++) max = Math.Max(max, vmax[l]);
        }
        for (int j = i; j < n; j++)
        {
            float x = Unsafe.Add(ref r0, j);
            if (float.IsNaN(x)) return -1;
            if (x > max) max = x;
        }
        // Second pass: the first position holding the maximum (libtorch's argmax picks the first too).
        i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var target = Vector256.Create(max);
            for (; i <= n - w; i += w)
            {
                uint hits = Vector256.Equals(Vector256.LoadUnsafe(ref r0, (nuint)i), target).ExtractMostSignificantBits();
                if (hits != 0) return i + System.Numerics.BitOperations.TrailingZeroCount(hits);
            }
        }
        for (; i < n; i++) if (Unsafe.Add(ref r0, i) == max) return i;
        return -1;
    }

    static bool IsPlainGreedy(SamplingState s) =>
        s.Params.IsGreedy && s.Params.Logprobs is null && s.Params.RepetitionPenalty == 1.0
        && s.Params.PresencePenalty == 0 && s.Params.FrequencyPenalty == 0 && s.Params.LogitBias is not { Count: > 0 } && !s.MasksStops && s.Constraint is null;

    /// <summary>
    /// Logit processing in vLLM's order: min_tokens' mask of the stop tokens, logit_bias (added), then the
    /// repetition, presence and frequency penalties.
    /// </summary>
    static Tensor Penalize(Tensor row, SamplingState s, ScalarScope scalars)
    {
        var p = s.Params;
        bool rep = p.RepetitionPenalty != 1.0 && s.Seen.Count > 0;
        bool outPen = (p.PresencePenalty != 0 || p.FrequencyPenalty != 0) && s.OutputCounts.Count > 0;
        bool bias = p.LogitBias is { Count: > 0 }, mask = s.MasksStops;
        if (!rep && !outPen && !bias && !mask && s.Constraint is null) return row;
        row = row.clone();
        if (s.Constraint is { } constraint)
        {
            long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            row = Constrain(row, constraint.Allowed);
            ConstraintApplied?.Invoke(System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        if (mask)
        {
            using var ids = tensor(s.StopTokenIds!.Select(x => (long)x).ToArray(), device: row.device);
            row.index_fill_(0, ids, scalars.Of(float.NegativeInfinity));
        }
        if (bias)
        {
            using var ids = tensor(p.LogitBias!.Keys.Select(x => (long)x).ToArray(), device: row.device);
            using var values = tensor(p.LogitBias!.Values.ToArray(), device: row.device);
            row.index_add_(0, ids, values.to(row.dtype), Scalars.One);
        }
        if (rep)
        {
            using var ids = tensor(s.Seen.Select(x => (long)x).ToArray(), device: row.device);
            var v = row.index_select(0, ids);
            var penalty = scalars.Of(p.RepetitionPenalty);
            row.index_copy_(0, ids, where(v.lt(Scalars.Zero), v.mul(penalty), v.div(penalty)));
        }
        if (outPen)
        {
            using var ids = tensor(s.OutputCounts.Keys.Select(x => (long)x).ToArray(), device: row.device);
            using var counts = tensor(s.OutputCounts.Values.Select(x => (float)x).ToArray(), device: row.device);
            var penalties = counts.mul(scalars.Of((float)p.FrequencyPenalty)).add_(scalars.Of((float)p.PresencePenalty), Scalars.One).neg_();
            row.index_add_(0, ids, penalties, Scalars.One);
        }
        return row;
    }

    static int Draw(Tensor row, SamplingState s, ScalarScope scalars)
    {
        var p = s.Params;
        var scaled = row.div(scalars.Of(p.Temperature));
        long vocab = scaled.shape[0];
        // Candidates in descending order: all of them, the top k, or enough to hold top_p of the mass.
        Tensor values, ids;
        if (p.TopK > 0 && p.TopK < vocab) (values, ids) = scaled.topk(p.TopK);
        else if (p.TopP < 1.0) (values, ids) = TopPCandidatesOf(scaled, p.TopP);
        else { values = scaled; ids = null!; }

        var probs = values.softmax(-1);
        var keep = ones_like(probs, dtype: ScalarType.Bool);
        if (p.TopP < 1.0)
        {
            // Keep the smallest head of the sorted list whose mass reaches top_p (the token that crosses included).
            var before = probs.cumsum(-1).sub_(probs);
            keep = keep.logical_and(before.lt(scalars.Of(p.TopP)));
        }
        if (p.MinP > 0) keep = keep.logical_and(probs.ge(probs.max().mul(scalars.Of(p.MinP))));
        var filtered = probs.mul(keep);
        var cdf = filtered.cumsum(-1);
        double total = cdf[-1].item<float>();
        using var u = tensor(new[] { (float)(s.NextUniform() * total) }, device: cdf.device);
        // The first index whose CDF exceeds the draw has positive filtered mass, so it is a kept token; only a
        // draw rounded up to the total can run past the end, and it falls back to the last kept token.
        long at = searchsorted(cdf, u, right: true).item<long>();
        long last = keep.nonzero().flatten()[-1].item<long>();
        at = Math.Min(at, last);
        return ids is null ? (int)at : (int)ids[at].item<long>();
    }

    static (Tensor, Tensor) TopPCandidatesOf(Tensor scaled, double topP)
    {
        long vocab = scaled.shape[0];
        if (vocab > TopPCandidates)
        {
            var (v, i) = scaled.topk(TopPCandidates);
            // Mass of the candidates under the full distribution: enough if it reaches top_p.
            var mass = v.sub(scaled.logsumexp(0)).exp().sum().item<float>();
            if (mass >= topP) return (v, i);
        }
        return scaled.sort(descending: true);
    }

    /// <summary>Seconds each constrained row spent on its mask (lookup and application); benchmarks listen.</summary>
    public static event Action<double>? ConstraintApplied;

    /// <summary>Sets the logit of every token the constraint does not allow to -inf (in place on a CPU float32 row).</summary>
    static unsafe Tensor Constrain(Tensor row, ReadOnlySpan<ulong> allowed)
    {
        int vocab = (int)row.shape[0];
        if (row.device_type == TorchSharp.DeviceType.CPU && row.dtype == ScalarType.Float32 && row.is_contiguous())
        {
            float* data = TensorMemory.Floats(row);
            int words = Math.Min(allowed.Length, (vocab + 63) / 64), count = 0;
            for (int w = 0; w < words; w++) count += System.Numerics.BitOperations.PopCount(allowed[w]);
            if (count <= 4096)
            {
                // Few tokens allowed (JSON punctuation, enum values, digits): keep their logits, fill the rest at once.
                Span<int> ids = stackalloc int[count];
                Span<float> kept = stackalloc float[count];
                int n = 0;
                for (int w = 0; w < words; w++)
                    for (ulong bits = allowed[w]; bits != 0; bits &= bits - 1)
                    {
                        int id = w * 64 + System.Numerics.BitOperations.TrailingZeroCount(bits);
                        if (id >= vocab) break;
                        ids[n] = id;
                        kept[n++] = data[id];
                    }
                new Span<float>(data, vocab).Fill(float.NegativeInfinity);
                for (int j = 0; j < n; j++) data[ids[j]] = kept[j];
                return row;
            }
            for (int w = 0; w * 64 < vocab; w++)
            {
                ulong bits = w < allowed.Length ? allowed[w] : 0;
                if (bits == ulong.MaxValue) continue;
                int end = Math.Min(64, vocab - w * 64);
                if (bits == 0) { new Span<float>(data + w * 64, end).Fill(float.NegativeInfinity); continue; }
                // Only the cleared bits: most words of a constrained state are all-clear or all-set.
                ulong clear = ~bits & (end == 64 ? ulong.MaxValue : (1UL << end) - 1);
                while (clear != 0)
                {
                    data[w * 64 + System.Numerics.BitOperations.TrailingZeroCount(clear)] = float.NegativeInfinity;
                    clear &= clear - 1;
                }
            }
            return row;
        }
        var keep = new bool[vocab];
        for (int i = 0; i < vocab; i++) keep[i] = i / 64 < allowed.Length && (allowed[i / 64] & (1UL << (i % 64))) != 0;
        using var k = tensor(keep, device: row.device);
        using var notKeep = k.logical_not();
        return row.masked_fill_(notKeep, Scalars.NegativeInfinity);
    }

    /// <summary>
    /// Prompt logprobs from logits rows (float32, one per predicting position): row i predicts targets[i]. The
    /// log-softmax, the target's logprob, its rank (1 + the number of tokens more likely) and the topN alternatives.
    /// </summary>
    public static PromptLogprob[] PromptLogprobs(Tensor rows, IReadOnlyList<int> targets, int topN)
    {
        if (rows.shape[0] != targets.Count) throw new ArgumentException($"{rows.shape[0]} rows of logits for {targets.Count} prompt tokens");
        if (targets.Count == 0) return [];
        using var mode = inference_mode();
        using var scope = NewDisposeScope();
        var logp = rows.to(ScalarType.Float32).log_softmax(-1);
        using var idx = tensor(targets.Select(x => (long)x).ToArray(), device: logp.device);
        var chosen = logp.gather(1, idx.unsqueeze(1));                           // [n, 1]
        var ranks = logp.gt(chosen).sum(1, type: ScalarType.Int64).add_(Scalars.One, Scalars.One);    // [n]
        var chosenCpu = chosen.squeeze(1).cpu().data<float>().ToArray();
        var ranksCpu = ranks.cpu().data<long>().ToArray();
        float[]? topV = null;
        long[]? topI = null;
        if (topN > 0)
        {
            var (v, i) = logp.topk(topN, dim: 1);
            topV = v.cpu().data<float>().ToArray();
            topI = i.cpu().data<long>().ToArray();
        }
        var result = new PromptLogprob[targets.Count];
        for (int r = 0; r < result.Length; r++)
        {
            var top = new TokenLogprob[topN];
            for (int k = 0; k < topN; k++) top[k] = new TokenLogprob((int)topI![r * topN + k], topV![r * topN + k]);
            result[r] = new PromptLogprob(targets[r], chosenCpu[r], (int)ranksCpu[r], top);
        }
        return result;
    }

    static SampledToken WithLogprobs(int token, Tensor logp, int topN)
    {
        float chosen = logp[token].item<float>();
        if (topN == 0) return new SampledToken(token, chosen, []);
        var (v, i) = logp.topk(topN);
        var vs = v.cpu().data<float>().ToArray();   // the caller's row scope disposes these; data<T> needs the CPU
        var ix = i.cpu().data<long>().ToArray();
        return new SampledToken(token, chosen, vs.Select((x, k) => new TokenLogprob((int)ix[k], x)).ToArray());
    }
}
