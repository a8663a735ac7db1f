using SeaLion.Cli.Plotting;
using SeaLion.Engine;

namespace SeaLion.Cli.Commands;

/// <summary>PNG charts of benchmark sweeps: throughput, time to first token and inter-token latency against concurrency.</summary>
internal static class BenchPlots
{
    public static string WriteSweep(string path, string title, IReadOnlyList<SweepPoint> sweep)
    {
        double[] x = sweep.Select(p => (double)p.Concurrency).ToArray();
        SweepPlot.Write(path, title,
        [
            new PlotPanel("Throughput", "concurrent requests", "tokens / s",
                [new PlotSeries("output", x, sweep.Select(p => p.OutputTokensPerSecond).ToArray()),
                 new PlotSeries("prompt + output", x, sweep.Select(p => p.TotalTokensPerSecond).ToArray())], LogX: true),
            new PlotPanel("Time to first token", "concurrent requests", "ms",
                [new PlotSeries("p50", x, sweep.Select(p => p.TtftP50 * 1000).ToArray()),
                 new PlotSeries("p99", x, sweep.Select(p => p.TtftP99 * 1000).ToArray())], LogX: true),
            new PlotPanel("Inter-token latency", "concurrent requests", "ms",
                [new PlotSeries("p50", x, sweep.Select(p => p.ItlP50 * 1000).ToArray()),
                 new PlotSeries("p99", x, sweep.Select(p => p.ItlP99 * 1000).ToArray())], LogX: true),
        ]);
        return path;
    }
}
