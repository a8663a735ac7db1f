using System.Text.RegularExpressions;
using static SeaLion.Deployment.Tests.Manifests;

namespace SeaLion.Deployment.Tests;

/// <summary>
/// The Dockerfiles under ops/images, read as a reviewer would: base images as build arguments, non-root, the ports
/// the manifests use, a stop signal that drains, no weights and no secrets. (Building and running them needs a
/// builder and a base image; see ops/images/README.md.)
/// </summary>
public sealed class ImageTests
{
    public static TheoryData<string, string, string[]> Images => new()
    {
        { "gateway.Dockerfile", "gateway/SeaLion.Gateway/SeaLion.Gateway.csproj", ["50051", "8080"] },
        { "silo-cpu.Dockerfile", "silos/SeaLion.Cli/SeaLion.Cli.csproj", ["11111", "30000", "9090"] },
        { "silo-cuda.Dockerfile", "silos/SeaLion.Cli/SeaLion.Cli.csproj", ["11111", "30000", "9090"] },
    };

    static string[] Instructions(string text) =>
        Regex.Replace(text, @"\\\r?\n", " ").Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToArray();

    [Theory]
    [MemberData(nameof(Images))]
    public void A_dockerfile_builds_in_stages_from_argument_bases_and_runs_as_a_non_root_user(string file, string project, string[] ports)
    {
        var lines = Instructions(File.ReadAllText(Path.Combine(Root, "ops", "images", file)));
        var froms = lines.Where(l => l.StartsWith("FROM ", StringComparison.Ordinal)).ToArray();
        Assert.True(froms.Length >= 2, $"{file}: not multi-stage");
        Assert.All(froms, f => Assert.Matches(@"^FROM \$\{[A-Z_]+\}", f));   // every base is a build ARG (a local base can stand in)
        Assert.Contains(lines, l => l.StartsWith("RUN dotnet publish " + project, StringComparison.Ordinal));
        string user = lines.Last(l => l.StartsWith("USER ", StringComparison.Ordinal))[5..].Trim();
        Assert.False(user is "0" or "root" || user.StartsWith("0:", StringComparison.Ordinal), $"{file} runs as {user}");
        Assert.Contains("STOPSIGNAL SIGTERM", lines);
        Assert.Matches(@"^ENTRYPOINT \[""dotnet"", ""/app/[a-z-]+\.dll""\]$", lines.Single(l => l.StartsWith("ENTRYPOINT", StringComparison.Ordinal)));
        Assert.Equal(ports, lines.Single(l => l.StartsWith("EXPOSE ", StringComparison.Ordinal))[7..].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        foreach (var label in new[] { "org.opencontainers.image.title", "org.opencontainers.image.description" })
            Assert.Contains(lines, l => l.Contains(label + "=", StringComparison.Ordinal));
        // No weights, no keys: nothing of the kind is copied, and the build context leaves them out.
        Assert.DoesNotContain(lines, l => l.StartsWith("COPY", StringComparison.Ordinal) && Regex.IsMatch(l, @"safetensors|\.gguf|api-keys|dev-api-key|\.pem"));
        string ignore = File.ReadAllText(Path.Combine(Root, ".dockerignore"));
        foreach (var excluded in new[] { "**/*.safetensors", "**/*.gguf", "**/api-keys.json", "artifacts", ".git" })
            Assert.Contains(excluded, ignore.Split('\n').Select(l => l.Trim()));
    }

    [Fact]
    public void The_cuda_image_builds_against_the_cuda_backend_and_the_cpu_image_against_the_cpu_one()
    {
        Assert.Contains("-p:TorchBackend=cuda", File.ReadAllText(Path.Combine(Root, "ops", "images", "silo-cuda.Dockerfile")));
        Assert.Contains("-p:TorchBackend=cpu", File.ReadAllText(Path.Combine(Root, "ops", "images", "silo-cpu.Dockerfile")));
        Assert.DoesNotContain("TorchBackend", File.ReadAllText(Path.Combine(Root, "ops", "images", "gateway.Dockerfile")));
    }

    [Fact]
    public void The_manifests_run_the_images_with_the_ports_they_expose()
    {
        foreach (var overlay in Overlays)
            foreach (var d in Documents(overlay).Where(d => d.Kind == "Deployment"))
            {
                var c = Items(d.Tree, "spec", "template", "spec", "containers").Single();
                string image = Scalar(c, "image")!.Split(':')[0];
                string file = image switch { "sealion-gateway" => "gateway", "sealion-silo-cpu" => "silo-cpu", "sealion-silo-cuda" => "silo-cuda", _ => throw new Xunit.Sdk.XunitException($"{d.Name} runs {image}") };
                var exposed = Instructions(File.ReadAllText(Path.Combine(Root, "ops", "images", file + ".Dockerfile"))).Single(l => l.StartsWith("EXPOSE ", StringComparison.Ordinal))[7..].Split(' ');
                Assert.All(Items(c, "ports"), p => Assert.Contains(Scalar(p, "containerPort"), exposed));
            }
    }
}
