using System.Text;

namespace SeaLion.Gateway.Tests.Fuzzing;

/// <summary>
/// The values both fuzzers draw from: numbers at and past every boundary a field has (as JSON literals, so that
/// 1e309, -0 and 400-digit integers reach the server as written), text in the scripts this model serves, and
/// Unicode and UTF-8 edge cases, both as JSON escapes and as raw (often invalid) bytes.
/// </summary>
internal static class EdgeValues
{
    /// <summary>JSON number literals: zero forms, int32/int64/uint64 edges, double overflow and underflow, this model's limits.</summary>
    public static readonly string[] NumberLiterals =
    [
        "0", "-0", "0.0", "-0.0", "1", "-1", "2", "0.5", "1e0", "1E+2", "1e-7", "100", "101", "-100.0001",
        "16", "17", "20", "21", "64", "65", "1024", "1025", "8191", "8192", "8193", "128255", "128256", "1048576", "1048577",
        "2147483647", "2147483648", "-2147483648", "-2147483649", "4294967296",
        "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "18446744073709551616",
        "1e308", "1.7976931348623157e308", "1e309", "-1e309", "1e-400", "4.9e-324", "5e-325", "123456789012345678901234567890",
        "0.30000000000000004", "1e2147483648", "-1e-2147483649",
        new string('9', 400), "-" + new string('1', 1000), "0." + new string('0', 500) + "1",
    ];

    /// <summary>Text as real prompts carry it: the Southeast Asian scripts this model serves, with their combining marks.</summary>
    public static readonly string[] Scripts =
    [
        "สวัสดีครับ ยินดีต้อนรับสู่กรุงเทพฯ",                 // Thai
        "வணக்கம், தமிழ் மொழி க்ஷ ஸ்ரீ",                        // Tamil (conjuncts)
        "Xin chào, thủ đô của Việt Nam là Hà Nội. Tiếng Việt có dấu: ắ ằ ẳ ẵ ặ",   // Vietnamese (precomposed)
        "Xin cha\u0300o, Vie\u0323\u0302t Nam",                // Vietnamese (decomposed combining marks)
        "Selamat pagi, ibu kota Indonesia adalah Jakarta.",     // Indonesian
        "សួស្តី ព្រះរាជាណាចក្រកម្ពុជា",                             // Khmer (coeng subscripts)
        "မင်္ဂလာပါ မြန်မာနိုင်ငံ",                                    // Myanmar (kinzi, stacked)
        "ສະບາຍດີ ສາທາລະນະລັດ ປະຊາທິປະໄຕ",                        // Lao
        "Kumusta, Magandang umaga! Apa khabar?",                  // Filipino, Malay
        "你好，世界。こんにちは。안녕하세요",                      // CJK
        "👩‍👩‍👧‍👦 🇹🇭 🏳️‍🌈 👍🏽",                                         // emoji ZWJ sequences, flags, skin tone
        "𝕳𝖊𝖑𝖑𝖔 𐍈 𠜎𠜱",                                              // astral letters
    ];

    /// <summary>Valid but awkward strings: invisible and directional characters, BOM, NUL, special-token text, combining floods.</summary>
    public static readonly string[] AwkwardStrings =
    [
        "", " ", "\n", "\t\r\n", "\u0000", "a\u0000b", "\u200B", "\u200C\u200D", "\u200D\u200D\u200D", "\uFEFF", "\uFEFFHalo",
        "\u200F\u202Eשלום\u202C", "\u061C\u0645\u0631\u062D\u0628\u0627", "\u2066x\u2069", "\uFFFD", "\uFFFE\uFFFF", "\U0010FFFF",
        "<|begin_of_text|>", "<|eot_id|><|start_header_id|>system<|end_header_id|>", "<|reserved_special_token_250|>",
        "{{ raise_exception('x') }}", "{% for m in messages %}", "\\u0000", "\"", "\\",
        "e\u0301" + new string('\u0301', 500), "ก" + new string('\u0E49', 300), string.Concat(Enumerable.Repeat("ཀྵ", 200)),
    ];

    /// <summary>JSON string literals whose escapes decode to ill-formed UTF-16: lone and reversed surrogates.</summary>
    public static readonly string[] SurrogateEscapes =
    [
        "\"\\ud800\"", "\"\\udfff\"", "\"\\udc00\\ud800\"", "\"a\\ud800b\"", "\"\\ud83d\"", "\"\\ud83d\\u0041\"", "\"\\ud800\\ud800\\udc00\"",
        "\"\\uDBFF\"", "\"x\\uD834\"",
    ];

