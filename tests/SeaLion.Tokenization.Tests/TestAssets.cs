using System.Text.Json;

namespace SeaLion.Tokenization.Tests;

/// <summary>One fixture case: text and the ids the independent oracle produced for it.</summary>
public sealed record TokenizerCase(string Text, int[] Ids);

/// <summary>The shipped Llama 3 tokenizer (loaded once) and the oracle fixtures.</summary>
internal static class TestAssets
{
    private static readonly Lazy<BpeTokenizer> LazyTokenizer = new(() => BpeTokenizer.FromDirectory(TokenizerDir));
    private static readonly Lazy<TokenizerCase[]> LazyCases = new(LoadCases);

    public static string TokenizerDir => Path.Combine(AppContext.BaseDirectory, "assets", "llama3-tokenizer");

    public static BpeTokenizer Tokenizer => LazyTokenizer.Value;

    public static IReadOnlyList<TokenizerCase> Cases => LazyCases.Value;

    /// <summary>Theory rows: one case index each (indices keep odd strings out of test names).</summary>
    public static TheoryData<int> CaseIndices()
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < Cases.Count; i++) data.Add(i);
        return data;
    }

    /// <summary>Id of the base token standing for one raw byte.</summary>
    public static int ByteToken(byte b) =>
        Tokenizer.TokenToId(ByteLevelAlphabet.ByteToChar[b].ToString()) ?? throw new InvalidOperationException($"no token for byte {b}");

    private static TokenizerCase[] LoadCases()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "fixtures", "tokenizer_cases.json");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        return doc.RootElement.GetProperty("cases").EnumerateArray()
            .Select(c => new TokenizerCase(
                c.GetProperty("text").GetString()!,
                c.GetProperty("ids").EnumerateArray().Select(id => id.GetInt32()).ToArray()))
            .ToArray();
    }
}
