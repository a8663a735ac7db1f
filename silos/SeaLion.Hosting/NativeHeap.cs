using SeaLion.Model;

namespace SeaLion.Hosting;

/// <summary>
/// glibc's malloc gives threads their own arenas, up to 8 per core, and an arena's freed pages are rarely returned:
/// a server with many thread-pool, Kestrel and Orleans threads grows in native memory for its first minutes and
/// keeps it (the soak measured a silo's working set less GC-committed memory growing 14-29 MB over 25 minutes with
/// the default, flat with two arenas; docs/benchmarks.md#soak). Two arenas is what <c>MALLOC_ARENA_MAX=2</c> sets;
/// done here, first thing in Main, so it holds however the process is started. A value in the environment wins.
/// </summary>
public static class NativeHeap
{
    public const int Arenas = 2;

    /// <summary>Limits glibc's malloc arenas to <see cref="Arenas"/>; true if applied. Elsewhere (musl, macOS, Windows) nothing is done.</summary>
    public static bool LimitArenas() =>
        Environment.GetEnvironmentVariable("MALLOC_ARENA_MAX") is not { Length: > 0 } && Glibc.Mallopt(Glibc.M_ARENA_MAX, Arenas);
}
