using SeaLion.Engine;

namespace SeaLion.Cli.Commands;

/// <summary>PNG charts of benchmark sweeps (throughput and latency against concurrency).</summary>
internal static class BenchPlots
{
    public static string WriteSweep(string path, string title, IReadOnlyList<SweepPoint> sweep)
    {
        throw new UsageException("--plot is not available yet");
    }
}
