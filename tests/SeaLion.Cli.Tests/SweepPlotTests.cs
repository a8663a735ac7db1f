using System.Buffers.Binary;
using System.Security.Cryptography;
using SeaLion.Cli.Plotting;

namespace SeaLion.Cli.Tests;

/// <summary>SweepPlot writes a real PNG of the requested size whose pixels depend on the data.</summary>
public sealed class SweepPlotTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), $"sealion-plot-{Guid.NewGuid():N}");

    public void Dispose() { try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } }

    static IReadOnlyList<PlotPanel> Panels(double scale)
    {
        double[] conc = [1, 2, 4, 8, 16, 32, 64];
        double[] tput = conc.Select(c => scale * 40 * c / (1 + c / 16)).ToArray();
        double[] ttft = conc.Select(c => scale * (20 + 3 * c)).ToArray();
        return
        [
            new PlotPanel("Throughput", "concurrency", "tokens/s",
                [new PlotSeries("sealion", conc, tput), new PlotSeries("llama.cpp", conc, tput.Select(t => t * 0.8).ToArray())], LogX: true),
            new PlotPanel("TTFT p50", "concurrency", "ms",
                [new PlotSeries("sealion", conc, ttft), new PlotSeries("llama.cpp", conc, ttft.Select(t => t * 1.3).ToArray())], LogX: true),
        ];
    }

    static byte[] WriteAndCheck(string path, IReadOnlyList<PlotPanel> panels, int width, int height, int minBytes = 10_000)
    {
        SweepPlot.Write(path, "engine sweep: 1B random, fp32", panels, width, height);
        byte[] png = File.ReadAllBytes(path);
        Assert.True(png.Length > minBytes, $"PNG is only {png.Length} bytes");
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        Assert.Equal(13, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(8)));
        Assert.Equal("IHDR"u8.ToArray(), png[12..16]);
        Assert.Equal(width, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)));
        Assert.Equal(height, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));
        Assert.Equal("IEND"u8.ToArray(), png[^8..^4]);
        return png;
    }

    [Fact]
    public void SweepPlot_writes_a_two_panel_png_that_depends_on_the_data()
    {
        byte[] a = WriteAndCheck(Path.Combine(_dir, "a.png"), Panels(1.0), 1400, 500);
        byte[] same = WriteAndCheck(Path.Combine(_dir, "same.png"), Panels(1.0), 1400, 500);
        byte[] b = WriteAndCheck(Path.Combine(_dir, "b.png"), Panels(2.5), 1400, 500);
        Assert.Equal(SHA256.HashData(a), SHA256.HashData(same));
        Assert.NotEqual(SHA256.HashData(a), SHA256.HashData(b));
        WriteAndCheck(Path.Combine(_dir, "small.png"), Panels(1.0), 900, 400);
    }

    [Fact]
    public void SweepPlot_survives_empty_and_non_finite_series()
    {
        IReadOnlyList<PlotPanel> panels =
        [
            new PlotPanel("empty", "x", "y", []),
            new PlotPanel("odd", "x", "y", [new PlotSeries("nan", [0, 1, double.NaN, 4], [1, double.PositiveInfinity, 3, 4]), new PlotSeries("none", [], [])], LogX: true),
        ];
        WriteAndCheck(Path.Combine(_dir, "odd.png"), panels, 1000, 400, minBytes: 3_000);
    }
}
