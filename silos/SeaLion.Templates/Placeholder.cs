namespace SeaLion.Templates; internal static class Placeholder {}
