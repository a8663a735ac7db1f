using SeaLion.Engine;
using SeaLion.Model;
using SeaLion.Model.Llama;
using SeaLion.Tokenization;

namespace SeaLion.Silo;

/// <summary>
/// What one silo serves: its model's config and tokenizer, its engine, and the loaded model unless the engine is
/// simulated. A singleton of the silo's container; owns the engine and the model.
/// </summary>
public sealed class EngineHost(string modelName, LlamaConfig config, BpeTokenizer tokenizer, LlmEngine engine, LlamaModel? model) : IDisposable
{
    public string ModelName { get; } = modelName;
    public LlamaConfig Config { get; } = config;
    public BpeTokenizer Tokenizer { get; } = tokenizer;
    public LlmEngine Engine { get; } = engine;
    public bool Simulated => model is null;

    public void Dispose()
    {
        Engine.Dispose();
        model?.Dispose();
    }
}
