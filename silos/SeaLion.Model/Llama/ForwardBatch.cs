namespace SeaLion.Model.Llama;

/// <summary>
/// One sequence's slice of a forward batch. Its query tokens are the last <see cref="QueryLength"/> of its
/// <see cref="ContextLength"/> tokens (positions ContextLength-QueryLength .. ContextLength-1); the KV of the
/// earlier ones must already be in the cache. The block table maps position p to cache slot
/// BlockTable[p / blockSize] * blockSize + p % blockSize. A chunk that ends mid-prompt needs no logits.
/// <see cref="AllTokenLogits"/>: a logits row for every query token (prompt logprobs), not only the last.
/// </summary>
public sealed record SequenceChunk(int QueryLength, int ContextLength, IReadOnlyList<int> BlockTable, bool ComputeLogits = true, bool AllTokenLogits = false);

/// <summary>
/// A flat batch of tokens from any number of sequences, prefill chunks and decode steps mixed: the input of
/// one forward pass. The caller (the engine) owns the KV cache and the block tables.
/// </summary>
public sealed class ForwardBatch
{
    /// <summary>Query tokens of every sequence, concatenated in the order of <see cref="Sequences"/>.</summary>
    public required int[] TokenIds { get; init; }
    public required IReadOnlyList<SequenceChunk> Sequences { get; init; }
    /// <summary>Logits for every token (tests, prompt logprobs) instead of only each sequence's last token.</summary>
    /// <remarks>Without it, the logits rows are, in order, every query token of a sequence with
    /// <see cref="SequenceChunk.AllTokenLogits"/> and the last of one with <see cref="SequenceChunk.ComputeLogits"/>.</remarks>
    public bool AllLogits { get; init; }

    /// <summary>A single sequence whose blocks are 0..n-1 of the cache.</summary>
    public static ForwardBatch Single(int[] tokens, int contextLength, int blockSize)
    {
        int blocks = (contextLength + blockSize - 1) / blockSize;
        return new ForwardBatch
        {
            TokenIds = tokens,
            Sequences = [new SequenceChunk(tokens.Length, contextLength, Enumerable.Range(0, blocks).ToArray())],
        };
    }
}
