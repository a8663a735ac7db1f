using SeaLion.Model;
using SeaLion.Templates;
using SeaLion.Tokenization;

namespace SeaLion.Gateway;

/// <summary>The model the cluster serves, as the gateway needs it: name, tokenizer, chat template and limits.</summary>
public sealed record ModelCatalog(string Name, BpeTokenizer Tokenizer, ChatTemplate Template, int ContextLength, int VocabSize)
{
    /// <summary>From a model folder's config, tokenizer and tokenizer_config (chat template) files; no weights are read.</summary>
    public static ModelCatalog FromDirectory(string dir, string name)
    {
        var config = LlamaConfig.FromDirectory(dir);
        return new ModelCatalog(name, BpeTokenizer.FromDirectory(dir), ChatTemplate.FromTokenizerConfig(Path.Combine(dir, "tokenizer_config.json")),
            config.MaxPositions, config.VocabSize);
    }

    /// <summary>The embedded default's description (the shipped tiny config and the Llama 3 tokenizer), for a gateway given no --model.</summary>
    public static ModelCatalog Embedded(string name)
    {
        string assets = Path.Combine(AppContext.BaseDirectory, "assets"), tokenizer = Path.Combine(assets, "llama3-tokenizer");
        string configPath = Path.Combine(assets, "configs", "tiny.json");
        var config = LlamaConfig.Parse(File.ReadAllText(configPath), configPath);
        return new ModelCatalog(name, BpeTokenizer.FromDirectory(tokenizer), ChatTemplate.FromTokenizerConfig(Path.Combine(tokenizer, "tokenizer_config.json")),
            config.MaxPositions, config.VocabSize);
    }
}
