namespace SeaLion.Structured;

/// <summary>A constraint that cannot be compiled: the message names the construct and where it is.</summary>
public sealed class ConstraintException(string message) : ArgumentException(message, "structured_outputs");

/// <summary>A set of Unicode scalar values as sorted, disjoint, non-adjacent inclusive ranges (surrogates never included).</summary>
internal sealed class CharSet
{
    public const int MaxCodePoint = 0x10FFFF;
    public readonly List<(int Lo, int Hi)> Ranges;

    CharSet(List<(int, int)> ranges) => Ranges = ranges;

    public static CharSet Of(params (int Lo, int Hi)[] ranges) => Normalize(ranges);
    public static CharSet Single(int c) => Normalize([(c, c)]);
    public static CharSet Any => Normalize([(0, MaxCodePoint)]);

    static CharSet Normalize(IEnumerable<(int Lo, int Hi)> input)
    {
        var sorted = input.Where(r => r.Lo <= r.Hi).OrderBy(r => r.Lo).ToList();
        var result = new List<(int, int)>();
        foreach (var (lo, hi) in sorted)
        {
            if (result.Count > 0 && lo <= result[^1].Item2 + 1) result[^1] = (result[^1].Item1, Math.Max(result[^1].Item2, hi));
            else result.Add((lo, hi));
        }
        // Surrogate code points are not scalar values: they have no UTF-8 encoding.
        var clean = new List<(int, int)>();
        foreach (var (lo, hi) in result)
        {
            if (hi < 0xD800 || lo > 0xDFFF) clean.Add((lo, hi));
            else
            {
                if (lo < 0xD800) clean.Add((lo, 0xD7FF));
                if (hi > 0xDFFF) clean.Add((0xE000, hi));
            }
        }
        return new CharSet(clean);
    }

    public CharSet Union(CharSet other) => Normalize(Ranges.Concat(other.Ranges));

    public CharSet Negate()
    {
        var result = new List<(int, int)>();
        int next = 0;
        foreach (var (lo, hi) in Ranges)
        {
            if (lo > next) result.Add((next, lo - 1));
            next = hi + 1;
        }
        if (next <= MaxCodePoint) result.Add((next, MaxCodePoint));
        return Normalize(result);
    }

    public CharSet Except(CharSet other) => Negate().Union(other).Negate();

    public bool IsEmpty => Ranges.Count == 0;
}

/// <summary>The constraint language's syntax tree: what the regex, JSON schema, choice and grammar compilers produce.</summary>
internal abstract record Node
{
    public static readonly Node Empty = new Seq([]);
    public static Node Text(string s)
    {
        var items = new List<Node>();
        for (int i = 0; i < s.Length; i++)
        {
            int c = char.ConvertToUtf32(s, i);
            if (char.IsHighSurrogate(s[i])) i++;
            items.Add(new Chars(CharSet.Single(c)));
        }
        return items.Count == 1 ? items[0] : new Seq([.. items]);
    }
    public static Node Concat(params Node[] items) => new Seq(items);
    public static Node Either(params Node[] options) => options.Length == 1 ? options[0] : new Alt(options);
    public static Node Optional(Node n) => new Repeat(n, 0, 1);

    /// <summary>The tree's depth, computed without recursion (a node shared by several parents is measured once).</summary>
    public static int Depth(Node root)
    {
        var depth = new Dictionary<Node, int>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Node Node, bool Expanded)>();
        stack.Push((root, false));
        while (stack.Count > 0)
        {
            var (n, expanded) = stack.Pop();
            if (depth.ContainsKey(n)) continue;
            var children = Children(n);
            if (!expanded)
            {
                stack.Push((n, true));
                foreach (var c in children) if (!depth.ContainsKey(c)) stack.Push((c, false));
            }
            else depth[n] = 1 + children.Select(c => depth[c]).DefaultIfEmpty(0).Max();
        }
        return depth[root];
    }

    static IEnumerable<Node> Children(Node n) => n switch
    {
        Seq s => s.Items,
        Alt a => a.Options,
        Repeat r => [r.Item],
        Members m => [.. m.Items.Select(x => x.Node), m.Separator],
        _ => [],
    };
}

internal sealed record Chars(CharSet Set) : Node;
internal sealed record Seq(Node[] Items) : Node;
internal sealed record Alt(Node[] Options) : Node;
/// <summary>Item repeated Min to Max times (Max -1: no bound).</summary>
internal sealed record Repeat(Node Item, int Min, int Max) : Node;
/// <summary>Items in order, joined by the separator; optional items may be left out (a JSON object's properties).</summary>
internal sealed record Members((Node Node, bool Required)[] Items, Node Separator) : Node;
