using SeaLion.Tokenization;

namespace SeaLion.Oracle.Tests;

/// <summary>Our Llama 3 tokenizer against llama.cpp's on the vocabulary and merges of the same tokenizer.json.</summary>
[Collection("oracle")]
public sealed class TokenizerOracleTests(OracleModels models)
{
    // Texts with U+017F (long s) after an apostrophe are left out: a known difference between llama.cpp's
    // regex (which case-folds ’ſ as ’s) and HF's.
    public static readonly string[] Texts =
    [
        "",
        "Hello, world! This is a test of the tokenizer.",
        "I'm sure they'll say it's fine, but WE'VE seen what you'd do. Don't.",
        "The quick brown fox jumps over the lazy dog 1234567890 times; 3.14159 ≈ π.",
        "Selamat pagi! Apa kabar? Saya sedang belajar bahasa Indonesia di Jakarta.",
        "ภาษาไทยเป็นภาษาที่ไม่มีการเว้นวรรคระหว่างคำ สวัสดีครับ",
        "Tiếng Việt có nhiều dấu: Xin chào, tôi tên là Nguyễn Văn Ánh. Cảm ơn!",
        "தமிழ் ஒரு பழமையான மொழி. வணக்கம், எப்படி இருக்கிறீர்கள்?",
        "中文分词测试：我爱北京天安门，天安门上太阳升。",
        "日本語のテキスト、ひらがなとカタカナと漢字。東京タワー！",
        "한국어 문장입니다. 안녕하세요, 반갑습니다.",
        "Здравствуй, мир! Ёжик в тумане.",
        "مرحبا بالعالم، هذا اختبار.",
        "नमस्ते दुनिया, यह एक परीक्षण है।",
        "Emoji: 😀🎉👍🏽 👨‍👩‍👧‍👦 🇮🇩🇹🇭 ❤️‍🔥 and a lone 🦁!",
        "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
        "public static int Main(string[] args) { return args.Length > 0 ? 1 : 0; } // C#\n\t\tx += 0x1F;",
        "{\"key\": [1, 2, 3], \"nested\": {\"a\": null}}  <div class=\"x\">&amp;</div>",
        "    leading spaces,   runs   of   spaces,\ttabs\t\tand trailing   ",
        "lines\n\n\nwith\r\nmixed\n \n  \n\nbreaks \n",
        "   \n\n   \t  ",
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
        "text<|eot_id|>more<|reserved_special_token_5|> <|end_of_text|>",
        "<|begin_of_text |> is not special, nor is <|eot_id",
        "Mixed: café naïve résumé Straße ÆØÅ æøå ĳ ﬁ ﬀ",
        "numbers 1 12 123 1234 12345 123456 and 1,234,567.89 and 2024-11-27",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "Ünïcödé ẞ ǅ ﬃ ℌ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ① ⅷ ½ ² ₃",
    ];

    [Fact]
    public void Tokenizer_matches_llama_cpp()
    {
        var ours = BpeTokenizer.FromDirectory(OracleModels.TokenizerDir);
        var (_, gguf) = models.Get(hidden: 64, layers: 2, heads: 4, kvHeads: 2, ffn: 192, seed: 7);
        using var vocab = LlamaCpp.LoadVocab(gguf);
        var failures = new List<string>();
        foreach (var text in Texts)
        {
            int[] expected = LlamaCpp.Tokenize(vocab, text), actual = ours.Encode(text, addBos: false, parseSpecial: true);
            if (!expected.SequenceEqual(actual))
                failures.Add($"{Escape(text)}\n  llama.cpp [{string.Join(", ", expected)}]\n  ours      [{string.Join(", ", actual)}]");
        }
        Assert.True(failures.Count == 0, $"{failures.Count} of {Texts.Length} texts differ:\n" + string.Join("\n", failures));
    }

    static string Escape(string s) => s.Replace("\r", "\\r").Replace("\n", "\\n").Replace("\t", "\\t");
}
