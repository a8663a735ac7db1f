using System.Diagnostics;
using System.Text.Json.Nodes;

namespace SeaLion.Tokenization.Tests;

public sealed class LoadingTests
{
    [Fact]
    public void Shipped_llama3_files_load_with_expected_properties()
    {
        var t = TestAssets.Tokenizer;
        Assert.Equal(128256, t.VocabSize);
        Assert.Equal(128000, t.BosTokenId);
        Assert.Equal("<|begin_of_text|>", t.BosToken);
        Assert.Equal(128001, t.EosTokenId);
        Assert.Equal("<|end_of_text|>", t.EosToken);
        Assert.False(t.AddBosByDefault);
        Assert.StartsWith("{% set loop_messages = messages %}", t.ChatTemplateSource);
        Assert.Equal(256, t.SpecialTokenIds.Count);
        Assert.Equal(Enumerable.Range(128000, 256), t.SpecialTokenIds);
    }

    [Fact]
    public void Add_bos_token_in_config_overrides_the_post_processor()
    {
        using var dir = new MiniTokenizerDir();
        foreach (string file in new[] { "tokenizer.json", "tokenizer_config.json" })
            File.Copy(Path.Combine(TestAssets.TokenizerDir, file), Path.Combine(dir.Path, file));
        string configPath = Path.Combine(dir.Path, "tokenizer_config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        config["add_bos_token"] = true;
        File.WriteAllText(configPath, config.ToJsonString());
        Assert.True(BpeTokenizer.FromDirectory(dir.Path).AddBosByDefault);
    }

    [Fact]
    public void Template_processing_starting_with_bos_means_add_bos_by_default()
    {
        using var dir = new MiniTokenizerDir();
        Assert.False(dir.Load().AddBosByDefault);

        var template = new JsonObject
        {
            ["type"] = "TemplateProcessing",
            ["single"] = new JsonArray(
                new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = "<s>", ["type_id"] = 0 } },
                new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } }),
        };
        dir.Tokenizer["post_processor"] = new JsonObject
        {
            ["type"] = "Sequence",
            ["processors"] = new JsonArray(new JsonObject { ["type"] = "ByteLevel" }, template),
        };
        Assert.True(dir.Load().AddBosByDefault);

        dir.Config["add_bos_token"] = false;
        Assert.False(dir.Load().AddBosByDefault);
    }

    [Fact]
    public void Config_accepts_token_objects_and_template_lists()
    {
        using var dir = new MiniTokenizerDir();
        dir.Config["bos_token"] = new JsonObject { ["__type"] = "AddedToken", ["content"] = "<s>" };
        dir.Config["eos_token"] = null;
        dir.Config["chat_template"] = new JsonArray(
            new JsonObject { ["name"] = "tool_use", ["template"] = "T" },
            new JsonObject { ["name"] = "default", ["template"] = "D" });
        var t = dir.Load();
        Assert.Equal(256, t.BosTokenId);
        Assert.Null(t.EosTokenId);
        Assert.Null(t.EosToken);
        Assert.Equal("D", t.ChatTemplateSource);
        Assert.Equal(258, t.VocabSize);
    }

    [Fact]
    public void Missing_files_give_file_not_found_naming_the_file()
    {
        using var dir = new MiniTokenizerDir();
        var e = Assert.Throws<FileNotFoundException>(() => BpeTokenizer.FromDirectory(dir.Path));
        Assert.Contains("tokenizer.json", e.Message);
        dir.Write();
        File.Delete(Path.Combine(dir.Path, "tokenizer_config.json"));
        e = Assert.Throws<FileNotFoundException>(() => BpeTokenizer.FromDirectory(dir.Path));
        Assert.Contains("tokenizer_config.json", e.Message);
    }

    [Fact]
    public void Malformed_json_gives_invalid_data_naming_the_file()
    {
        using var dir = new MiniTokenizerDir();
        dir.Write();
        File.WriteAllText(Path.Combine(dir.Path, "tokenizer.json"), "{\"model\": ");
        var e = Assert.Throws<InvalidDataException>(() => BpeTokenizer.FromDirectory(dir.Path));
        Assert.Contains("tokenizer.json", e.Message);
    }

    public static TheoryData<string, string> BrokenFields => new()
    {
        { "vocab", "model.vocab" },
        { "merge", "model.merges[0]" },
        { "merge-shape", "model.merges[0]" },
        { "added", "added_tokens[0].id" },
        { "bos-missing", "bos_token" },
        { "bos-unknown", "bos_token" },
        { "eos-number", "eos_token" },
    };

    [Theory]
    [MemberData(nameof(BrokenFields))]
    public void Bad_fields_give_invalid_data_naming_file_and_field(string breakage, string field)
    {
        using var dir = new MiniTokenizerDir(["ab"], ["a b"]);
        switch (breakage)
        {
            case "vocab": dir.Model.Remove("vocab"); break;
            case "merge": dir.Model["merges"] = new JsonArray("a zz"); break;
            case "merge-shape": dir.Model["merges"] = new JsonArray("a b c"); break;
            case "added": dir.Tokenizer["added_tokens"]![0]!.AsObject()["id"] = "x"; break;
            case "bos-missing": dir.Config.Remove("bos_token"); break;
            case "bos-unknown": dir.Config["bos_token"] = "<nope>"; break;
            case "eos-number": dir.Config["eos_token"] = 5; break;
        }
        var e = Assert.Throws<InvalidDataException>(() => dir.Load());
        Assert.Contains(field, e.Message);
        Assert.Contains(field.StartsWith("bos", StringComparison.Ordinal) || field.StartsWith("eos", StringComparison.Ordinal)
            ? "tokenizer_config.json" : "tokenizer.json", e.Message);
    }

    public static TheoryData<string, string> Unsupported => new()
    {
        { "unigram", "model.type" },
        { "byte-fallback", "model.byte_fallback" },
        { "normalizer", "normalizer" },
        { "gpt2-pretokenizer", "pre_tokenizer" },
        { "decoder", "decoder" },
        { "prefix", "model.continuing_subword_prefix" },
    };

    [Theory]
    [MemberData(nameof(Unsupported))]
    public void Non_byte_level_bpe_is_rejected_as_not_supported(string change, string field)
    {
        using var dir = new MiniTokenizerDir();
        switch (change)
        {
            case "unigram": dir.Model["type"] = "Unigram"; break;
            case "byte-fallback": dir.Model["byte_fallback"] = true; break;
            case "normalizer": dir.Tokenizer["normalizer"] = new JsonObject { ["type"] = "NFC" }; break;
            case "gpt2-pretokenizer":
                dir.Tokenizer["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["use_regex"] = true };
                break;
            case "decoder": dir.Tokenizer["decoder"] = new JsonObject { ["type"] = "Metaspace" }; break;
            case "prefix": dir.Model["continuing_subword_prefix"] = "##"; break;
        }
        var e = Assert.Throws<NotSupportedException>(() => dir.Load());
        Assert.Contains(field, e.Message);
    }

    [Fact]
    public void Shipped_tokenizer_loads()
    {
        // Load time is a benchmark's business, not a test's (this machine varies by tens of percent).
        var t = BpeTokenizer.FromDirectory(TestAssets.TokenizerDir);
        Assert.Equal(128256, t.VocabSize);
        Assert.Equal("Halo", t.Decode(t.Encode("Halo")));
    }
}
