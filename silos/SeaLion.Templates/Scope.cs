namespace SeaLion.Templates;

/// <summary>
/// A variable scope. Lookups walk outwards; assignments always land in this scope. The renderer
/// opens a fresh scope per loop iteration, macro call and with block, which reproduces jinja2's
/// rule that sets inside a loop body do not survive the iteration (hence namespace()).
/// </summary>
internal sealed class Scope(Scope? parent)
{
    private readonly Dictionary<string, object?> _vars = new(StringComparer.Ordinal);

    public bool TryGet(string name, out object? value)
    {
        for (Scope? s = this; s is not null; s = s.Parent)
        {
            if (s._vars.TryGetValue(name, out value)) return true;
        }
        value = null;
        return false;
    }

    public void Set(string name, object? value) => _vars[name] = value;

    private Scope? Parent => parent;
}

/// <summary>A macro bound to the scope it was defined in; calling it renders its body to a string.</summary>
internal sealed record MacroValue(MacroStmt Definition, Scope Closure);
