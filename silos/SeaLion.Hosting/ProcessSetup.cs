using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace SeaLion.Hosting;

/// <summary>The set-up every SeaLion process shares: logging, the metrics registry, the cluster load view.</summary>
public static class ProcessSetup
{
    /// <summary>The cluster load monitor, once per container (an all-in-one process has both a silo and a gateway).</summary>
    public static IServiceCollection AddClusterLoadMonitor(this IServiceCollection services)
    {
        if (services.Any(d => d.ServiceType == typeof(ClusterLoadMonitor))) return services;
        services.AddSingleton<ClusterLoadMonitor>();
        services.AddSingleton<ILoadView>(sp => sp.GetRequiredService<ClusterLoadMonitor>());
        services.AddHostedService(sp => sp.GetRequiredService<ClusterLoadMonitor>());
        return services;
    }

    static int _metricsConfigured;
    static readonly (GCKind Kind, string Label)[] PauseKinds = [(GCKind.Ephemeral, "ephemeral"), (GCKind.FullBlocking, "full_blocking"), (GCKind.Background, "background")];

    /// <summary>
    /// /metrics carries the sealion_* series and prometheus-net's process metrics only: the default .NET event
    /// counter and meter adapters export names that `promtool check metrics` rejects (e.g. "_count" gauges), and
    /// nothing of ARCHITECTURE.md needs them. Must run before any metric is created; idempotent.
    /// </summary>
    public static void UseSeaLionMetricsOnly()
    {
        if (Interlocked.Exchange(ref _metricsConfigured, 1) != 0) return;
        try
        {
            Metrics.SuppressDefaultMetrics(new SuppressDefaultMetricOptions { SuppressEventCounters = true, SuppressMeters = true, SuppressDebugMetrics = true });
        }
        catch (InvalidOperationException) { }   // metrics already created (e.g. a test host built after another): keep going
        // The thread pool's backlog and size: a process whose queue grows under steady load is starving (soak figures).
        var queue = Metrics.CreateGauge("sealion_threadpool_queue_length", "Work items queued to the .NET thread pool and not yet started.");
        var threads = Metrics.CreateGauge("sealion_threadpool_threads", "Threads in the .NET thread pool.");
        // The managed heap as the last collection left it (dotnet_total_memory_bytes also counts garbage not yet
        // collected, so it swings with the allocation rate) and what the GC holds from the OS: a working set that grows
        // while these stay flat grows in native memory.
        var live = Metrics.CreateGauge("sealion_gc_live_bytes", "Managed heap in use after the last garbage collection (heap size less fragmentation).");
        var committed = Metrics.CreateGauge("sealion_gc_committed_bytes", "Memory the .NET garbage collector has committed from the OS.");
        // What collecting costs the process: every pause so far, and the last pause of each kind (a blocking full
        // collection is the one that stalls token streams; background ones pause only briefly).
        var pauses = Metrics.CreateCounter("sealion_gc_pause_seconds_total", "Time the process was paused by the garbage collector since it started.");
        var lastPause = Metrics.CreateGauge("sealion_gc_last_pause_seconds", "Pause of the last garbage collection of each kind (ephemeral, full_blocking, background).", "kind");
        Metrics.DefaultRegistry.AddBeforeCollectCallback(() =>
        {
            queue.Set(ThreadPool.PendingWorkItemCount);
            threads.Set(ThreadPool.ThreadCount);
            var gc = GC.GetGCMemoryInfo();
            live.Set(gc.HeapSizeBytes - gc.FragmentedBytes);
            committed.Set(gc.TotalCommittedBytes);
            pauses.IncTo(GC.GetTotalPauseDuration().TotalSeconds);
            foreach (var (kind, label) in PauseKinds)
            {
                double seconds = 0;   // a kind not yet collected reports zero pauses
                foreach (var p in GC.GetGCMemoryInfo(kind).PauseDurations) seconds += p.TotalSeconds;
                lastPause.WithLabels(label).Set(seconds);
            }
        });
    }

    /// <summary>
    /// Logs to stderr (stdout stays for a command's own output, e.g. a benchmark's JSON): warnings and up, SeaLion's
    /// own information. Startup chatter that is not actionable here is raised to errors only: the silo's server-GC
    /// note, the watchdog's first check (it reports time since boot), and Orleans' placement retries while the
    /// cluster manifest propagates (a placement that finally fails still surfaces as an exception).
    /// </summary>
    public static void ConfigureSeaLionLogging(this WebApplicationBuilder builder)
    {
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddFilter("SeaLion", LogLevel.Information);
        foreach (var noisy in new[] { "Orleans.Runtime.Silo", "Orleans.Runtime.Watchdog", "Polly" })
            builder.Logging.AddFilter(noisy, LogLevel.Error);
    }
}

/// <summary>Where a multi-process cluster keeps its membership and sessions: a Redis server, and the cluster's names in it.</summary>
public sealed record RedisClusterOptions(string Connection, string ClusterId = "sealion", string ServiceId = "sealion");
