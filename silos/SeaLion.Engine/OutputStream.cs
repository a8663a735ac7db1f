using SeaLion.Model.Sampling;
using SeaLion.Tokenization;

namespace SeaLion.Engine;

/// <summary>
/// Turns a request's sampled tokens into streamed outputs: incremental detokenization, stop strings (held back
/// while they may still match, looked for only once min_tokens exist), the decision to finish, and the prompt
/// logprobs on the first output. Owned by the step thread.
/// </summary>
internal sealed class OutputStream(string requestId, IncrementalDetokenizer detokenizer, SamplingParams p, IReadOnlySet<int> stopIds, Action<EngineOutput> emit)
{
    readonly StopStrings _stops = new(p.Stop, p.IncludeStopStrInOutput);

    /// <summary>
    /// Replays tokens a lost engine already delivered, so the detokenizer and the stop-string matcher are where
    /// that stream left them (text held back for a possible stop string is held back again); nothing is emitted.
    /// </summary>
    public void Prime(IEnumerable<int> delivered)
    {
        int n = 0;
        foreach (int t in delivered) Text(detokenizer.Push(t), ++n);
    }

    /// <summary>Text safe to emit after the request's n-th output token: before min_tokens, stop strings are not looked for.</summary>
    string Text(string delta, int outputTokens) => outputTokens > p.MinTokens ? _stops.Push(delta) : _stops.Pass(delta);

    /// <summary>Handles one new token; returns the finish reason if the request is now done.</summary>
    public string? OnToken(EngineRequest r, SampledToken sample, int maxContext)
    {
        int token = sample.TokenId;
        string? finish = null;
        string text;
        if (stopIds.Contains(token))
        {
            finish = "stop";
            // The stop token's own text (empty for a special token unless skip_special_tokens is off) only on request.
            string own = p.IncludeStopStrInOutput ? detokenizer.Push(token) : "";
            text = _stops.Push(own + detokenizer.Flush()) + _stops.Flush();
        }
        else
        {
            text = Text(detokenizer.Push(token), r.NumOutputTokens);
            if (_stops.Stopped) finish = "stop";
            else if (r.Sampling.Constraint is { IsComplete: true })
            {
                // The structured output is whole and nothing may follow it.
                finish = "stop";
                text += _stops.Push(detokenizer.Flush()) + _stops.Flush();
            }
            else if (r.NumOutputTokens >= p.MaxTokens || r.NumTokens >= maxContext)
            {
                finish = "length";
                text += _stops.Push(detokenizer.Flush()) + _stops.Flush();
            }
        }
        emit(new EngineOutput(requestId, [token], text, p.Logprobs is null ? null : [sample], finish,
            finish is null ? null : new EngineUsage(r.NumPromptTokens, r.NumCachedTokens, r.NumOutputTokens))
        {
            PromptLogprobs = TakePromptLogprobs(r), QueueSeconds = finish is null ? null : r.FirstScheduledTime - r.ArrivalTime,
        });
        return finish;
    }

    /// <summary>Ends the request with no token (max_tokens 0: prompt logprobs only).</summary>
    public void Finish(EngineRequest r, string reason) =>
        emit(new EngineOutput(requestId, [], "", null, reason, new EngineUsage(r.NumPromptTokens, r.NumCachedTokens, r.NumOutputTokens)) { PromptLogprobs = TakePromptLogprobs(r) });

    /// <summary>The prompt logprobs (positions 1..), once, with the first output; every position was computed by now.</summary>
    static IReadOnlyList<PromptLogprob>? TakePromptLogprobs(EngineRequest r)
    {
        if (r.PromptLogprobs is not { } all || r.PromptLogprobsSent) return null;
        r.PromptLogprobsSent = true;
        var list = new PromptLogprob[all.Length - 1];
        for (int i = 1; i < all.Length; i++)
            list[i - 1] = all[i] ?? throw new InvalidOperationException($"request {r.Id}: the prompt logprob at position {i} was never computed");
        return list;
    }

    public void Abort(EngineRequest r) =>
        emit(new EngineOutput(requestId, [], "", null, "abort", new EngineUsage(r.NumPromptTokens, r.NumCachedTokens, r.NumOutputTokens)));
}
