using System.Text.Json;

namespace SeaLion.Gateway.Tests;

/// <summary>
/// The gateway process needs no model runtime: its dependency graph (the restore's project.assets.json, which lists
/// every package and project it pulls in, transitively) has no TorchSharp, no libtorch and none of the projects that
/// hold the model (SeaLion.Model, SeaLion.Engine, SeaLion.Silo). The same for the layers below the engine.
/// </summary>
public sealed class LayeringTests
{
    static readonly string Root = FindRoot();

    static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "SeaLion.Cluster.sln"))) return d.FullName;
        throw new InvalidOperationException("SeaLion.Cluster.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>Every library (package or project) in a project's restored graph, as "Name/Version".</summary>
    static string[] Libraries(string project)
    {
        string assets = Path.Combine(Root, project, "obj", "project.assets.json");
        Assert.True(File.Exists(assets), $"{assets} is missing: restore the solution first");
        using var doc = JsonDocument.Parse(File.ReadAllText(assets));
        return doc.RootElement.GetProperty("libraries").EnumerateObject().Select(p => p.Name).ToArray();
    }

    static string[] Offending(string[] libraries, params string[] forbidden) =>
        libraries.Where(l => forbidden.Any(f => l.StartsWith(f + "/", StringComparison.OrdinalIgnoreCase) || l.StartsWith(f + ".", StringComparison.OrdinalIgnoreCase)
            || (f.EndsWith('*') && l.StartsWith(f[..^1], StringComparison.OrdinalIgnoreCase)))).ToArray();

    [Fact]
    public void Gateway_depends_on_no_model_runtime()
    {
        var libs = Libraries("gateway/SeaLion.Gateway");
        // What it must have, so that a change in the file's shape cannot make this test pass vacuously.
        foreach (var needed in new[] { "SeaLion.Contracts/", "SeaLion.Tokenization/", "SeaLion.Templates/", "SeaLion.Routing/", "Microsoft.Orleans.Client/" })
            Assert.Contains(libs, l => l.StartsWith(needed, StringComparison.Ordinal));
        Assert.Empty(Offending(libs, "TorchSharp*", "libtorch*", "SeaLion.Model/", "SeaLion.Engine/", "SeaLion.Silo/", "SeaLion.Cli/"));
    }

    [Fact]
    public void Gateway_build_output_has_no_native_torch()
    {
        string bin = Path.GetDirectoryName(typeof(GatewayCommand).Assembly.Location)!;
        string gatewayBin = Path.Combine(Root, "gateway", "SeaLion.Gateway", "bin", "Release", "net10.0", "linux-x64");
        if (!Directory.Exists(gatewayBin)) gatewayBin = Path.Combine(Root, "gateway", "SeaLion.Gateway", "bin", "Debug", "net10.0", "linux-x64");
        Assert.True(File.Exists(Path.Combine(gatewayBin, "sealion-gateway.dll")), $"no gateway build in {gatewayBin} (test assembly in {bin})");
        var files = Directory.GetFiles(gatewayBin, "*", SearchOption.AllDirectories).Select(Path.GetFileName).ToArray();
        var offending = files.Where(f => f!.Contains("torch", StringComparison.OrdinalIgnoreCase) || f == "SeaLion.Model.dll" || f.StartsWith("SeaLion.Engine", StringComparison.Ordinal)).ToArray();
        Assert.True(offending.Length == 0, "the gateway's build output holds " + string.Join(", ", offending));
    }

    [Theory]
    [InlineData("silos/SeaLion.Routing")]
    [InlineData("silos/SeaLion.Model.Abstractions")]
    [InlineData("silos/SeaLion.Hosting")]
    public void Shared_libraries_carry_no_torch(string project) =>
        Assert.Empty(Offending(Libraries(project), "TorchSharp*", "libtorch*", "SeaLion.Model/"));

    [Theory]
    [InlineData("silos/SeaLion.Engine")]
    [InlineData("silos/SeaLion.Routing")]
    [InlineData("silos/SeaLion.Model")]
    public void Engine_and_below_carry_no_orleans(string project) =>
        Assert.Empty(Offending(Libraries(project), "Microsoft.Orleans*"));
}
