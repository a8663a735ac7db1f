using SeaLion.Model.Sampling;
using static TorchSharp.torch;

namespace SeaLion.Engine.Tests;

[Collection("torch")]
public sealed class LlmEngineTests
{
    [Fact]
    public async Task Streams_tokens_text_and_usage_then_a_finish_reason()
    {
        using var model = Engines.TinyModel();
        using var engine = LlmEngine.Create(model, Engines.Tokenizer, new EngineOptions { NumBlocks = 64 });
        var outs = new List<EngineOutput>();
        await foreach (var o in engine.GenerateAsync(new GenerateRequest(Engines.Prompt(20, 1), new SamplingParams { Temperature = 0, MaxTokens = 7, IgnoreEos = true, Logprobs = 2 })))
            outs.Add(o);
        Assert.Equal(7, outs.Sum(o => o.TokenIds.Count));
        Assert.Equal("length", outs[^1].FinishReason);
        Assert.All(outs[..^1], o => Assert.Null(o.FinishReason));
        Assert.Equal(new EngineUsage(20, 0, 7), outs[^1].Usage);
        Assert.All(outs, o => Assert.Equal(2, o.Logprobs![0].TopLogprobs!.Count));
        Assert.Equal(Engines.Tokenizer.Decode(outs.SelectMany(o => o.TokenIds), skipSpecialTokens: true), string.Concat(outs.Select(o => o.Text)));
    }

    [Fact]
    public async Task Cancelled_client_frees_its_blocks_and_the_engine_keeps_serving()
    {
        using var model = Engines.TinyModel();
        using var engine = LlmEngine.Create(model, Engines.Tokenizer, new EngineOptions { NumBlocks = 64 });
        using var cts = new CancellationTokenSource();
        int seen = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var o in engine.GenerateAsync(new GenerateRequest(Engines.Prompt(30, 2), new SamplingParams { MaxTokens = 900, IgnoreEos = true }), cts.Token))
                if (++seen == 3) cts.Cancel();
        });
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((engine.Load.Running > 0 || engine.Load.FreeBlocks < 64) && DateTime.UtcNow < deadline) await Task.Delay(10);
        Assert.Equal(0, engine.Load.Running);
        Assert.Equal(64, engine.Load.FreeBlocks);
        // A consumer that simply stops reading is treated the same way.
        await foreach (var o in engine.GenerateAsync(new GenerateRequest(Engines.Prompt(30, 3), new SamplingParams { MaxTokens = 900, IgnoreEos = true })))
            break;
        deadline = DateTime.UtcNow.AddSeconds(10);
        while (engine.Load.Running > 0 && DateTime.UtcNow < deadline) await Task.Delay(10);
        Assert.Equal(0, engine.Load.Running);
        var again = new List<EngineOutput>();
        await foreach (var o in engine.GenerateAsync(new GenerateRequest(Engines.Prompt(5, 4), new SamplingParams { MaxTokens = 3, IgnoreEos = true }))) again.Add(o);
        Assert.Equal("length", again[^1].FinishReason);
    }

    [Fact]
    public async Task Invalid_request_fails_before_streaming_and_changes_nothing()
    {
        using var model = Engines.TinyModel();
        using var engine = LlmEngine.Create(model, Engines.Tokenizer, new EngineOptions { NumBlocks = 64 });
        var e = await Assert.ThrowsAnyAsync<ArgumentException>(async () =>
        {
            await foreach (var _ in engine.GenerateAsync(new GenerateRequest([1, 200000], new SamplingParams()))) { }
        });
        Assert.Contains("200000", e.Message);
        Assert.Equal(0, engine.Load.Running + engine.Load.Waiting);
    }

    [Fact]
    public async Task Ten_thousand_short_requests_leave_no_tensors_or_blocks_behind()
    {
        using var model = Engines.TinyModel();
        using var engine = LlmEngine.Create(model, Engines.Tokenizer, new EngineOptions { NumBlocks = 256, Scheduler = new SchedulerOptions { MaxSeqs = 64 } });
        async Task Burst(int n, int seed)
        {
            var tasks = Enumerable.Range(0, n).Select(async i =>
            {
                int count = 0;
                await foreach (var o in engine.GenerateAsync(new GenerateRequest(Engines.Prompt(2 + i % 5, seed + i), new SamplingParams { MaxTokens = 2, IgnoreEos = true, Temperature = 0 })))
                    count += o.TokenIds.Count;
                Assert.Equal(2, count);
            });
            await Task.WhenAll(tasks);
        }
        await Burst(500, 0);                                  // warm up: allocator and caches settle
        GC.Collect(); GC.WaitForPendingFinalizers();
        long tensorsBefore = TorchSharp.torch.Tensor.TotalCount;
        for (int round = 0; round < 10; round++) await Burst(1000, 1000 * (round + 1));
        GC.Collect(); GC.WaitForPendingFinalizers();
        long tensorsAfter = TorchSharp.torch.Tensor.TotalCount;
        Assert.True(tensorsAfter - tensorsBefore <= 0, $"live tensors grew from {tensorsBefore} to {tensorsAfter}");
        Assert.Equal(256, engine.Load.FreeBlocks);
        Assert.Equal(10_500, engine.Load.GeneratedTokens / 2);
    }
}
