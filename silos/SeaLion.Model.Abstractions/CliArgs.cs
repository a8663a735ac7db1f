using System.Globalization;

// Lives beside the model's description (no dependencies) so that the benchmark entry point (SeaLion.Bench,
// SeaLion.GpuBench) parses options as the CLI does without taking SeaLion.Hosting's Orleans and ASP.NET Core along;
// the namespace stays SeaLion.Hosting, where every verb already looks for it.
namespace SeaLion.Hosting;

/// <summary>A usage error: the message names the option and what was wrong; the CLI exits with code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>
/// `--name value` options and `--flag` switches of one verb. Every option a verb reads must be declared by
/// reading it; <see cref="EnsureAllUsed"/> then rejects anything the user typed that no code looked at.
/// </summary>
public sealed class CliArgs
{
    readonly string _verb;
    readonly Dictionary<string, List<string?>> _values = new(StringComparer.Ordinal);
    readonly HashSet<string> _used = new(StringComparer.Ordinal);

    public CliArgs(string verb, IEnumerable<string> args)
    {
        _verb = verb;
        var list = args.ToList();
        for (int i = 0; i < list.Count; i++)
        {
            string a = list[i];
            if (!a.StartsWith("--", StringComparison.Ordinal) || a.Length == 2)
                throw new UsageException($"'{verb}': unexpected argument '{a}' (options are written --name value)");
            string name = a[2..];
            string? value = null;
            int eq = name.IndexOf('=');
            if (eq >= 0) { value = name[(eq + 1)..]; name = name[..eq]; }
            else if (i + 1 < list.Count && !(list[i + 1].StartsWith("--", StringComparison.Ordinal) && list[i + 1].Length > 2)) value = list[++i];
            if (!_values.TryGetValue(name, out var vs)) _values[name] = vs = new();
            vs.Add(value);
        }
    }

    public bool Has(string name) { _used.Add(name); return _values.ContainsKey(name); }

    public bool Flag(string name)
    {
        _used.Add(name);
        if (!_values.TryGetValue(name, out var vs)) return false;
        if (vs.Any(v => v is not null)) throw new UsageException($"'{_verb}': --{name} is a switch and takes no value");
        return true;
    }

    public string? String(string name)
    {
        _used.Add(name);
        if (!_values.TryGetValue(name, out var vs)) return null;
        if (vs.Count > 1) throw new UsageException($"'{_verb}': --{name} given {vs.Count} times");
        return vs[0] ?? throw new UsageException($"'{_verb}': --{name} needs a value");
    }

    public IReadOnlyList<string> Strings(string name)
    {
        _used.Add(name);
        if (!_values.TryGetValue(name, out var vs)) return [];
        return vs.Select(v => v ?? throw new UsageException($"'{_verb}': --{name} needs a value")).ToArray();
    }

    public string Required(string name) => String(name) ?? throw new UsageException($"'{_verb}': --{name} is required");

    public int Int(string name, int fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        string? s = String(name);
        if (s is null) return fallback;
        if (!int.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v))
            throw new UsageException($"'{_verb}': --{name} must be an integer, got '{s}'");
        if (v < min || v > max) throw new UsageException($"'{_verb}': --{name} must be between {min} and {max}, got {v}");
        return v;
    }

    public long? Long(string name)
    {
        string? s = String(name);
        if (s is null) return null;
        return long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v) ? v
            : throw new UsageException($"'{_verb}': --{name} must be an integer, got '{s}'");
    }

    public double? Double(string name)
    {
        string? s = String(name);
        if (s is null) return null;
        return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v) ? v
            : throw new UsageException($"'{_verb}': --{name} must be a number, got '{s}'");
    }

    public void EnsureAllUsed()
    {
        var unknown = _values.Keys.Where(k => !_used.Contains(k)).ToList();
        if (unknown.Count > 0)
            throw new UsageException($"'{_verb}': unknown option(s) {string.Join(", ", unknown.Select(u => "--" + u))}; see './sealion help'");
    }

    /// <summary>$SEALION_HOME, else ~/.cache/sealion: the embedded default model and the development API key.</summary>
    public static string Home =>
        Environment.GetEnvironmentVariable("SEALION_HOME") is { Length: > 0 } home ? home
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "sealion");
}
