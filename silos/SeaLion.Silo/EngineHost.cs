using SeaLion.Engine;
using SeaLion.Model;
using SeaLion.Model.Llama;
using SeaLion.Tokenization;

namespace SeaLion.Silo;

/// <summary>What one silo serves: its model, tokenizer and engine. A singleton of the silo's container; owns them.</summary>
public sealed class EngineHost(string modelName, LlamaModel model, BpeTokenizer tokenizer, LlmEngine engine) : IDisposable
{
    public string ModelName { get; } = modelName;
    public LlamaConfig Config => model.Config;
    public BpeTokenizer Tokenizer { get; } = tokenizer;
    public LlmEngine Engine { get; } = engine;

    public void Dispose()
    {
        Engine.Dispose();
        model.Dispose();
    }
}
