using SeaLion.Engine.Blocks;
using SeaLion.Routing;
using SeaLion.Model.Llama;
using SeaLion.Model.Sampling;
using SeaLion.Model.Tests;
using SeaLion.Tokenization;
using static TorchSharp.torch;

namespace SeaLion.Engine.Tests;

[CollectionDefinition("torch", DisableParallelization = true)]
public sealed class TorchCollection;

/// <summary>A runner with no model: each sampled token is a deterministic function of the request's tokens so far.</summary>
internal sealed class FakeRunner(int eos = 128009) : IModelRunner
{
    public int VocabSize => 128256;
    public int MaxContext => 8192;
    public IReadOnlyList<int> EosTokenIds => [eos];
    public bool HasLogits => false;
    public List<List<ScheduledChunk>> Steps { get; } = new();

    public IReadOnlyList<SampledToken> Execute(IReadOnlyList<ScheduledChunk> chunks, KvCacheManager kv)
    {
        Steps.Add(chunks.ToList());
        return chunks.Where(c => c.Samples).Select(c =>
        {
            ulong h = 1469598103934665603UL;
            foreach (int t in c.Request.Tokens) h = (h ^ (uint)t) * 1099511628211UL;
            return new SampledToken(1000 + (int)(h % 5000), null, null);
        }).ToArray();
    }

    public void Dispose() { }
}

internal static class Engines
{
    public static BpeTokenizer Tokenizer { get; } = BpeTokenizer.FromDirectory(TestModels.TokenizerDir);

    public static LlamaModel TinyModel() => LlamaModel.Load(TestModels.Get(), new ModelOptions { DType = ScalarType.Float32, TensorParallel = 1 });

    public static EngineCore TorchCore(LlamaModel model, int blocks, SchedulerOptions options) =>
        new(new TorchModelRunner(model, model.CreateKvCache(blocks, options.BlockSize)), Tokenizer, blocks, options);

    /// <summary>Steps the core until every request is done; returns each request's outputs by id.</summary>
    public static Dictionary<string, List<EngineOutput>> RunAll(EngineCore core, IEnumerable<(int AtStep, GenerateRequest Request)> arrivals, int maxSteps = 100_000)
    {
        var outputs = new Dictionary<string, List<EngineOutput>>();
        var pending = arrivals.OrderBy(a => a.AtStep).ToList();
        for (int step = 0; step < maxSteps; step++)
        {
            while (pending.Count > 0 && pending[0].AtStep <= step)
            {
                var req = pending[0].Request;
                outputs[req.RequestId!] = new List<EngineOutput>();
                core.Add(req, o => outputs[o.RequestId].Add(o));
                pending.RemoveAt(0);
            }
            if (pending.Count == 0 && !core.HasWork) return outputs;
            core.Step();
        }
        throw new TimeoutException("requests did not finish");
    }

    public static int[] Tokens(List<EngineOutput> outs) => outs.SelectMany(o => o.TokenIds).ToArray();

    public static int[] Prompt(int length, int seed)
    {
        var rnd = new Random(seed);
        return [128000, .. Enumerable.Range(0, length - 1).Select(_ => rnd.Next(1000, 100000))];
    }
}
