using System.Collections.Concurrent;

namespace SeaLion.Structured;

/// <summary>
/// A tokenizer's vocabulary as a byte trie, for walking every token against an automaton at once (tokens sharing a
/// prefix share the walk). Special tokens are left out: their text is not output bytes; the end-of-sequence ids are
/// allowed separately, where the constraint accepts.
/// </summary>
public sealed class Vocabulary
{
    // Trie in arrays: node n's children are ChildStart[n] .. ChildStart[n+1]-1 in Child / ChildByte order.
    internal readonly int[] ChildStart;
    internal readonly int[] Child;
    internal readonly byte[] ChildByte;
    // Tokens ending at node n: TokenStart[n] .. TokenStart[n+1]-1 in Tokens.
    internal readonly int[] TokenStart;
    internal readonly int[] Tokens;

    public int Size { get; }
    public IReadOnlyList<int> EosTokenIds { get; }

    /// <param name="tokenBytes">Each token id's bytes; null for a special token.</param>
    public Vocabulary(int size, Func<int, byte[]?> tokenBytes, IReadOnlyList<int> eosTokenIds)
    {
        Size = size;
        EosTokenIds = eosTokenIds;
        // Build with dictionaries, then flatten breadth-first into arrays.
        var children = new List<SortedDictionary<byte, int>> { new() };
        var ending = new List<List<int>?> { null };
        for (int id = 0; id < size; id++)
        {
            var bytes = tokenBytes(id);
            if (bytes is null || bytes.Length == 0) continue;
            int node = 0;
            foreach (byte b in bytes)
            {
                if (!children[node].TryGetValue(b, out int next))
                {
                    next = children.Count;
                    children.Add(new());
                    ending.Add(null);
                    children[node][b] = next;
                }
                node = next;
            }
            (ending[node] ??= []).Add(id);
        }
        int n = children.Count;
        ChildStart = new int[n + 1];
        Child = new int[n - 1];
        ChildByte = new byte[n - 1];
        TokenStart = new int[n + 1];
        var tokens = new List<int>();
        int at = 0;
        for (int i = 0; i < n; i++)
        {
            ChildStart[i] = at;
            foreach (var (b, c) in children[i]) { Child[at] = c; ChildByte[at] = b; at++; }
            TokenStart[i] = tokens.Count;
            if (ending[i] is { } ids) tokens.AddRange(ids);
        }
        ChildStart[n] = at;
        TokenStart[n] = tokens.Count;
        Tokens = [.. tokens];
        _bytes = new byte[size][];
        for (int id = 0; id < size; id++) _bytes[id] = tokenBytes(id) ?? [];
    }

    readonly byte[][] _bytes;
    /// <summary>The token's bytes (empty for a special token).</summary>
    public ReadOnlySpan<byte> Bytes(int id) => _bytes[id];
    public bool IsSpecial(int id) => _bytes[id].Length == 0;
    internal int Words => (Size + 63) / 64;
}
