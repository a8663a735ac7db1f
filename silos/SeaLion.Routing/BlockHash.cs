namespace SeaLion.Routing;

/// <summary>
/// The identity of a full block of tokens in the prefix cache: a hash chained over the parent block's hash and
/// this block's token ids, so equal hashes mean equal whole prefixes. 128 bits (two independent 64-bit
/// mixes) make an accidental collision across a cluster's lifetime negligible (~n²/2^129).
/// The same chain is computed by the router from a prompt, so it must never change between versions.
/// </summary>
public readonly record struct BlockHash(ulong Hi, ulong Lo)
{
    public static readonly BlockHash None = default;

    public static BlockHash Of(BlockHash parent, ReadOnlySpan<int> tokens)
    {
        ulong a = parent.Hi ^ 0x9E3779B97F4A7C15UL, b = parent.Lo ^ 0xC2B2AE3D27D4EB4FUL;
        foreach (int t in tokens)
        {
            a = Mix(a ^ (uint)t);
            b = Mix(b + (uint)t * 0xFF51AFD7ED558CCDUL);
        }
        return new BlockHash(Mix(a ^ (ulong)tokens.Length), Mix(b ^ ((ulong)tokens.Length << 32)));
    }

    /// <summary>The hash chain of every full block of a token sequence.</summary>
    public static List<BlockHash> Chain(IReadOnlyList<int> tokens, int blockSize, List<BlockHash>? extend = null)
    {
        var hashes = extend ?? new List<BlockHash>();
        int full = tokens.Count / blockSize;
        Span<int> buf = stackalloc int[blockSize];
        for (int b = hashes.Count; b < full; b++)
        {
            for (int i = 0; i < blockSize; i++) buf[i] = tokens[b * blockSize + i];
            hashes.Add(Of(b == 0 ? None : hashes[b - 1], buf));
        }
        return hashes;
    }

    static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public override string ToString() => $"{Hi:x16}{Lo:x16}";
}
