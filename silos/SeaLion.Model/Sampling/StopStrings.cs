namespace SeaLion.Model.Sampling;

/// <summary>
/// Watches a sequence's streamed text for stop strings. Text that could still be the start of a stop string
/// is held back until it can be ruled out, so a client never sees part of a stop string; the matched stop
/// string itself is not emitted (OpenAI semantics) unless <paramref name="includeStop"/> (vLLM's
/// include_stop_str_in_output).
/// </summary>
public sealed class StopStrings(IReadOnlyList<string> stops, bool includeStop = false)
{
    readonly System.Text.StringBuilder _pending = new();
    readonly int _holdBack = stops.Count == 0 ? 0 : stops.Max(s => s.Length) - 1;

    public bool Stopped { get; private set; }

    /// <summary>Adds a text delta; returns the text that is now safe to emit.</summary>
    public string Push(string delta)
    {
        if (Stopped || delta.Length == 0) return "";
        if (stops.Count == 0) return delta;
        _pending.Append(delta);
        string text = _pending.ToString();
        int first = -1, end = -1;
        foreach (var s in stops)
        {
            int i = text.IndexOf(s, StringComparison.Ordinal);
            if (i >= 0 && (first < 0 || i < first)) (first, end) = (i, i + s.Length);
        }
        if (first >= 0)
        {
            Stopped = true;
            _pending.Clear();
            return text[..(includeStop ? end : first)];
        }
        int safe = Math.Max(0, text.Length - _holdBack);
        // Hold back only a suffix that is a prefix of some stop string.
        while (safe < text.Length && !stops.Any(s => s.StartsWith(text[safe..], StringComparison.Ordinal))) safe++;
        if (safe > 0 && safe < text.Length && char.IsHighSurrogate(text[safe - 1])) safe--;
        _pending.Remove(0, safe);
        return text[..safe];
    }

    /// <summary>Adds a delta that is not searched (min_tokens not reached): what is held back and the delta, at once.</summary>
    public string Pass(string delta)
    {
        if (Stopped) return "";
        string held = _pending.ToString();
        _pending.Clear();
        return held + delta;
    }

    /// <summary>End of the stream without a stop string: whatever is held back is emitted.</summary>
    public string Flush()
    {
        string rest = _pending.ToString();
        _pending.Clear();
        return Stopped ? "" : rest;
    }
}
