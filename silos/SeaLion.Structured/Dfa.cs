namespace SeaLion.Structured;

/// <summary>
/// The NFA determinized eagerly (subset construction over bytes) with a bound on its states, so a constraint that
/// is too large is refused at compile time rather than discovered mid-generation. Transitions are a short[256]
/// per state (-1: dead), read without locks once built.
/// </summary>
internal sealed class Dfa
{
    public const short Dead = -1;
    readonly List<short[]> _next = [];
    readonly List<bool> _accepting = [];
    readonly List<bool> _hasOutgoing = [];

    public int Start => 0;
    public int Count => _next.Count;
    public bool Accepting(int s) => _accepting[s];
    /// <summary>Some byte continues from this state (false: only the end of the output is left).</summary>
    public bool HasOutgoing(int s) => _hasOutgoing[s];
    public int Next(int s, byte b) => _next[s][b];

    public static Dfa Build(Nfa nfa, int maxStates)
    {
        var dfa = new Dfa();
        var ids = new Dictionary<StateSet, short>();
        var sets = new List<int[]>();
        short Add(int[] set)
        {
            var key = new StateSet(set);
            if (ids.TryGetValue(key, out short id)) return id;
            if (sets.Count >= maxStates)
                throw new ConstraintException($"the constraint's automaton exceeds {maxStates} states; use smaller bounds (maxLength, maxItems, repetition counts) or a simpler pattern");
            id = (short)sets.Count;
            ids[key] = id;
            sets.Add(set);
            dfa._next.Add(new short[256]);
            dfa._accepting.Add(Array.BinarySearch(set, nfa.Accept) >= 0);
            dfa._hasOutgoing.Add(set.Any(s => nfa.Edges[s].Count > 0));
            return id;
        }
        Add(Closure(nfa, [nfa.Start]));
        var targets = new List<int>();
        for (int d = 0; d < sets.Count; d++)
        {
            var set = sets[d];
            // Byte boundaries where the set of live edges changes: one subset computation per interval, not per byte.
            var cuts = new SortedSet<int> { 0, 256 };
            foreach (int s in set)
                foreach (var (lo, hi, _) in nfa.Edges[s]) { cuts.Add(lo); cuts.Add(hi + 1); }
            var row = dfa._next[d];
            int prev = -1;
            foreach (int cut in cuts)
            {
                if (prev >= 0)
                {
                    targets.Clear();
                    foreach (int s in set)
                        foreach (var (lo, hi, to) in nfa.Edges[s])
                            if (prev >= lo && prev <= hi) targets.Add(to);
                    short to2 = targets.Count == 0 ? Dead : Add(Closure(nfa, targets));
                    for (int b = prev; b < cut; b++) row[b] = to2;
                }
                prev = cut;
            }
        }
        return dfa;
    }

    static int[] Closure(Nfa nfa, IEnumerable<int> from)
    {
        var seen = new HashSet<int>();
        var stack = new Stack<int>(from);
        while (stack.Count > 0)
        {
            int s = stack.Pop();
            if (!seen.Add(s)) continue;
            foreach (int e in nfa.Epsilon[s]) stack.Push(e);
        }
        // Only states with byte edges, or the accept state, matter for identity: epsilon-only states are transit.
        var key = seen.Where(s => nfa.Edges[s].Count > 0 || s == nfa.Accept).ToArray();
        Array.Sort(key);
        return key;
    }

    readonly struct StateSet(int[] states) : IEquatable<StateSet>
    {
        readonly int[] _s = states;
        readonly int _hash = Hash(states);
        static int Hash(int[] s) { var h = new HashCode(); foreach (int x in s) h.Add(x); return h.ToHashCode(); }
        public bool Equals(StateSet o) => _hash == o._hash && _s.AsSpan().SequenceEqual(o._s);
        public override bool Equals(object? o) => o is StateSet s && Equals(s);
        public override int GetHashCode() => _hash;
    }
}
