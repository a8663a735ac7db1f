using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using SeaLion.Model.Sampling;

namespace SeaLion.Structured;

/// <summary>
/// A structured output compiled to a DFA over bytes, with the allowed-token mask of each DFA state computed once
/// (a walk of the vocabulary trie from that state, tokens sharing a prefix sharing the walk) and cached, so a step's
/// mask is a lookup. Thread-safe: the DFA is read-only, the mask cache concurrent.
/// </summary>
public sealed class CompiledConstraint
{
    public const int MaxNfaStates = 200_000;
    public const int MaxDfaStates = 20_000;

    internal readonly Dfa Dfa;
    readonly Vocabulary? _vocab;
    readonly ConcurrentDictionary<int, ulong[]> _masks = new();

    internal CompiledConstraint(Dfa dfa, Vocabulary? vocab, TimeSpan compileTime)
    {
        Dfa = dfa;
        _vocab = vocab;
        CompileTime = compileTime;
    }

    public TimeSpan CompileTime { get; }
    public int States => Dfa.Count;
    public int MasksComputed => _masks.Count;

    /// <summary>A fresh state at the start of the output.</summary>
    public ConstraintState Start() => new(this, Dfa.Start);

    internal Vocabulary Vocab => _vocab ?? throw new InvalidOperationException("compiled without a vocabulary: it only checks the constraint");

    internal ulong[] Mask(int state) => _masks.GetOrAdd(state, ComputeMask);

    /// <summary>Computes every state's mask now (benchmarks: the first-visit cost of all states).</summary>
    public void ComputeAllMasks()
    {
        for (int s = 0; s < Dfa.Count; s++) Mask(s);
    }

    ulong[] ComputeMask(int state)
    {
        var v = Vocab;
        var mask = new ulong[v.Words];
        var stack = new Stack<(int Node, int State)>();
        stack.Push((0, state));
        while (stack.Count > 0)
        {
            var (node, s) = stack.Pop();
            for (int c = v.ChildStart[node]; c < v.ChildStart[node + 1]; c++)
            {
                int t = Dfa.Next(s, v.ChildByte[c]);
                if (t < 0) continue;
                int child = v.Child[c];
                for (int k = v.TokenStart[child]; k < v.TokenStart[child + 1]; k++) { int id = v.Tokens[k]; mask[id >> 6] |= 1UL << (id & 63); }
                if (v.ChildStart[child] < v.ChildStart[child + 1]) stack.Push((child, t));
            }
        }
        if (Dfa.Accepting(state))
            foreach (int eos in v.EosTokenIds) mask[eos >> 6] |= 1UL << (eos & 63);
        return mask;
    }

    /// <summary>Compiles a structured output (no cache); throws <see cref="ConstraintException"/> naming the problem.</summary>
    public static CompiledConstraint Compile(StructuredOutput spec, Vocabulary? vocab)
    {
        var clock = Stopwatch.StartNew();
        var node = Parse(spec);
        var nfa = Nfa.Build(node, MaxNfaStates);
        var dfa = Dfa.Build(nfa, MaxDfaStates);
        return new CompiledConstraint(dfa, vocab, clock.Elapsed);
    }

    /// <summary>The deepest syntax tree the automaton builder takes: it recurses once per level.</summary>
    public const int MaxNodeDepth = 2000;

    internal static Node Parse(StructuredOutput spec)
    {
        var node = spec.Kind switch
        {
            StructuredKind.JsonSchema => JsonSchemaCompiler.Compile(spec.Value),
            StructuredKind.JsonObject => JsonSchemaCompiler.AnyObject(),
            StructuredKind.Regex => RegexParser.Parse(spec.Value),
            StructuredKind.Choice => Choices(spec.Value),
            StructuredKind.Grammar => GbnfParser.Parse(spec.Value),
            _ => throw new ConstraintException($"unknown structured output kind {spec.Kind}"),
        };
        if (Node.Depth(node) > MaxNodeDepth) throw new ConstraintException($"{KindName(spec.Kind)}: nested more than {MaxNodeDepth} levels deep (quantifiers on quantifiers, groups in groups)");
        return node;
    }

    static string KindName(StructuredKind k) => k switch
    {
        StructuredKind.JsonSchema => "json schema", StructuredKind.Regex => "regex", StructuredKind.Grammar => "grammar", _ => k.ToString().ToLowerInvariant(),
    };

