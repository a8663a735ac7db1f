namespace SeaLion.Templates;

/// <summary>
/// Limits that keep a hostile template from exhausting the process: output and string size,
/// loop iterations plus macro calls, and nesting depth. Exceeding one is a TemplateException.
/// </summary>
internal sealed class RenderBudget
{
    public const int MaxStringChars = 16 * 1024 * 1024;
    public const long MaxSteps = 1_000_000;
    public const int MaxCallDepth = 200;

    private long _steps;

    public int CallDepth { get; set; }

    /// <summary>Counts one loop iteration or macro call.</summary>
    public void Step()
    {
        if (++_steps > MaxSteps)
        {
            throw new PyError($"template exceeded {MaxSteps:N0} loop iterations and macro calls");
        }
    }

    /// <summary>Rejects any string, list or output that would exceed the size limit.</summary>
    public static void CheckLength(long length)
    {
        if (length > MaxStringChars)
        {
            throw new PyError($"template output or value exceeds {MaxStringChars / (1024 * 1024)} MiB");
        }
    }
}
