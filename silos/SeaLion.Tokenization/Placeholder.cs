namespace SeaLion.Tokenization; internal static class Placeholder {}
