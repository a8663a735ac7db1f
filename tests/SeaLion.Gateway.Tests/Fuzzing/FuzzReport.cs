using System.Collections.Concurrent;
using System.Text;

namespace SeaLion.Gateway.Tests.Fuzzing;

/// <summary>What one case got: the status (an HTTP code or a gRPC status name), its time, and why it fails the run, if it does.</summary>
internal sealed record FuzzOutcome(int Index, string Target, string Status, double Ms, string? Failure, string Description);

/// <summary>A run's figures: cases, status counts (overall and per endpoint or method), the slowest cases, every failure with how to replay it.</summary>
internal sealed class FuzzReport(string api, FuzzSettings settings)
{
    readonly ConcurrentBag<FuzzOutcome> _outcomes = [];
    public int Probes { get; set; }
    public TimeSpan Elapsed { get; set; }

    public void Add(FuzzOutcome o) => _outcomes.Add(o);
    public int Cases => _outcomes.Count;
    public IReadOnlyList<FuzzOutcome> Failures => [.. _outcomes.Where(o => o.Failure is not null).OrderBy(o => o.Index)];
    public int Count(Func<string, bool> status) => _outcomes.Count(o => status(o.Status));

    public string Format()
    {
        var s = new StringBuilder();
        s.AppendLine($"{api} fuzz: seed {settings.Seed}, {Cases} cases in {Elapsed.TotalSeconds:F1} s ({Cases / Math.Max(Elapsed.TotalSeconds, 1e-9):F0} cases/s, {settings.Parallel} in flight)");
        s.AppendLine("  statuses: " + Counts(_outcomes));
        foreach (var g in _outcomes.GroupBy(o => o.Target).OrderBy(g => g.Key, StringComparer.Ordinal))
            s.AppendLine($"    {g.Key}: {Counts(g)}");
        s.AppendLine($"  good request served after every {settings.ProbeEvery} cases and at the end: {Probes} probes, each the same as before the run");
        s.AppendLine("  slowest:");
        foreach (var o in _outcomes.OrderByDescending(o => o.Ms).Take(3))
            s.AppendLine($"    #{o.Index} {o.Target} {o.Status} {o.Ms:F0} ms [{o.Description}]");
        var failures = Failures;
        s.AppendLine($"  failures: {failures.Count}");
        foreach (var f in failures.Take(50))
            s.AppendLine($"    #{f.Index} {f.Target} {f.Status}: {f.Failure} [{f.Description}]  replay: SEALION_FUZZ_SEED={settings.Seed} SEALION_FUZZ_ONLY={api.ToLowerInvariant()}:{f.Index}");
        return s.ToString();
    }

    static string Counts(IEnumerable<FuzzOutcome> outcomes) =>
        string.Join(", ", outcomes.GroupBy(o => o.Status).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key} {g.Count()}"));
}

/// <summary>
/// How a run is sized and seeded, from the environment: SEALION_FUZZ_CASES (per API; the suite's default is
/// small), SEALION_FUZZ_SEED, SEALION_FUZZ_ONLY ("rest:17,grpc:4": replay those cases and print them whole),
/// SEALION_FUZZ_PARALLEL (cases in flight), SEALION_FUZZ_REPORT (a folder the reports are written to).
/// </summary>
internal sealed record FuzzSettings(int Cases, long Seed, int Parallel, int ProbeEvery, TimeSpan CaseTimeout, IReadOnlyList<(string Api, int Index)> Only, string? ReportDir)
{
    public const long DefaultSeed = 20261216;
    public const int DefaultCases = 1000;

    public static FuzzSettings FromEnvironment()
    {
        static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;
        var only = (Env("SEALION_FUZZ_ONLY") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(x => x.Split(':')).Select(p => (p[0].ToLowerInvariant(), int.Parse(p[1]))).ToList();
        return new FuzzSettings(
            Cases: int.Parse(Env("SEALION_FUZZ_CASES") ?? DefaultCases.ToString()),
            Seed: long.Parse(Env("SEALION_FUZZ_SEED") ?? DefaultSeed.ToString()),
            Parallel: int.Parse(Env("SEALION_FUZZ_PARALLEL") ?? "4"),
            ProbeEvery: 1000,
            CaseTimeout: TimeSpan.FromSeconds(60),
            Only: only,
            ReportDir: Env("SEALION_FUZZ_REPORT"));
    }

    /// <summary>The case indexes this run covers: the replayed ones for this API, or 0..Cases-1.</summary>
    public IReadOnlyList<int> Indexes(string api) =>
        Only.Count > 0 ? [.. Only.Where(o => o.Api == api).Select(o => o.Index)] : [.. Enumerable.Range(0, Cases)];

    public void Save(string api, string text)
    {
        if (ReportDir is null) return;
        Directory.CreateDirectory(ReportDir);
        File.WriteAllText(Path.Combine(ReportDir, $"{api}-{Seed}.txt"), text);
    }
}
