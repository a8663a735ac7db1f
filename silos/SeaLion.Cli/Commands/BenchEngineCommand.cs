namespace SeaLion.Cli.Commands;

/// <summary>`bench engine`: the sweep of <see cref="EngineBenchVerb"/> (shared with the GPU bundle's entry point), with --plot.</summary>
internal static class BenchEngineCommand
{
    public static Task<int> Run(CliArgs a) => EngineBenchVerb.RunAsync(a, Console.Out, BenchPlots.WriteSweep);
}
