using System.Text.Json.Nodes;
using SeaLion.Model.Llama;
using SeaLion.Model.Weights;
using static TorchSharp.torch;

namespace SeaLion.Model.Tests;

[Collection("torch")]
public sealed class LoaderTests
{
    /// <summary>A private copy of the tiny model folder that a test may damage.</summary>
    static string CopyOf(string src)
    {
        string dir = TestModels.Scratch("loader");
        foreach (var f in Directory.GetFiles(src)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        return dir;
    }

    static void Rewrite(string dir, Func<Dictionary<string, (long[] Shape, float[] Data)>, Dictionary<string, (long[] Shape, float[] Data)>> edit)
    {
        string path = Path.Combine(dir, "model.safetensors");
        var tensors = new Dictionary<string, (long[], float[])>();
        using (var reader = new TensorReader())
            foreach (var t in Safetensors.ReadHeader(path))
            {
                using var x = reader.Read(t, ScalarType.Float32);
                tensors[t.Name] = (t.Shape, x.data<float>().ToArray());
            }
        var edited = edit(tensors);
        SafetensorsWriter.Write(path, edited.Select(kv => new SafetensorsWriter.Entry(kv.Key, kv.Value.Shape, StoredDType.F32,
            () => RandomCheckpoint.Encode(kv.Value.Data, StoredDType.F32))).ToList());
    }

    static string LoadError(string dir) =>
        Assert.ThrowsAny<Exception>(() => { using var m = LlamaModel.Load(dir, new ModelOptions { DType = ScalarType.Float32 }); }).Message;

    [Fact]
    public void Missing_tensor_is_named()
    {
        string dir = CopyOf(TestModels.Get());
        Rewrite(dir, t => { t.Remove("model.layers.1.mlp.up_proj.weight"); return t; });
        Assert.Contains("missing", LoadError(dir));
        Assert.Contains("model.layers.1.mlp.up_proj.weight", LoadError(dir));
    }

    [Fact]
    public void Extra_tensor_is_named()
    {
        string dir = CopyOf(TestModels.Get());
        Rewrite(dir, t => { t["model.layers.0.self_attn.q_norm.weight"] = ([64], new float[64]); return t; });
        var msg = LoadError(dir);
        Assert.Contains("unexpected", msg);
        Assert.Contains("model.layers.0.self_attn.q_norm.weight", msg);
    }

    [Fact]
    public void Mis_shaped_tensor_is_named_with_both_shapes()
    {
        string dir = CopyOf(TestModels.Get());
        Rewrite(dir, t => { t["model.norm.weight"] = ([32], new float[32]); return t; });
        var msg = LoadError(dir);
        Assert.Contains("'model.norm.weight'", msg);
        Assert.Contains("[32]", msg);
        Assert.Contains("[64]", msg);
    }

    [Fact]
    public void Truncated_file_is_reported_before_anything_loads()
    {
        string dir = CopyOf(TestModels.Get());
        string path = Path.Combine(dir, "model.safetensors");
        using (var f = File.OpenWrite(path)) f.SetLength(f.Length - 1000);
        var msg = LoadError(dir);
        Assert.Contains("truncated", msg);
        Assert.Contains("model.layers.1.mlp.down_proj.weight", msg);   // the last tensor in the file
    }

    [Fact]
    public void Unsupported_dtype_and_bad_header_are_reported()
    {
        string dir = CopyOf(TestModels.Get());
        string path = Path.Combine(dir, "model.safetensors");
        byte[] raw = File.ReadAllBytes(path);
        string header = System.Text.Encoding.UTF8.GetString(raw, 8, (int)BitConverter.ToInt64(raw, 0));
        File.WriteAllBytes(path, [.. raw[..8], .. System.Text.Encoding.UTF8.GetBytes(header.Replace("\"F32\"", "\"I8\" ")), .. raw[(8 + header.Length)..]]);
        Assert.Contains("dtype I8", LoadError(dir));
        File.WriteAllBytes(path, [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1, 2]);
        Assert.Contains("header length", LoadError(dir));
    }

    [Fact]
    public void Unknown_architecture_and_unsupported_features_get_clear_errors()
    {
        string dir = CopyOf(TestModels.Get());
        string cfgPath = Path.Combine(dir, "config.json");
        var cfg = JsonNode.Parse(File.ReadAllText(cfgPath))!;
        cfg["architectures"] = new JsonArray("MistralForCausalLM"); cfg["model_type"] = "mistral";
        File.WriteAllText(cfgPath, cfg.ToJsonString());
        Assert.Contains("MistralForCausalLM", LoadError(dir));
        cfg["architectures"] = new JsonArray("LlamaForCausalLM"); cfg["model_type"] = "llama";
        cfg["rope_scaling"] = new JsonObject { ["type"] = "yarn", ["factor"] = 4.0 };
        File.WriteAllText(cfgPath, cfg.ToJsonString());
        Assert.Contains("yarn", LoadError(dir));
        cfg["rope_scaling"] = null; cfg.AsObject().Remove("hidden_size");
        File.WriteAllText(cfgPath, cfg.ToJsonString());
        Assert.Contains("hidden_size", LoadError(dir));
    }

    [Fact]
    public void Sharded_bf16_checkpoint_loads_and_a_missing_shard_is_named()
    {
        string dir = TestModels.Get(dtype: StoredDType.BF16, maxShardBytes: 8L << 20);
        Assert.True(File.Exists(Path.Combine(dir, "model.safetensors.index.json")));
        Assert.True(Directory.GetFiles(dir, "model-*.safetensors").Length > 2);
        // The bf16 checkpoint loads as fp32 and agrees with the fp32 checkpoint up to bf16 rounding of the weights.
        float[][] fromBf16, fromF32;
        int[] ids = [128000, 1115, 374, 264];
        using (var m = LlamaModel.Load(dir, new ModelOptions { DType = ScalarType.Float32 })) fromBf16 = TeacherForced.AllLogits(m, ids);
        using (var m = LlamaModel.Load(TestModels.Get(), new ModelOptions { DType = ScalarType.Float32 })) fromF32 = TeacherForced.AllLogits(m, ids);
        Assert.Equal(Array.IndexOf(fromF32[^1], fromF32[^1].Max()), Array.IndexOf(fromBf16[^1], fromBf16[^1].Max()));

        string copy = CopyOf(dir);
        var shard = Directory.GetFiles(copy, "model-*.safetensors")[1];
        File.Delete(shard);
        var msg = LoadError(copy);
        Assert.Contains(Path.GetFileName(shard), msg);
        Assert.Contains("missing", msg);
    }

    [Fact]
    public void Impossible_tensor_parallel_split_is_rejected_before_loading()
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => LlamaModel.Load(TestModels.Get(), new ModelOptions { TensorParallel = 3 }));
        Assert.Contains("tensor-parallel size 3", e.Message);
    }
}
