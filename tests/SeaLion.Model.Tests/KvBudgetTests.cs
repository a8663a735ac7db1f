using SeaLion.Model.Llama;
using TorchSharp;

namespace SeaLion.Model.Tests;

[Collection("torch")]
public sealed class KvBudgetTests
{
    const long GiB = 1L << 30, MiB = 1L << 20;

    [Fact]
    public void Blocks_are_what_the_utilization_leaves_after_what_is_in_use()
    {
        // An 80 GiB device with 18 GiB in use (16 GiB of bf16 8B weights, activations, context), 0.9 utilization:
        // 72 - 18 = 54 GiB of 2 MiB blocks (Llama 3 8B, 16 tokens: 32 layers x 2 x 8 heads x 128 x 2 bytes x 16).
        Assert.Equal(27648, KvBudget.Blocks([(80 * GiB - 18 * GiB, 80 * GiB)], 0.9, 2 * MiB));
    }

    [Fact]
    public void The_tightest_device_decides()
    {
        Assert.Equal(512, KvBudget.Blocks([(70 * GiB, 80 * GiB), (61 * GiB, 80 * GiB)], 0.9, 106 * MiB));   // (72 - 19) GiB / 106 MiB
    }

    [Fact]
    public void No_room_is_an_error_that_names_the_numbers()
    {
        var e = Assert.Throws<InvalidOperationException>(() => KvBudget.Blocks([(10 * GiB, 80 * GiB)], 0.8, 2 * MiB));
        Assert.Contains("gpu_memory_utilization 0.8", e.Message);
        Assert.Contains("71680 MiB are in use", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => KvBudget.Blocks([(GiB, GiB)], 1.5, MiB));
        Assert.Throws<ArgumentOutOfRangeException>(() => KvBudget.Blocks([(GiB, GiB)], 0, MiB));
    }

    [Fact]
    public void Profile_forward_runs_the_largest_batch_and_frees_its_cache()
    {
        using var model = LlamaModel.Load(TestModels.Get(), new ModelOptions { DType = torch.ScalarType.Float32 });
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long before = torch.Tensor.TotalCount;
        model.ProfileForward(300);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Assert.Equal(before, torch.Tensor.TotalCount);
    }
}
