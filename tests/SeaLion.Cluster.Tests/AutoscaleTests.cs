using System.Diagnostics;
using System.Text.Json;
using SeaLion.Cli.Commands;

namespace SeaLion.Cluster.Tests;

/// <summary>The HPA algorithm on its own, and the shipped policy applied on loopback to a real multi-process cluster.</summary>
public sealed class AutoscaleTests
{
    [Fact]
    public void The_hpa_formula_scales_out_at_once_within_the_rate_and_in_only_after_the_stabilization_window()
    {
        var hpa = new HpaPolicy(target: 2, min: 1, max: 16, stabilizationS: 300, upPods: 2, downPods: 1, periodS: 60);
        Assert.Equal(1, hpa.Desired(0, 1, [2.1]));             // within the 10% tolerance: no change
        Assert.Equal(3, hpa.Desired(15, 1, [9]));              // ceil(9 / 2) = 5, but at most +2 pods a minute
        Assert.Equal(3, hpa.Desired(30, 3, [6, 6, 6]));        // wants 9: the minute's +2 are spent
        Assert.Equal(5, hpa.Desired(80, 3, [6, 6, 6]));        // a new minute: +2 more
        Assert.Equal(5, hpa.Desired(100, 5, [0, 0, 0, 0, 0])); // idle, but recommendations of the last 300 s said 9
        Assert.Equal(5, hpa.Desired(379, 5, [0, 0, 0, 0, 0]));
        Assert.Equal(4, hpa.Desired(401, 5, [0, 0, 0, 0, 0])); // the window holds only "1" now: down, one pod a minute
        Assert.Equal(4, hpa.Desired(420, 4, [0, 0, 0, 0]));
        Assert.Equal(3, hpa.Desired(462, 4, [0, 0, 0, 0]));
    }

    [Fact]
    public async Task Silos_scale_out_under_load_and_drain_back_in_with_no_failed_request_and_no_lost_session()
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "sealion.dll"));
        foreach (var a in new[] { "bench", "autoscale", "--phases", "2:8,24:30,2:45", "--time-scale", "10", "--max-replicas", "3" }) psi.ArgumentList.Add(a);
        psi.Environment["SEALION_HOME"] = Path.Combine(Path.GetTempPath(), "sealion-autoscale-test");
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(300));
        await p.WaitForExitAsync(limit.Token);
        string output = await stdout, why = output + "\n" + await stderr;
        Assert.True(p.ExitCode == 0, "bench autoscale failed: " + why);
        using var doc = JsonDocument.Parse(output);
        var r = doc.RootElement;
        Assert.Equal(0, r.GetProperty("requests_failed").GetInt64());
        Assert.Equal(0, r.GetProperty("sessions_lost").GetInt32());
        Assert.True(r.GetProperty("sessions_checked").GetInt32() > 0, why);
        Assert.True(r.GetProperty("max_replicas_reached").GetInt32() >= 2, "never scaled out: " + why);
        Assert.Equal(1, r.GetProperty("final_replicas").GetInt32());
        var drained = r.GetProperty("events").EnumerateArray().Where(e => e.TryGetProperty("drained", out _)).ToList();
        Assert.True(drained.Count >= 1, "no silo was drained: " + why);
        Assert.All(drained, e => Assert.Equal(0, e.GetProperty("exit_code").GetInt32()));
    }
}
