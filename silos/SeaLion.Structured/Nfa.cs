namespace SeaLion.Structured;

/// <summary>
/// A byte-level NFA built from a <see cref="Node"/> by continuation passing (each piece is compiled knowing the
/// state that follows it), so shared suffixes, such as the rest of an object after an optional property, are
/// built once. Code point sets become UTF-8 byte-range sequences.
/// </summary>
internal sealed class Nfa
{
    public readonly List<List<(byte Lo, byte Hi, int To)>> Edges = [];
    public readonly List<List<int>> Epsilon = [];
    public int Start { get; private set; }
    public int Accept { get; private set; }
    readonly int _maxStates;

    Nfa(int maxStates) => _maxStates = maxStates;

    public static Nfa Build(Node root, int maxStates)
    {
        var nfa = new Nfa(maxStates);
        nfa.Accept = nfa.NewState();
        nfa.Start = nfa.Compile(root, nfa.Accept);
        return nfa;
    }

    public int Count => Edges.Count;

    int NewState()
    {
        if (Edges.Count >= _maxStates)
            throw new ConstraintException($"the constraint's automaton exceeds {_maxStates} states; use smaller bounds (maxLength, maxItems, repetition counts) or a simpler pattern");
        Edges.Add([]);
        Epsilon.Add([]);
        return Edges.Count - 1;
    }

    int Compile(Node node, int next)
    {
        switch (node)
        {
            case Chars c:
            {
                int start = NewState();
                foreach (var seq in Utf8Ranges.Of(c.Set))
                {
                    int cur = start;
                    for (int i = 0; i < seq.Length - 1; i++)
                    {
                        int t = NewState();
                        Edges[cur].Add((seq[i].Lo, seq[i].Hi, t));
                        cur = t;
                    }
                    Edges[cur].Add((seq[^1].Lo, seq[^1].Hi, next));
                }
                return start;
            }
            case Seq s:
                for (int i = s.Items.Length - 1; i >= 0; i--) next = Compile(s.Items[i], next);
                return next;
            case Alt a:
            {
                int start = NewState();
                foreach (var o in a.Options) Epsilon[start].Add(Compile(o, next));
                return start;
            }
            case Repeat r:
            {
                int cur;
                if (r.Max < 0)
                {
                    int loop = NewState();
                    Epsilon[loop].Add(next);
                    Epsilon[loop].Add(Compile(r.Item, loop));
                    cur = loop;
                }
                else
                {
                    cur = next;
                    for (int i = 0; i < r.Max - r.Min; i++)
                    {
                        int s = NewState();
                        Epsilon[s].Add(next);
                        Epsilon[s].Add(Compile(r.Item, cur));
                        cur = s;
                    }
                }
                for (int i = 0; i < r.Min; i++) cur = Compile(r.Item, cur);
                return cur;
            }
            case Members m:
            {
                // after[h]: the start of items i.. given whether an item was already written (h = 1 needs a separator).
                int[] after = [next, next];
                for (int i = m.Items.Length - 1; i >= 0; i--)
                {
                    int item = Compile(m.Items[i].Node, after[1]);
                    int withSep = Compile(m.Separator, item);
                    int[] here = new int[2];
                    for (int h = 0; h < 2; h++)
                    {
                        int take = h == 1 ? withSep : item;
                        if (m.Items[i].Required) here[h] = take;
                        else
                        {
                            int s = NewState();
                            Epsilon[s].Add(take);
                            Epsilon[s].Add(after[h]);
                            here[h] = s;
                        }
                    }
                    after = here;
                }
                return after[0];
            }
            default: throw new InvalidOperationException($"unknown node {node.GetType().Name}");
        }
    }
}

/// <summary>Unicode scalar ranges as UTF-8 byte-range sequences (RE2's construction).</summary>
internal static class Utf8Ranges
{
    public static List<(byte Lo, byte Hi)[]> Of(CharSet set)
    {
        var result = new List<(byte, byte)[]>();
        foreach (var (lo, hi) in set.Ranges) Split(lo, hi, result);
        return result;
    }

    static readonly int[] Max = [0x7F, 0x7FF, 0xFFFF, 0x10FFFF];

    static void Split(int lo, int hi, List<(byte, byte)[]> into)
    {
        // Split at the encoding-length boundaries first.
        for (int i = 0; i < Max.Length - 1; i++)
            if (lo <= Max[i] && hi > Max[i])
            {
                Split(lo, Max[i], into);
                Split(Max[i] + 1, hi, into);
                return;
            }
        int n = lo <= 0x7F ? 1 : lo <= 0x7FF ? 2 : lo <= 0xFFFF ? 3 : 4;
        if (n == 1) { into.Add([((byte)lo, (byte)hi)]); return; }
        // Then until every continuation byte range is full or both ends share their prefix.
        for (int i = 1; i < n; i++)
        {
            int m = (1 << (6 * i)) - 1;
            if ((lo & ~m) != (hi & ~m))
            {
                if ((lo & m) != 0) { Split(lo, lo | m, into); Split((lo | m) + 1, hi, into); return; }
                if ((hi & m) != m) { Split(lo, (hi & ~m) - 1, into); Split(hi & ~m, hi, into); return; }
            }
        }
        byte[] a = Encode(lo, n), b = Encode(hi, n);
        var seq = new (byte, byte)[n];
        for (int i = 0; i < n; i++) seq[i] = (a[i], b[i]);
        into.Add(seq);
    }

    static byte[] Encode(int c, int n) => n switch
    {
        2 => [(byte)(0xC0 | (c >> 6)), (byte)(0x80 | (c & 0x3F))],
        3 => [(byte)(0xE0 | (c >> 12)), (byte)(0x80 | ((c >> 6) & 0x3F)), (byte)(0x80 | (c & 0x3F))],
        _ => [(byte)(0xF0 | (c >> 18)), (byte)(0x80 | ((c >> 12) & 0x3F)), (byte)(0x80 | ((c >> 6) & 0x3F)), (byte)(0x80 | (c & 0x3F))],
    };
}
