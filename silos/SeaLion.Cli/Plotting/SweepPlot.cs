using ScottPlot;
using SkiaSharp;

namespace SeaLion.Cli.Plotting;

/// <summary>One line of a panel: points (X[i], Y[i]); non-finite points (and, on a log x axis, X &lt;= 0) are skipped.</summary>
internal sealed record PlotSeries(string Name, double[] X, double[] Y);

/// <summary>One chart of a <see cref="SweepPlot"/> figure. <paramref name="LogX"/> draws x on a log2 scale, ticks at powers of two.</summary>
internal sealed record PlotPanel(string Title, string XLabel, string YLabel, IReadOnlyList<PlotSeries> Series, bool LogX = false);

/// <summary>
/// Line charts for benchmark sweeps, as a PNG: a figure title over one or more panels side by side.
/// Text uses the DejaVu Sans fonts embedded in this assembly (Plotting/Fonts), never a system font,
/// so the output is the same everywhere and a machine without any installed font still renders labels.
/// </summary>
internal static class SweepPlot
{
    const string FontName = "SeaLion DejaVu Sans";
    const float TitleBand = 44;

    public static void Write(string pngPath, string title, IReadOnlyList<PlotPanel> panels, int width = 1400, int height = 500)
    {
        ArgumentException.ThrowIfNullOrEmpty(pngPath);
        ArgumentNullException.ThrowIfNull(panels);
        if (panels.Count == 0) throw new ArgumentException("at least one panel is required", nameof(panels));
        if (width < 200 * panels.Count || height < 200)
            throw new ArgumentOutOfRangeException(nameof(width), $"{width}x{height} is too small for {panels.Count} panel(s) (at least 200x200 each)");

        EmbeddedFonts.Register();

        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul);
        using var surface = SKSurface.Create(info) ?? throw new InvalidOperationException($"cannot allocate a {width}x{height} canvas");
        SKCanvas canvas = surface.Canvas;
        canvas.Clear(SKColors.White);

        using (var font = new SKFont(EmbeddedFonts.Bold, 20))
        using (var paint = new SKPaint { Color = SKColors.Black, IsAntialias = true })
            canvas.DrawText(title ?? "", width / 2f, TitleBand - 14, SKTextAlign.Center, font, paint);

        // Each panel renders on its own surface (ScottPlot clears the canvas it draws on), then is pasted in its column.
        int panelHeight = height - (int)TitleBand;
        for (int i = 0; i < panels.Count; i++)
        {
            int left = i * width / panels.Count, right = (i + 1) * width / panels.Count;
            using var panelSurface = SKSurface.Create(new SKImageInfo(right - left, panelHeight, SKColorType.Rgba8888, SKAlphaType.Premul))
                ?? throw new InvalidOperationException($"cannot allocate a {right - left}x{panelHeight} canvas");
            BuildPanel(panels[i]).Render(panelSurface.Canvas, right - left, panelHeight);
            using SKImage panelImage = panelSurface.Snapshot();
            canvas.DrawImage(panelImage, left, TitleBand);
        }

        string? dir = Path.GetDirectoryName(Path.GetFullPath(pngPath));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        using SKImage image = surface.Snapshot();
        using SKData png = image.Encode(SKEncodedImageFormat.Png, 100) ?? throw new InvalidOperationException("PNG encoding failed");
        using FileStream file = File.Create(pngPath);
        png.SaveTo(file);
    }

    static Plot BuildPanel(PlotPanel panel)
    {
        var plot = new Plot();
        plot.Font.Set(FontName);
        plot.Title(panel.Title ?? "", size: 16);
        plot.XLabel(panel.XLabel ?? "", size: 14);
        plot.YLabel(panel.YLabel ?? "", size: 14);

        double minX = double.PositiveInfinity, maxX = double.NegativeInfinity;
        bool any = false;
        foreach (PlotSeries s in panel.Series ?? [])
        {
            var xs = new List<double>();
            var ys = new List<double>();
            int n = Math.Min(s.X?.Length ?? 0, s.Y?.Length ?? 0);
            for (int j = 0; j < n; j++)
            {
                double x = s.X![j], y = s.Y![j];
                if (!double.IsFinite(x) || !double.IsFinite(y) || (panel.LogX && x <= 0)) continue;
                xs.Add(panel.LogX ? Math.Log2(x) : x);
                ys.Add(y);
            }
            if (xs.Count == 0) continue;
            any = true;
            minX = Math.Min(minX, xs.Min());
            maxX = Math.Max(maxX, xs.Max());
            var scatter = plot.Add.Scatter(xs.ToArray(), ys.ToArray());
            scatter.LegendText = s.Name ?? "";
            scatter.LineWidth = 2;
            scatter.MarkerSize = 7;
        }

        if (panel.LogX && any)
        {
            var ticks = new ScottPlot.TickGenerators.NumericManual();
            for (int e = (int)Math.Floor(minX); e <= (int)Math.Ceiling(maxX); e++)
                ticks.AddMajor(e, FormatPow2(e));
            plot.Axes.Bottom.TickGenerator = ticks;
        }

        if (any)
        {
            plot.ShowLegend(Alignment.UpperLeft);
            plot.Legend.FontSize = 12;
        }
        // Throughputs and latencies are non-negative: keep 0 in view so the slope reads honestly.
        plot.Axes.AutoScale();
        var limits = plot.Axes.GetLimits();
        if (any && limits.Bottom > 0) plot.Axes.SetLimitsY(0, limits.Top);
        return plot;
    }

    static string FormatPow2(int e)
    {
        double v = Math.Pow(2, e);
        return v >= 1 ? v.ToString("0", System.Globalization.CultureInfo.InvariantCulture)
                      : v.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Serves the embedded DejaVu Sans (regular, bold) to ScottPlot under <see cref="FontName"/>, ahead of its system-font lookup.</summary>
    static class EmbeddedFonts
    {
        static readonly object Gate = new();
        static bool _registered;
        static SKTypeface? _regular, _bold;

        public static SKTypeface Bold { get { Register(); return _bold!; } }

        public static void Register()
        {
            lock (Gate)
            {
                if (_registered) return;
                _regular = Load("DejaVuSans.ttf");
                _bold = Load("DejaVuSans-Bold.ttf");
                Fonts.FontResolvers.Insert(0, new Resolver());
                Fonts.Default = FontName;
                Fonts.Sans = FontName;
                _registered = true;
            }
        }

        static SKTypeface Load(string file)
        {
            string resource = $"SeaLion.Cli.Fonts.{file}";
            using Stream stream = typeof(SweepPlot).Assembly.GetManifestResourceStream(resource)
                ?? throw new InvalidOperationException($"embedded font {resource} is missing from {typeof(SweepPlot).Assembly.GetName().Name}");
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            using SKData data = SKData.CreateCopy(copy.GetBuffer().AsSpan(0, (int)copy.Length));
            return SKTypeface.FromData(data) ?? throw new InvalidOperationException($"embedded font {resource} could not be loaded");
        }

        sealed class Resolver : IFontResolver
        {
            public SKTypeface? CreateTypeface(string fontName, FontWeight weight, FontSlant slant, FontSpacing width) =>
                fontName == FontName ? (weight >= FontWeight.SemiBold ? _bold : _regular) : null;

            public SKTypeface? CreateTypeface(string fontName, bool bold, bool italic) =>
                fontName == FontName ? (bold ? _bold : _regular) : null;
        }
    }
}
