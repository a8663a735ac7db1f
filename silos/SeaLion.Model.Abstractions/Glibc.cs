using System.Runtime.InteropServices;

namespace SeaLion.Model;

/// <summary>
/// glibc's <c>mallopt</c>, for the processes' malloc settings (the model's CPU-serving tuning, the servers' arena limit).
/// Here, the lowest layer both the model and the hosts reference, so that it is declared once.
/// </summary>
public static partial class Glibc
{
    public const int M_TRIM_THRESHOLD = -1, M_TOP_PAD = -2, M_MMAP_THRESHOLD = -3, M_ARENA_MAX = -8;   // malloc.h

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int MalloptNative(int param, int value);

    /// <summary>True when glibc took the setting (it answers 1 only for a parameter it knows); false elsewhere (musl, macOS, Windows).</summary>
    public static bool Mallopt(int param, int value)
    {
        if (!OperatingSystem.IsLinux()) return false;
        try { return MalloptNative(param, value) == 1; }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return false; }
    }
}