    static Node Choices(string json)
    {
        string[]? choices;
        try { choices = JsonSerializer.Deserialize<string[]>(json); }
        catch (JsonException) { choices = null; }
        if (choices is not { Length: > 0 } || choices.Any(c => c is null)) throw new ConstraintException("choice: expected a non-empty list of strings");
        if (choices.Length > 4096) throw new ConstraintException($"choice: {choices.Length} choices; the limit is 4096");
        return Node.Either([.. choices.Distinct().Select(c => c.Length == 0 ? Node.Empty : Node.Text(c))]);
    }
}

/// <summary>One request's position in its constraint: the DFA state after the tokens it has taken.</summary>
public sealed class ConstraintState : ITokenConstraint
{
    readonly CompiledConstraint _c;
    int _state;

    internal ConstraintState(CompiledConstraint c, int state) { _c = c; _state = state; }

    /// <summary>-1 once a token left the language (only possible when something ignored the mask).</summary>
    public int State => _state;
    public bool Accepting => _state >= 0 && _c.Dfa.Accepting(_state);
    public bool IsComplete => _state >= 0 && _c.Dfa.Accepting(_state) && !_c.Dfa.HasOutgoing(_state);

    public ReadOnlySpan<ulong> Allowed => _state < 0 ? Eos() : _c.Mask(_state);

    ulong[] Eos()
    {
        var m = new ulong[_c.Vocab.Words];
        foreach (int e in _c.Vocab.EosTokenIds) m[e >> 6] |= 1UL << (e & 63);
        return m;
    }

    public void Advance(int tokenId)
    {
        if (_state < 0) return;
        var bytes = _c.Vocab.Bytes(tokenId);
        if (bytes.Length == 0) return;   // a special token (EOS ends the request) writes no bytes
        int s = _state;
        foreach (byte b in bytes)
        {
            s = _c.Dfa.Next(s, b);
            if (s < 0) break;
        }
        _state = s;
    }

    /// <summary>Whether the text matches the constraint from the start (tests and validation).</summary>
    public static bool Matches(CompiledConstraint c, ReadOnlySpan<byte> utf8)
    {
        int s = c.Dfa.Start;
        foreach (byte b in utf8) { s = c.Dfa.Next(s, b); if (s < 0) return false; }
        return c.Dfa.Accepting(s);
    }

}

/// <summary>
/// Compiled constraints by their specification, least recently used evicted past a bound on their DFA states, so a
/// caller repeating a schema compiles it once.
/// </summary>
public sealed class ConstraintCache(Vocabulary? vocab, int maxStates = 400_000, int maxEntries = 256)
{
    readonly object _lock = new();
    readonly LinkedList<(StructuredOutput Key, CompiledConstraint Value)> _order = new();
    readonly Dictionary<StructuredOutput, LinkedListNode<(StructuredOutput, CompiledConstraint)>> _index = [];
    int _states;

    /// <summary>Constraints up to this many DFA states get all their masks computed ahead (16 KB each for Llama 3's vocabulary).</summary>
    public const int EagerMaskStates = 4096;

    public Vocabulary? Vocabulary => vocab;
    public int Count { get { lock (_lock) return _index.Count; } }

    public CompiledConstraint Get(StructuredOutput spec)
    {
        lock (_lock)
            if (_index.TryGetValue(spec, out var hit)) { _order.Remove(hit); _order.AddFirst(hit); return hit.Value.Item2; }
        var compiled = CompiledConstraint.Compile(spec, vocab);
        // Every state's mask computed in the background right away, overlapping the request's prefill and first
        // steps, so a step rarely meets a state whose mask is not cached yet (a first visit walks the whole trie).
        if (vocab is not null && compiled.States <= EagerMaskStates)
            ThreadPool.UnsafeQueueUserWorkItem(c => c.ComputeAllMasks(), compiled, preferLocal: false);
        lock (_lock)
        {
            if (_index.TryGetValue(spec, out var raced)) return raced.Value.Item2;
            _index[spec] = _order.AddFirst((spec, compiled));
            _states += compiled.States;
            while ((_states > maxStates || _index.Count > maxEntries) && _order.Count > 1)
            {
                var last = _order.Last!;
                _order.RemoveLast();
                _index.Remove(last.Value.Key);
                _states -= last.Value.Value.States;
            }
        }
        return compiled;
    }
}
