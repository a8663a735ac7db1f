using SeaLion.Model.Llama;
using TorchSharp;
using static TorchSharp.torch;

namespace SeaLion.Model.Tests;

[Collection("torch")]
public sealed class PagedDecodeAttentionTests
{
    [Theory]
    [InlineData(4, 2, 64)]
    [InlineData(8, 8, 32)]
    [InlineData(6, 1, 16)]
    public void Paged_kernel_equals_sdpa_over_each_gathered_context(int qHeads, int kvHeads, int dim)
    {
        var rng = new Random(qHeads * 100 + dim);
        int[] contexts = [1, 17, 40, 5, 33];
        int n = contexts.Length, max = contexts.Max(), slots = 256, t = n + 2;
        using var gen = new Generator(9);
        using var q = randn(t, qHeads + kvHeads, dim, generator: gen).narrow(1, 0, qHeads);   // strided like the model's
        using var cacheK = randn(kvHeads, slots, dim, generator: gen);
        using var cacheV = randn(kvHeads, slots, dim, generator: gen);
        var rows = new[] { 1, 0, 3, 6, 4 };   // decode rows among other tokens, out of order
        var grid = new long[n * max];
        var perm = Enumerable.Range(0, slots).OrderBy(_ => rng.Next()).ToArray();   // scattered slots
        for (int i = 0, at = 0; i < n; i++)
            for (int j = 0; j < contexts[i]; j++) grid[i * max + j] = perm[at++];
        using var group = new DecodeGroup(tensor(rows.Select(r => (long)r).ToArray()), null, null, n, max, rows, grid, contexts);

        Assert.True(PagedDecodeAttention.Supports(ScalarType.Float32, DeviceType.CPU, dim));
        using var got = PagedDecodeAttention.Run(q, cacheK, cacheV, group, qHeads, kvHeads, dim);
        for (int i = 0; i < n; i++)
        {
            using var scope = NewDisposeScope();
            var idx = tensor(grid.AsSpan(i * max, contexts[i]).ToArray());
            var k = cacheK.index_select(1, idx).unsqueeze(0);                                       // [1, kvHeads, ctx, D]
            var v = cacheV.index_select(1, idx).unsqueeze(0);
            var qi = q[rows[i]].reshape(1, kvHeads, qHeads / kvHeads, dim);                         // each KV head's query group
            var want = nn.functional.scaled_dot_product_attention(qi, k, v).reshape(qHeads * dim);
            var diff = (got[i] - want).abs().max().item<float>();
            Assert.True(diff < 1e-5, $"sequence {i} (context {contexts[i]}): max |diff| {diff}");
        }
    }

    [Fact]
    public void A_decode_step_over_scattered_blocks_matches_the_libtorch_path()
    {
        int[][] prompts = [[128000, 9906, 11, 1917, 0, 1115, 374], [128000, 40, 1093, 311, 2019], [128000, 578, 3363, 13, 9906, 11, 1917, 0, 1115, 374, 264, 1296, 315, 279, 1614, 13, 40, 1093]];
        int[][] tables = [[5, 1], [3], [0, 7]];   // non-contiguous blocks
        float[][] Logits(bool kernels)
        {
            using var model = LlamaModel.Load(TestModels.Get(), new ModelOptions { DType = ScalarType.Float32, TensorParallel = 2, CpuKernels = kernels });
            using var cache = model.CreateKvCache(numBlocks: 8);
            using (var l = model.Forward(new ForwardBatch
            {
                TokenIds = prompts.SelectMany(p => p).ToArray(),
                Sequences = prompts.Select((p, i) => new SequenceChunk(p.Length, p.Length, tables[i])).ToArray(),
            }, cache)) { }
            using var logits = model.Forward(new ForwardBatch
            {
                TokenIds = [264, 1296, 315],
                Sequences = prompts.Select((p, i) => new SequenceChunk(1, p.Length + 1, tables[i])).ToArray(),
            }, cache);
            return TeacherForced.Rows(logits);
        }
        var ours = Logits(true);
        var torchPath = Logits(false);
        for (int i = 0; i < 3; i++)
        {
            double worst = ours[i].Zip(torchPath[i]).Max(p => Math.Abs(p.First - p.Second));
            Assert.True(worst < 1e-3, $"sequence {i}: max |diff| {worst}");
            Assert.Equal(Array.IndexOf(torchPath[i], torchPath[i].Max()), Array.IndexOf(ours[i], ours[i].Max()));
        }
    }
}
