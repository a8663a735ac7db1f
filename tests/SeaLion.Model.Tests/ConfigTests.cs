using SeaLion.Model.Llama;
using static TorchSharp.torch;

namespace SeaLion.Model.Tests;

[Collection("torch")]
public sealed class ConfigTests
{
    const string Base = """
        {"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
         "num_attention_heads": 4, "vocab_size": 1000, "max_position_embeddings": 8192 %EXTRA% }
        """;

    static LlamaConfig Parse(string extra = "") => LlamaConfig.Parse(Base.Replace("%EXTRA%", extra));

    [Fact]
    public void Defaults_follow_transformers()
    {
        var c = Parse();
        Assert.Equal(4, c.NumKvHeads);          // num_key_value_heads defaults to num_attention_heads
        Assert.Equal(16, c.HeadDim);
        Assert.Equal(1e-6, c.RmsNormEps);
        Assert.Equal(10000.0, c.RopeTheta);
        Assert.False(c.TieWordEmbeddings);
        Assert.Null(c.RopeScaling);
    }

    [Fact]
    public void Eos_ids_as_int_or_list_and_explicit_head_dim()
    {
        Assert.Equal(new[] { 7 }, Parse(""", "eos_token_id": 7""").EosTokenIds);
        Assert.Equal(new[] { 7, 9 }, Parse(""", "eos_token_id": [7, 9], "head_dim": 32""").EosTokenIds);
        Assert.Equal(32, Parse(""", "head_dim": 32""").HeadDim);
    }

    [Fact]
    public void Generation_config_eos_ids_join_the_config_ones()
    {
        string dir = TestModels.Scratch("cfg");
        File.WriteAllText(Path.Combine(dir, "config.json"), Base.Replace("%EXTRA%", """, "eos_token_id": 5"""));
        File.WriteAllText(Path.Combine(dir, "generation_config.json"), """{"eos_token_id": [5, 8]}""");
        Assert.Equal(new[] { 5, 8 }, LlamaConfig.FromDirectory(dir).EosTokenIds);
    }

    [Fact]
    public void Llama3_rope_scaling_matches_the_reference_formula()
    {
        var c = Parse(""", "rope_theta": 500000.0, "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}""");
        Assert.Equal("llama3", c.RopeScaling!.Type);
        using var rope = new RotaryEmbedding(c);
        // Independent double-precision evaluation of Llama 3.1's frequency scaling at position 5000.
        int d = c.HeadDim, pos = 5000;
        var cos = rope.Cos[pos].data<float>().ToArray();
        for (int j = 0; j < d / 2; j++)
        {
            double inv = 1.0 / Math.Pow(500000.0, 2.0 * j / d), wavelen = 2 * Math.PI / inv;
            double lowWavelen = 8192 / 1.0, highWavelen = 8192 / 4.0, scaled;
            if (wavelen < highWavelen) scaled = inv;
            else if (wavelen > lowWavelen) scaled = inv / 8.0;
            else { double s = (8192 / wavelen - 1.0) / (4.0 - 1.0); scaled = (1 - s) * inv / 8.0 + s * inv; }
            Assert.Equal(Math.Cos(pos * scaled), cos[j], 2);
            Assert.Equal(cos[j], cos[j + d / 2]);
        }
    }

    [Theory]
    [InlineData(""", "num_key_value_heads": 3""", "num_key_value_heads")]
    [InlineData(""", "hidden_act": "gelu" """, "gelu")]
    [InlineData(""", "attention_bias": true""", "attention_bias")]
    [InlineData(""", "rope_scaling": {"rope_type": "llama3", "factor": 8.0}""", "low_freq_factor")]
    [InlineData(""", "eos_token_id": 5000""", "5000")]
    [InlineData(""", "head_dim": "wide" """, "head_dim")]
    public void Bad_configs_name_the_field(string extra, string expected)
    {
        var e = Assert.ThrowsAny<Exception>(() => Parse(extra));
        Assert.Contains(expected, e.Message);
    }
}