    /// <summary>Byte sequences that are not UTF-8: lone continuation bytes, overlong forms, encoded surrogates, past U+10FFFF, truncated.</summary>
    public static readonly byte[][] InvalidUtf8 =
    [
        [0x80], [0xBF], [0xFF], [0xFE], [0xC0, 0xAF], [0xC1, 0xBF], [0xE0, 0x80, 0xAF], [0xF0, 0x80, 0x80, 0xAF], [0xF8, 0x88, 0x80, 0x80, 0x80],
        [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF], [0xED, 0xA0, 0xBD, 0xED, 0xB2, 0xA9], [0xF4, 0x90, 0x80, 0x80],
        [0xE0, 0xB8], [0xE0], [0xF0, 0x9F, 0x98], [0xC3, 0x28], [0xE2, 0x28, 0xA1],
    ];

    /// <summary>Regular expressions for structured outputs: syntax errors, unsupported constructs, bounds, blow-ups, deep nesting.</summary>
    public static readonly string[] Regexes =
    [
        "", "(", ")", "[", "\\", "a**", "x{2,1}", "[z-a]", "(?=a)b", "(a)\\1", "a{1000}", "a{1001}", "(a|b)*c", "[0-9]{2}", "\\p{L}{3}", "\\p{Thai}+",
        "ก+ข?", "[😀-😂]+", "😀{3}", ".{0,1000}.{0,1000}", "(a|b)*a(a|b){20}", "[\\d\\D]*", "[^\\x00-\\x7F]{5}",
        new string('(', 60) + "a" + new string(')', 60), new string('(', 20_000) + "a" + new string(')', 20_000), new string('(', 30_000),
        string.Join("|", Enumerable.Range(0, 5000).Select(i => $"w{i}")), string.Concat(Enumerable.Repeat("a?", 500)) + new string('a', 500),
        "a{2}{3}", "a*?", "a" + new string('*', 30_000), "[" + new string('a', 60_000) + "]",
    ];

    /// <summary>GBNF grammars: errors, recursion, a long chain of rules (deep inlining), large repeats.</summary>
    public static readonly string[] Grammars =
    [
        "", "root ::=", "root ::= \"a\"", "root ::= root", "root ::= x\nx ::= root", "root ::= \"a\" | ", "root ::= [a-", "root ::= \"\\x\"",
        "root ::= (\"a\"", "root ::= \"a\"{1001}", "a ::= \"x\"", "root ::= x\nroot ::= y", "root ::= [^\"]{0,50}", "root ::= \"ไทย\" [ก-ฮ]+",
        "root ::= \"a\" # comment\n", "bad name ::= \"a\"", "root ::= \"\\u0E01\"", "root ::= \"\\ud800\"",
        Chain(100), Chain(3000), Doubling(40), "root ::= \"a\"" + new string('*', 30_000), "root ::= " + new string('(', 300) + "\"a\"" + new string(')', 300),
        "root ::= \"\\U7FFFFFFF\"", "root ::= [\\U00110000-\\UFFFFFFFF]",
    ];

    /// <summary>JSON schemas as text: wrong keyword types, out-of-range numbers, bad escapes, recursion, deep nesting, long $ref chains.</summary>
    public static readonly string[] Schemas =
    [
        "{}", "true", "false", "[]", "1", "\"x\"", "{\"type\":1}", "{\"type\":[\"string\",1]}", "{\"type\":\"objekt\"}",
        "{\"type\":\"object\",\"properties\":{\"a\":{}},\"required\":\"a\"}", "{\"type\":\"object\",\"properties\":{\"a\":{}},\"required\":[1]}",
        "{\"type\":\"object\",\"required\":{}}", "{\"type\":\"integer\",\"minimum\":1e309}", "{\"type\":\"integer\",\"minimum\":-9223372036854775808,\"maximum\":9223372036854775807}",
        "{\"type\":\"number\",\"minimum\":-0}", "{\"type\":\"number\",\"minimum\":1e400}", "{\"type\":\"string\",\"format\":7}", "{\"type\":\"string\",\"pattern\":[1]}",
        "{\"type\":\"string\",\"pattern\":\"(\"}", "{\"type\":\"string\",\"maxLength\":1e3}", "{\"$ref\":5}", "{\"$ref\":\"#/$defs/a\",\"$defs\":{\"a\":{\"$ref\":\"#/$defs/a\"}}}",
        "{\"type\":\"array\",\"prefixItems\":{}}", "{\"type\":\"array\",\"items\":false,\"prefixItems\":[{\"type\":\"null\"}]}", "{\"enum\":[]}", "{\"enum\":[1,\"a\",null,{\"b\":[]}]}",
        "{\"anyOf\":{}}", "{\"allOf\":[{},{}]}", "{\"type\":\"\\ud800\"}", "{\"\\udc00\":1}", "{\"const\":\"\\ud83d\"}", "{\"properties\":{\"\\ud800\":{}}}",
        "{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}}",
        Nested(60), RefChain(50), RefChain(3000), RefDoubling(40),
        "{\"type\":\"object\",\"properties\":{" + string.Join(",", Enumerable.Range(0, 300).Select(i => $"\"p{i}\":{{\"type\":\"integer\"}}")) + "}}",
    ];

