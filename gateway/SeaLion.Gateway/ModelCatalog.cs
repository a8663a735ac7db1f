using SeaLion.Model;
using SeaLion.Tokenization;

namespace SeaLion.Gateway;

/// <summary>The model the cluster serves, as the gateway needs it: name, tokenizer and limits.</summary>
public sealed record ModelCatalog(string Name, BpeTokenizer Tokenizer, int ContextLength, int VocabSize)
{
    /// <summary>From a model folder's config and tokenizer files (no weights are read).</summary>
    public static ModelCatalog FromDirectory(string dir, string name)
    {
        var config = LlamaConfig.FromDirectory(dir);
        return new ModelCatalog(name, BpeTokenizer.FromDirectory(dir), config.MaxPositions, config.VocabSize);
    }
}
