namespace SeaLion.Model; internal static class Placeholder {}
