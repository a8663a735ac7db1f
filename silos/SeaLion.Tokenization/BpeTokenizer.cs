using System.Runtime.InteropServices;
using System.Text;

namespace SeaLion.Tokenization;

/// <summary>
/// Byte-level BPE tokenizer loaded from a Hugging Face tokenizer folder (Llama 3 family), producing the
/// same ids as HF's fast tokenizer: added tokens are split out of the raw text first (leftmost-longest),
/// the rest is pre-tokenized with the Llama 3 regex over code points, byte-mapped and BPE-merged.
/// Immutable after loading (its piece cache is thread-safe), so one instance serves all threads.
/// </summary>
public sealed class BpeTokenizer
{
    private readonly BpeModel _model;
    private readonly AddedTokenSplitter _splitter;
    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<string, int> _addedByContent;
    private readonly string[] _tokens;
    private readonly byte[][] _tokenBytes;
    private readonly bool[] _special;

    internal BpeModel Model => _model;

    private BpeTokenizer(TokenizerJsonContent json, TokenizerConfigContent config, string configPath)
    {
        _vocab = json.Vocab;
        _model = new BpeModel(json.Vocab, json.Merges, json.IgnoreMerges);
        _splitter = new AddedTokenSplitter(json.AddedTokens);

        int size = Math.Max(json.Vocab.Values.Max(), json.AddedTokens.Count > 0 ? json.AddedTokens.Max(t => t.Id) : -1) + 1;
        VocabSize = size;
        // Ids that neither the vocab nor added_tokens define stay as empty tokens with no bytes.
        _tokens = new string[size];
        Array.Fill(_tokens, string.Empty);
        _tokenBytes = new byte[size][];
        Array.Fill(_tokenBytes, Array.Empty<byte>());
        _special = new bool[size];
        foreach (var (token, id) in json.Vocab)
        {
            _tokens[id] = token;
            // Like HF's ByteLevel decoder, a string outside the byte alphabet decodes as its own UTF-8.
            _tokenBytes[id] = ByteLevelAlphabet.TryDecode(token, out byte[] bytes) ? bytes : Encoding.UTF8.GetBytes(token);
        }
        _addedByContent = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var added in json.AddedTokens)
        {
            _tokens[added.Id] = added.Content;
            _tokenBytes[added.Id] = Encoding.UTF8.GetBytes(added.Content);
            _special[added.Id] = added.Special;
            _addedByContent[added.Content] = added.Id;
        }
        SpecialTokenIds = Enumerable.Range(0, size).Where(id => _special[id]).ToArray();

