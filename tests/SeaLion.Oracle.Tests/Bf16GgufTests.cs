using SeaLion.LlamaCppRef;
using SeaLion.Model;
using SeaLion.Model.Gguf;
using SeaLion.Model.Weights;

namespace SeaLion.Oracle.Tests;

/// <summary>
/// The BF16 route `bench gguf` takes for models too big for an F32 copy (the 8B shape): the GGUF written straight from
/// the seeded tensors is the file written from the BF16 safetensors folder holding the same tensors, and it computes
/// what that folder computes.
/// </summary>
[Collection("oracle")]
public sealed class Bf16GgufTests(OracleModels models)
{
    [Fact]
    public void A_bf16_gguf_drawn_tensor_by_tensor_equals_the_one_written_from_its_bf16_folder_and_computes_the_same()
    {
        const ulong Seed = 21;
        var (hf, _) = models.Get(256, 2, 4, 2, 512, Seed);
        string config = Path.Combine(hf, "config.json");
        string folder = Path.Combine(models.Root, "bf16-folder"), meta = Path.Combine(models.Root, "bf16-meta");
        RandomCheckpoint.Write(config, folder, Seed, OracleModels.TokenizerDir, StoredDType.BF16);
        RandomCheckpoint.Write(config, meta, Seed, OracleModels.TokenizerDir, StoredDType.BF16, weights: false);
        Assert.Empty(Directory.GetFiles(meta, "*.safetensors*"));

        string fromFolder = Path.Combine(models.Root, "from-folder.gguf"), drawn = Path.Combine(models.Root, "drawn.gguf");
        GgufWriter.Write(folder, fromFolder, name: "m", bf16: true);
        var cfg = LlamaConfig.Parse(File.ReadAllText(config), config);
        GgufWriter.Write(meta, drawn, name: "m", bf16: true, tensors: RandomCheckpoint.Entries(cfg, Seed, StoredDType.BF16));
        Assert.True(File.ReadAllBytes(fromFolder).AsSpan().SequenceEqual(File.ReadAllBytes(drawn)), "the two BF16 GGUF files differ");

        // bf16 values are exact in fp32: the folder and the GGUF give the same logits.
        var want = GgufOracleTests.OurLogits(folder, GgufOracleTests.Prompt);
        var got = GgufOracleTests.OurLogits(GgufModel.Describe(drawn, Path.Combine(models.Root, "cache-bf16")), GgufOracleTests.Prompt);
        for (int i = 0; i < want.Length; i++)
            for (int j = 0; j < want[i].Length; j += 97)
                Assert.True(Math.Abs(want[i][j] - got[i][j]) < 1e-4, $"position {i}, token {j}: {got[i][j]} vs {want[i][j]}");
    }
}
