using SeaLion.Model.Sampling;
using SeaLion.Tokenization;

namespace SeaLion.Engine;

/// <summary>
/// Turns a request's sampled tokens into streamed outputs: incremental detokenization, stop strings (held back
/// while they may still match), and the decision to finish. Owned by the step thread.
/// </summary>
internal sealed class OutputStream(string requestId, IncrementalDetokenizer detokenizer, SamplingParams p, IReadOnlySet<int> stopIds, Action<EngineOutput> emit)
{
    readonly StopStrings _stops = new(p.Stop);

    /// <summary>
    /// Replays tokens a lost engine already delivered, so the detokenizer and the stop-string matcher are where
    /// that stream left them (text held back for a possible stop string is held back again); nothing is emitted.
    /// </summary>
    public void Prime(IEnumerable<int> delivered)
    {
        foreach (int t in delivered) _stops.Push(detokenizer.Push(t));
    }

    /// <summary>Handles one new token; returns the finish reason if the request is now done.</summary>
    public string? OnToken(EngineRequest r, SampledToken sample, int maxContext)
    {
        int token = sample.TokenId;
        string? finish = null;
        string text;
        if (stopIds.Contains(token))
        {
            finish = "stop";
            text = _stops.Push(detokenizer.Flush()) + _stops.Flush();
        }
        else
        {
            text = _stops.Push(detokenizer.Push(token));
            if (_stops.Stopped) finish = "stop";
            else if (r.NumOutputTokens >= p.MaxTokens || r.NumTokens >= maxContext)
            {
                finish = "length";
                text += _stops.Push(detokenizer.Flush()) + _stops.Flush();
            }
        }
        emit(new EngineOutput(requestId, [token], text, p.Logprobs is null ? null : [sample], finish,
            finish is null ? null : new EngineUsage(r.NumPromptTokens, r.NumCachedTokens, r.NumOutputTokens)));
        return finish;
    }

    public void Abort(EngineRequest r) =>
        emit(new EngineOutput(requestId, [], "", null, "abort", new EngineUsage(r.NumPromptTokens, r.NumCachedTokens, r.NumOutputTokens)));
}