        BosToken = config.BosToken;
        BosTokenId = TokenToId(config.BosToken)
            ?? throw new InvalidDataException($"{configPath}: field 'bos_token' is \"{config.BosToken}\", which is not a token of tokenizer.json");
        EosToken = config.EosToken;
        EosTokenId = config.EosToken is null
            ? null
            : TokenToId(config.EosToken)
                ?? throw new InvalidDataException($"{configPath}: field 'eos_token' is \"{config.EosToken}\", which is not a token of tokenizer.json");
        AddBosByDefault = config.AddBosToken ?? json.TemplateLeadingSpecialTokens.Contains(BosToken);
        ChatTemplateSource = config.ChatTemplate;
    }

    /// <summary>Base vocabulary plus added tokens: one more than the largest id.</summary>
    public int VocabSize { get; }

    public int BosTokenId { get; }

    public string BosToken { get; }

    public int? EosTokenId { get; }

    public string? EosToken { get; }

    /// <summary>
    /// Whether HF would prepend BOS by default: tokenizer_config "add_bos_token" when present, else whether
    /// the post-processor's TemplateProcessing "single" starts with the BOS token.
    /// </summary>
    public bool AddBosByDefault { get; }

    /// <summary>Raw Jinja chat template from tokenizer_config.json, or null.</summary>
    public string? ChatTemplateSource { get; }

    /// <summary>Ids of added tokens marked special, ascending.</summary>
    public IReadOnlyList<int> SpecialTokenIds { get; }

    /// <summary>Loads tokenizer.json and tokenizer_config.json from <paramref name="dir"/>.</summary>
    /// <exception cref="FileNotFoundException">A file is missing.</exception>
    /// <exception cref="InvalidDataException">A file is not JSON or a field is missing or malformed.</exception>
    /// <exception cref="NotSupportedException">The tokenizer is not a Llama 3 style byte-level BPE.</exception>
    public static BpeTokenizer FromDirectory(string dir)
    {
        ArgumentNullException.ThrowIfNull(dir);
        var json = TokenizerJsonReader.Read(Path.Combine(dir, "tokenizer.json"));
        string configPath = Path.Combine(dir, "tokenizer_config.json");
        var config = TokenizerConfigReader.Read(configPath);
        return new BpeTokenizer(json, config, configPath);
    }

    /// <summary>
    /// Token ids of <paramref name="text"/>. With <paramref name="parseSpecial"/>, special token strings in
    /// the text become their ids; without it they are tokenized as plain text (non-special added tokens
    /// still match), like HF's split_special_tokens.
    /// </summary>
    public int[] Encode(string text, bool addBos = false, bool parseSpecial = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var output = new List<int>(text.Length / 3 + 2);
        if (addBos) output.Add(BosTokenId);
        var segments = new List<TextSegment>();
        _splitter.Split(text, parseSpecial, segments);
        foreach (var segment in segments)
        {
            if (segment.TokenId >= 0) output.Add(segment.TokenId);
            else EncodePlain(text.AsSpan(segment.Start, segment.Length), output);
        }
        return output.ToArray();
    }

    /// <summary>Concatenated token bytes decoded as UTF-8, each ill-formed subsequence becoming one U+FFFD.</summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var bytes = new List<byte>();
        foreach (int id in ids)
        {
            CheckId(id);
            if (skipSpecialTokens && _special[id]) continue;
            bytes.AddRange(_tokenBytes[id]);
        }
        return Encoding.UTF8.GetString(CollectionsMarshal.AsSpan(bytes));
    }

    /// <summary>The bytes token <paramref name="id"/> stands for (a copy; added tokens: their UTF-8 content).</summary>
    public byte[] TokenBytes(int id)
    {
        CheckId(id);
        return (byte[])_tokenBytes[id].Clone();
    }

    public bool IsSpecial(int id)
    {
        CheckId(id);
        return _special[id];
    }

    /// <summary>Id of a token string (added token content, or byte-level vocab string such as "Ġthe").</summary>
    public int? TokenToId(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (_addedByContent.TryGetValue(token, out int id)) return id;
        return _vocab.TryGetValue(token, out id) ? id : null;
    }

    /// <summary>The token string of <paramref name="id"/> (byte-level form for base tokens).</summary>
    public string IdToToken(int id)
    {
        CheckId(id);
        return _tokens[id];
    }

    public IncrementalDetokenizer CreateDetokenizer(bool skipSpecialTokens = true) => new(this, skipSpecialTokens);

    /// <summary>Bytes of a valid id without copying; callers must not modify them.</summary>
    internal ReadOnlySpan<byte> TokenBytesUnsafe(int id) => _tokenBytes[id];

    internal bool IsSpecialUnchecked(int id) => _special[id];

    internal void CheckId(int id)
    {
        if ((uint)id >= (uint)VocabSize)
            throw new ArgumentOutOfRangeException(nameof(id), id, $"Token id {id} is outside the vocabulary (size {VocabSize}).");
    }

    private void EncodePlain(ReadOnlySpan<char> text, List<int> output)
    {
        for (int p = 0; p < text.Length;)
        {
            int end = Llama3PreTokenizer.NextPieceEnd(text, p);
            _model.EncodePiece(text[p..end], output);
            p = end;
        }
    }
}
