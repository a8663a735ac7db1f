using SeaLion.Hosting;
using SeaLion.Model.Weights;

namespace SeaLion.Bench;

/// <summary>
/// Finds model folders: the one given with --model, or the embedded default: the `tiny` config with seeded
/// random weights and the real Llama 3 tokenizer, generated on first use into the cache folder
/// ($SEALION_HOME, else ~/.cache/sealion) and never committed.
/// </summary>
public static class ModelLocator
{
    public const string DefaultName = "sealion-tiny-random-v1";
    const ulong DefaultSeed = 20261127;

    public static string AssetsDir => Path.Combine(AppContext.BaseDirectory, "assets");
    public static string TokenizerDir => Path.Combine(AssetsDir, "llama3-tokenizer");

    public static string CacheRoot => CliArgs.Home;

    public static string Resolve(string? model)
    {
        if (model is not null)
        {
            // A GGUF file stands for the folder that describes it (config and tokenizer from its metadata).
            if (model.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase) && File.Exists(model)) return SeaLion.Model.Gguf.GgufModel.Describe(model, CacheRoot);
            if (!Directory.Exists(model)) throw new UsageException($"--model: folder or .gguf file '{model}' does not exist");
            return model;
        }
        string dir = Path.Combine(CacheRoot, "models", DefaultName);
        if (File.Exists(Path.Combine(dir, "config.json"))) return dir;
        // Build in a private folder, then rename: a concurrent first use never sees half a model.
        string tmp = dir + $".tmp-{Environment.ProcessId}";
        Console.Error.WriteLine($"sealion: writing the embedded default model (tiny config, random weights) to {dir}");
        RandomCheckpoint.Write(ConfigPath("tiny"), tmp, DefaultSeed, TokenizerDir);
        Directory.CreateDirectory(Path.GetDirectoryName(dir)!);
        try { Directory.Move(tmp, dir); }
        catch (IOException) when (File.Exists(Path.Combine(dir, "config.json"))) { Directory.Delete(tmp, recursive: true); }
        return dir;
    }

    /// <summary>A config file path, or the name of a shipped config (tiny, small, medium, llama3-8b).</summary>
    public static string ConfigPath(string nameOrPath)
    {
        if (File.Exists(nameOrPath)) return nameOrPath;
        string shipped = Path.Combine(AssetsDir, "configs", nameOrPath + ".json");
        if (File.Exists(shipped)) return shipped;
        var names = Directory.GetFiles(Path.Combine(AssetsDir, "configs"), "*.json").Select(Path.GetFileNameWithoutExtension);
        throw new UsageException($"--config: '{nameOrPath}' is neither a file nor a shipped config ({string.Join(", ", names)})");
    }
}
