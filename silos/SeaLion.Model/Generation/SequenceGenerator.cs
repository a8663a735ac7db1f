using SeaLion.Model.Llama;
using SeaLion.Model.Sampling;
using SeaLion.Tokenization;

namespace SeaLion.Model.Generation;

/// <summary>One generated token, the text it completed, and why generation ended (on the last step only).</summary>
public sealed record GenerationStep(int TokenId, string TextDelta, SampledToken Sample, string? FinishReason);

/// <summary>
/// Generates one sequence on its own: prefill, then one decode step per token, with the sampler, stop ids,
/// stop strings and max_tokens. The CLI's generate verb and the model benchmark use it; the engine batches
/// many sequences with the same pieces.
/// </summary>
public static class SequenceGenerator
{
    public static IEnumerable<GenerationStep> Generate(LlamaModel model, BpeTokenizer tokenizer, int[] prompt, SamplingParams p,
        CancellationToken cancellationToken = default)
    {
        var config = model.Config;
        p.Validate(config.VocabSize);
        if (prompt.Length == 0) throw new ArgumentException("prompt must hold at least one token", nameof(prompt));
        if (prompt.Length + p.MaxTokens > config.MaxPositions)
            throw new ArgumentException(
                $"prompt ({prompt.Length} tokens) + max_tokens ({p.MaxTokens}) = {prompt.Length + p.MaxTokens} exceeds the context length of {config.MaxPositions}");
        foreach (int id in prompt)
            if (id < 0 || id >= config.VocabSize) throw new ArgumentOutOfRangeException(nameof(prompt), id, $"prompt token id outside the vocabulary (vocab_size {config.VocabSize})");

        var stopIds = new HashSet<int>(p.StopTokenIds);
        if (!p.IgnoreEos) stopIds.UnionWith(config.EosTokenIds);
        const int blockSize = 16;
        using var cache = model.CreateKvCache((prompt.Length + p.MaxTokens + blockSize - 1) / blockSize, blockSize);
        int[] table = Enumerable.Range(0, cache.NumBlocks).ToArray();
        var state = new SamplingState(p, prompt);
        var detok = tokenizer.CreateDetokenizer(skipSpecialTokens: true);
        var stops = new StopStrings(p.Stop);

        int[] input = prompt;
        int context = prompt.Length;
        for (int step = 0; step < p.MaxTokens; step++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            SampledToken sample;
            using (var logits = model.Forward(new ForwardBatch { TokenIds = input, Sequences = [new SequenceChunk(input.Length, context, table)] }, cache))
                sample = Sampler.Sample(logits, [state])[0];
            int token = sample.TokenId;
            state.Append(token);
            string? finish = null;
            string text;
            if (stopIds.Contains(token)) { finish = "stop"; text = stops.Push(detok.Flush()) + stops.Flush(); }
            else
            {
                text = stops.Push(detok.Push(token));
                if (stops.Stopped) finish = "stop";
                else if (step == p.MaxTokens - 1) { finish = "length"; text += stops.Push(detok.Flush()) + stops.Flush(); }
            }
            yield return new GenerationStep(token, text, sample, finish);
            if (finish is not null) yield break;
            input = [token];
            context++;
        }
    }
}
