using SeaLion.Tokenization;

namespace SeaLion.Gateway;

/// <summary>The model the cluster serves, as the gateway needs it: name, tokenizer and limits.</summary>
public sealed record ModelCatalog(string Name, BpeTokenizer Tokenizer, int ContextLength, int VocabSize);
