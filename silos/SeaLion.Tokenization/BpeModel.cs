using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Text;

namespace SeaLion.Tokenization;

/// <summary>
/// Byte-level BPE over one pre-token: the piece's UTF-8 bytes start as single-byte tokens and the
/// adjacent pair with the lowest merge rank (leftmost on ties) is merged until no ranked pair remains,
/// exactly the order HF's heap-based Word::merge_all produces. Immutable after construction except for
/// the bounded, thread-safe piece cache, so one instance can serve many threads.
/// </summary>
internal sealed class BpeModel
{
    private const int MaxCachedPieceLength = 64;
    private const int CacheCapacity = 100_000;
    private const int StackLimit = 128;

    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _vocab;
    private readonly int[] _byteToId;
    private readonly Dictionary<long, int> _mergeRanks;
    private readonly int[] _mergeResults;
    private readonly bool _ignoreMerges;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _cacheLookup;
    private int _cacheCount;

    /// <param name="vocab">Byte-level token strings to ids (ordinal keys).</param>
    /// <param name="mergeIds">Merge rules in rank order as (left id, right id, merged id).</param>
    public BpeModel(Dictionary<string, int> vocab, IReadOnlyList<(int Left, int Right, int Merged)> mergeIds,
        bool ignoreMerges)
    {
        _vocab = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        _ignoreMerges = ignoreMerges;
        _byteToId = new int[256];
        Span<char> one = stackalloc char[1];
        for (int b = 0; b < 256; b++)
        {
            one[0] = ByteLevelAlphabet.ByteToChar[b];
            _byteToId[b] = _vocab.TryGetValue(one, out int id) ? id : -1;
        }
        _mergeRanks = new Dictionary<long, int>(mergeIds.Count, PairComparer.Instance);
        _mergeResults = new int[mergeIds.Count];
        for (int rank = 0; rank < mergeIds.Count; rank++)
        {
            var (left, right, merged) = mergeIds[rank];
            // A repeated pair keeps its last rank, as HF's HashMap collect does.
            _mergeRanks[PairKey(left, right)] = rank;
            _mergeResults[rank] = merged;
        }
        _cacheLookup = _cache.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>The merge table's pair keys and how they are hashed (tests check the keys spread over buckets).</summary>
    internal IReadOnlyCollection<long> PairKeys => _mergeRanks.Keys;
    internal IEqualityComparer<long> PairKeyComparer => _mergeRanks.Comparer;

    /// <summary>Appends the ids of one pre-token (UTF-16 text; lone surrogates become U+FFFD bytes).</summary>
    public void EncodePiece(ReadOnlySpan<char> piece, List<int> output)
    {
        bool cacheable = piece.Length <= MaxCachedPieceLength;
        if (cacheable && _cacheLookup.TryGetValue(piece, out int[]? cached))
        {
            output.AddRange(cached);
            return;
        }
        int start = output.Count;
        int maxBytes = piece.Length * 3;
        byte[]? rented = maxBytes > StackLimit * 3 ? ArrayPool<byte>.Shared.Rent(maxBytes) : null;
        Span<byte> buffer = rented is null ? stackalloc byte[StackLimit * 3] : rented;
        int length = Encoding.UTF8.GetBytes(piece, buffer);
        EncodeBytes(buffer[..length], output);
        if (rented is not null) ArrayPool<byte>.Shared.Return(rented);

        if (cacheable && Volatile.Read(ref _cacheCount) < CacheCapacity
            && _cache.TryAdd(piece.ToString(), CollectionsMarshal.AsSpan(output)[start..].ToArray()))
        {
            Interlocked.Increment(ref _cacheCount);
        }
    }

    /// <summary>Appends the ids for the bytes of one pre-token.</summary>
    public void EncodeBytes(ReadOnlySpan<byte> bytes, List<int> output)
    {
        if (bytes.IsEmpty) return;
        int n = bytes.Length;
        if (_ignoreMerges && TryWholeToken(bytes, out int whole))
        {
            output.Add(whole);
            return;
        }

        int[]? rentedInts = n > StackLimit ? ArrayPool<int>.Shared.Rent(3 * n) : null;
        long[]? rentedHeap = n > StackLimit ? ArrayPool<long>.Shared.Rent(3 * n) : null;
        Span<int> ints = rentedInts is null ? stackalloc int[3 * StackLimit] : rentedInts;
        Span<int> sym = ints[..n], prev = ints.Slice(n, n), next = ints.Slice(2 * n, n);
        var heap = new MergeHeap(rentedHeap is null ? stackalloc long[3 * StackLimit] : rentedHeap);

        // Bytes with no single-byte token are dropped, as HF's BPE does when there is no unk token.
        int count = 0;
        foreach (byte b in bytes)
        {
            int id = _byteToId[b];
            if (id >= 0) sym[count++] = id;
        }
        for (int i = 0; i < count; i++)
        {
            prev[i] = i - 1;
            next[i] = i + 1 < count ? i + 1 : -1;
        }
        for (int i = 0; i + 1 < count; i++)
        {
            if (_mergeRanks.TryGetValue(PairKey(sym[i], sym[i + 1]), out int rank)) heap.Push(HeapKey(rank, i));
        }

        // Invariant: the heap holds every live adjacent pair that has a rank (plus stale entries, skipped
        // when their pair no longer exists), so each pop is the lowest-rank, leftmost live pair.
        while (heap.TryPop(out long key))
        {
            int rank = (int)(key >> 32), pos = (int)key;
            int right = next[pos];
            if (sym[pos] < 0 || right < 0) continue;
            if (!_mergeRanks.TryGetValue(PairKey(sym[pos], sym[right]), out int live) || live != rank) continue;

            sym[pos] = _mergeResults[rank];
            sym[right] = -1;
            int after = next[right];
            next[pos] = after;
            if (after >= 0) prev[after] = pos;
            int before = prev[pos];
            if (before >= 0 && _mergeRanks.TryGetValue(PairKey(sym[before], sym[pos]), out int r1))
                heap.Push(HeapKey(r1, before));
            if (after >= 0 && _mergeRanks.TryGetValue(PairKey(sym[pos], sym[after]), out int r2))
                heap.Push(HeapKey(r2, pos));
        }
        for (int i = count > 0 ? 0 : -1; i >= 0; i = next[i]) output.Add(sym[i]);

        if (rentedInts is not null) ArrayPool<int>.Shared.Return(rentedInts);
        if (rentedHeap is not null) ArrayPool<long>.Shared.Return(rentedHeap);
    }

    private bool TryWholeToken(ReadOnlySpan<byte> bytes, out int id)
    {
        char[]? rented = bytes.Length > StackLimit ? ArrayPool<char>.Shared.Rent(bytes.Length) : null;
        Span<char> chars = (rented is null ? stackalloc char[StackLimit] : rented)[..bytes.Length];
        ByteLevelAlphabet.Encode(bytes, chars);
        bool found = _vocab.TryGetValue(chars, out id);
        if (rented is not null) ArrayPool<char>.Shared.Return(rented);
        return found;
    }

    private static long PairKey(int left, int right) => ((long)left << 32) | (uint)right;

    private static long HeapKey(int rank, int pos) => ((long)rank << 32) | (uint)pos;

    /// <summary>
    /// Pair keys hashed by mixing all 64 bits: long's own hash (high ^ low word) sends every pair of a token with
    /// itself to 0, so the 548 merges of Llama 3 of that kind shared one bucket, and a long run of one character
    /// ("aaaa...", spaces, "!!!!") took ~19 us a byte, ~20 s for 1 MiB of text in one request.
    /// </summary>
    private sealed class PairComparer : IEqualityComparer<long>
    {
        public static readonly PairComparer Instance = new();
        public bool Equals(long x, long y) => x == y;
        public int GetHashCode(long key) => (int)(((ulong)key * 0x9E3779B97F4A7C15UL) >> 32);
    }

    /// <summary>Binary min-heap of (rank, position) keys over caller-provided storage.</summary>
    private ref struct MergeHeap(Span<long> items)
    {
        private readonly Span<long> _items = items;
        private int _count;

        public void Push(long key)
        {
            int i = _count++;
            while (i > 0)
            {
                int parent = (i - 1) >> 1;
                if (_items[parent] <= key) break;
                _items[i] = _items[parent];
                i = parent;
            }
            _items[i] = key;
        }

        public bool TryPop(out long key)
        {
            if (_count == 0)
            {
                key = 0;
                return false;
            }
            key = _items[0];
            long last = _items[--_count];
            int i = 0;
            while (true)
            {
                int child = 2 * i + 1;
                if (child >= _count) break;
                if (child + 1 < _count && _items[child + 1] < _items[child]) child++;
                if (last <= _items[child]) break;
                _items[i] = _items[child];
                i = child;
            }
            if (_count > 0) _items[i] = last;
            return true;
        }
    }
}