    static string Chain(int rules) =>
        "root ::= r0\n" + string.Concat(Enumerable.Range(0, rules).Select(i => $"r{i} ::= {(i + 1 < rules ? $"r{i + 1}" : "\"x\"")}\n"));

    /// <summary>Each rule uses the next twice: linear text, exponential expansion.</summary>
    static string Doubling(int rules) =>
        "root ::= r0\n" + string.Concat(Enumerable.Range(0, rules).Select(i => $"r{i} ::= {(i + 1 < rules ? $"r{i + 1} r{i + 1}" : "\"x\"")}\n"));

    static string RefDoubling(int length) =>
        "{\"$ref\":\"#/$defs/d0\",\"$defs\":{" + string.Join(",", Enumerable.Range(0, length).Select(i => $"\"d{i}\":" + (i + 1 < length
            ? $"{{\"type\":\"array\",\"prefixItems\":[{{\"$ref\":\"#/$defs/d{i + 1}\"}},{{\"$ref\":\"#/$defs/d{i + 1}\"}}]}}" : "{\"type\":\"null\"}"))) + "}}";

    static string Nested(int depth) => string.Concat(Enumerable.Repeat("{\"anyOf\":[", depth)) + "{\"type\":\"null\"}" + string.Concat(Enumerable.Repeat("]}", depth));

    static string RefChain(int length) =>
        "{\"$ref\":\"#/$defs/d0\",\"$defs\":{" + string.Join(",", Enumerable.Range(0, length).Select(i => $"\"d{i}\":" + (i + 1 < length ? $"{{\"$ref\":\"#/$defs/d{i + 1}\"}}" : "{\"type\":\"integer\"}"))) + "}}";

    /// <summary>A JSON string literal (quotes included) holding the given raw bytes between ASCII text.</summary>
    public static byte[] RawStringLiteral(byte[] inner) => [.. "\"Halo "u8, .. inner, .. " dunia\""u8];

    /// <summary>Strings of a given length, repeating a script sample (so they tokenize into many tokens, not one).</summary>
    public static string Long(Random r, int chars)
    {
        string unit = r.Next(3) switch { 0 => "a", 1 => Scripts[r.Next(Scripts.Length)] + " ", _ => "Halo dunia " };
        var sb = new StringBuilder(chars + unit.Length);
        while (sb.Length < chars) sb.Append(unit);
        sb.Length = chars;
        // Cut at a code point boundary: a lone high surrogate at the end would be a different case (invalid UTF-16).
        if (char.IsHighSurrogate(sb[^1])) sb[^1] = 'x';
        return sb.ToString();
    }

    /// <summary>At most <paramref name="chars"/> characters, never ending inside a surrogate pair.</summary>
    public static string Cut(string s, int chars) =>
        s.Length <= chars ? s : s[..(char.IsHighSurrogate(s[chars - 1]) ? chars - 1 : chars)];

    public static T Pick<T>(this Random r, IReadOnlyList<T> items) => items[r.Next(items.Count)];

    /// <summary>A valid string from any of the sets above, sometimes long.</summary>
    public static string AnyString(Random r) => r.Next(10) switch
    {
        < 4 => r.Pick(Scripts),
        < 8 => r.Pick(AwkwardStrings),
        8 => Long(r, r.Pick([257, 1000, 5000])),
        _ => Long(r, r.Pick([100_000, (1 << 20) + 1])),
    };
}
