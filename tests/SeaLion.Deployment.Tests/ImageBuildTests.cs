using System.Diagnostics;
using System.Text.Json;
using static SeaLion.Deployment.Tests.Manifests;

namespace SeaLion.Deployment.Tests;

/// <summary>
/// The gateway and CPU silo images built for real (ops/images/build-local.sh: a debootstrap base, buildah, no
/// registry), inspected, and the silo image run and stopped under load through the gateway image
/// (ops/images/run-silo-stop.sh). The scripts install buildah and debootstrap (Debian packages) when missing.
/// </summary>
public sealed class ImageBuildTests
{
    static (int Code, string Out, string Err) Script(string path, TimeSpan limit, params string[] args)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(Root, path));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(limit)) { p.Kill(entireProcessTree: true); throw new TimeoutException($"{path} ran past {limit}"); }
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    [Fact]
    public void The_images_build_run_as_non_root_and_the_silo_drains_its_streams_on_sigterm()
    {
        var (code, output, err) = Script("ops/images/build-local.sh", TimeSpan.FromMinutes(15));
        Assert.True(code == 0, $"build-local.sh failed ({code}):\n{output}\n{err}");
        var images = output.Split('\n').Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement).ToDictionary(e => e.GetProperty("image").GetString()!);
        var gateway = images["sealion-gateway"];
        var silo = images["sealion-silo-cpu"];
        foreach (var image in new[] { gateway, silo })
        {
            Assert.Equal("10001:10001", image.GetProperty("user").GetString());
            Assert.Equal("SIGTERM", image.GetProperty("stop_signal").GetString());
        }
        Assert.Equal(0, gateway.GetProperty("torch_files").GetInt32());   // no libtorch, no TorchSharp in the gateway
        Assert.True(silo.GetProperty("torch_files").GetInt32() > 0);
        Assert.True(gateway.GetProperty("app_mb").GetInt32() * 10 < silo.GetProperty("app_mb").GetInt32(), output);

        var (runCode, run, runErr) = Script("ops/images/run-silo-stop.sh", TimeSpan.FromMinutes(5), "--streams", "8", "--gen-len", "2500", "--stop-after-s", "4");
        Assert.True(runCode == 0, $"run-silo-stop.sh failed ({runCode}):\n{run}\n{runErr}");
        var r = JsonDocument.Parse(run.Split('\n').Last(l => l.StartsWith('{'))).RootElement;
        Assert.Equal(0, r.GetProperty("silo_exit_code").GetInt32());
        Assert.True(r.GetProperty("silo_exit_after_sigterm_s").GetDouble() < 80, run);   // the manifests' grace period
        var streams = r.GetProperty("streams");
        Assert.Equal(8, streams.GetProperty("completed").GetInt32());
        Assert.Equal(0, streams.GetProperty("errors").GetInt32());
    }
}
