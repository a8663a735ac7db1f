using SeaLion.Engine;
using SeaLion.Model;
using SeaLion.Model.Llama;
using SeaLion.Templates;
using SeaLion.Tokenization;

namespace SeaLion.Silo;

/// <summary>
/// What one silo serves: its model's config, tokenizer and chat template, its engine, and the loaded model unless
/// the engine is simulated. A singleton of the silo's container, which disposes it (the engine, then the model).
/// One engine per silo: it spans all of the host's GPUs as one tensor-parallel group.
/// </summary>
public sealed class EngineHost(string modelName, LlamaConfig config, BpeTokenizer tokenizer, ChatTemplate template, LlmEngine engine, LlamaModel? model) : IDisposable
{
    public string ModelName { get; } = modelName;
    public LlamaConfig Config { get; } = config;
    public BpeTokenizer Tokenizer { get; } = tokenizer;
    public ChatTemplate Template { get; } = template;
    public LlmEngine Engine { get; } = engine;
    public bool Simulated => model is null;

    /// <summary>The engine grain key of the engine on the silo whose pinned key is <paramref name="siloKey"/>.</summary>
    public static string EngineId(string siloKey) => siloKey + "/0";

    /// <summary>
    /// Loads a model folder (config, tokenizer, chat template) and starts its engine: the TorchSharp engine over its
    /// weights, or the simulated H100 engine in wall time scaled by <paramref name="simulatedTimeScale"/>.
    /// </summary>
    public static EngineHost Create(string modelDir, string modelName, ModelOptions modelOptions, EngineOptions engineOptions,
        bool simulated, double simulatedTimeScale = 1.0)
    {
        var tokenizer = BpeTokenizer.FromDirectory(modelDir);
        var config = LlamaConfig.FromDirectory(modelDir);
        var template = ChatTemplate.FromTokenizerConfig(Path.Combine(modelDir, "tokenizer_config.json"));
        var model = simulated ? null : LlamaModel.Load(modelDir, modelOptions);
        var engine = model is null
            ? LlmEngine.CreateSimulated(tokenizer, engineOptions, clock: new WallClock(simulatedTimeScale), vocabSize: config.VocabSize, maxContext: config.MaxPositions)
            : LlmEngine.Create(model, tokenizer, engineOptions);
        return new EngineHost(modelName, config, tokenizer, template, engine, model);
    }

    public void Dispose()
    {
        Engine.Dispose();
        model?.Dispose();
    }
}
