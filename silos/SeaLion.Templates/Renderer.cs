using System.Text;

namespace SeaLion.Templates;

/// <summary>
/// Executes parsed statements against a scope chain and writes the output. Value errors raised
/// deeper down (PyError) are turned into TemplateExceptions carrying the construct's line:column.
/// </summary>
internal sealed partial class Renderer
{
    private readonly RenderBudget _budget = new();
    private StringBuilder _out = new();
    private Scope _scope;

    public Renderer(Scope globals) => _scope = new Scope(globals);

    private enum Flow { Normal, Break, Continue }

    public string Render(IReadOnlyList<Stmt> body)
    {
        Exec(body);
        return _out.ToString();
    }

    private Flow Exec(IReadOnlyList<Stmt> body)
    {
        foreach (Stmt s in body)
        {
            Flow flow = ExecOne(s);
            if (flow != Flow.Normal) return flow;
        }
        return Flow.Normal;
    }

    private Flow ExecOne(Stmt stmt)
    {
        try
        {
            System.Runtime.CompilerServices.RuntimeHelpers.EnsureSufficientExecutionStack();
            switch (stmt)
            {
                case DataStmt d:
                    Write(d.Text);
                    return Flow.Normal;
                case OutputStmt o:
                    Write(PyFormat.Str(Eval(o.Value)));
                    return Flow.Normal;
                case IfStmt i:
                    foreach (var (test, body) in i.Branches)
                    {
                        if (PyOps.Truthy(Eval(test))) return Exec(body);
                    }
                    return Exec(i.Else);
                case ForStmt f:
                    ExecFor(f);
                    return Flow.Normal;
                case SetStmt s:
                    Assign(s.Target, Eval(s.Value), _scope);
                    return Flow.Normal;
                case SetBlockStmt sb:
                    Assign(sb.Target, ApplyFilters(sb.Filters, Capture(sb.Body)), _scope);
                    return Flow.Normal;
                case MacroStmt m:
                    _scope.Set(m.Name, new MacroValue(m, _scope));
                    return Flow.Normal;
                case FilterBlockStmt fb:
                    Write(PyFormat.Str(ApplyFilters(fb.Filters, Capture(fb.Body))));
                    return Flow.Normal;
                case WithStmt w:
                    return ExecWith(w);
                case GenerationStmt g:
                    return Exec(g.Body);
                case BreakStmt:
                    return Flow.Break;
                case ContinueStmt:
                    return Flow.Continue;
                default:
                    throw new InvalidOperationException($"unknown statement {stmt.GetType().Name}");
            }
        }
        catch (PyError e)
        {
            throw Located(e, stmt.Pos);
        }
        catch (InsufficientExecutionStackException)
        {
            throw new TemplateException(stmt.Pos, "template nesting too deep (stack limit reached)");
        }
    }

    private static TemplateException Located(PyError e, SourcePos pos) =>
        new(pos, e.RaisedByTemplate ? $"template raised an error: {e.Message}" : e.Message);

    private void Write(string text)
    {
        RenderBudget.CheckLength((long)_out.Length + text.Length);
        _out.Append(text);
    }

    /// <summary>Renders <paramref name="body"/> into a string instead of the current output.</summary>
    private string Capture(IReadOnlyList<Stmt> body)
    {
        StringBuilder saved = _out;
        _out = new StringBuilder();
        try
        {
            Exec(body);
            return _out.ToString();
        }
        finally
        {
            _out = saved;
        }
    }

    private object? ApplyFilters(IReadOnlyList<FilterExpr> filters, object? value)
    {
        foreach (FilterExpr f in filters) value = ApplyFilter(f, value);
        return value;
    }

    private void ExecFor(ForStmt f)
    {
        List<object?> items = PyOps.ToList(Eval(f.Iterable));
        Scope outer = _scope;
        try
        {
            if (f.Filter is not null)
            {
                items = items.Where(item =>
                {
                    _budget.Step();
                    _scope = new Scope(outer);
                    Assign(f.Target, item, _scope);
                    return PyOps.Truthy(Eval(f.Filter));
                }).ToList();
            }
            if (items.Count == 0)
            {
                _scope = new Scope(outer);
                Exec(f.Else);
                return;
            }
            for (int i = 0; i < items.Count; i++)
            {
                _budget.Step();
                _scope = new Scope(outer);
                _scope.Set("loop", new LoopInfo(items, i));
                Assign(f.Target, items[i], _scope);
                if (Exec(f.Body) == Flow.Break) break;
            }
        }
        finally
        {
            _scope = outer;
        }
    }

    private Flow ExecWith(WithStmt w)
    {
        var values = w.Assignments.Select(a => Eval(a.Value)).ToList();
        Scope outer = _scope;
        _scope = new Scope(outer);
        try
        {
            for (int i = 0; i < values.Count; i++) Assign(w.Assignments[i].Target, values[i], _scope);
            return Exec(w.Body);
        }
        finally
        {
            _scope = outer;
        }
    }

    private void Assign(AssignTarget target, object? value, Scope scope)
    {
        switch (target)
        {
            case NameTarget n:
                scope.Set(n.Name, value);
                break;
            case TupleTarget t:
                List<object?> items = PyOps.ToList(value);
                if (items.Count < t.Items.Count) throw new PyError($"not enough values to unpack (expected {t.Items.Count}, got {items.Count})");
                if (items.Count > t.Items.Count) throw new PyError($"too many values to unpack (expected {t.Items.Count})");
                for (int i = 0; i < items.Count; i++) Assign(t.Items[i], items[i], scope);
                break;
            case NamespaceTarget ns:
                if (!_scope.TryGet(ns.Namespace, out object? obj) || obj is not Namespace space)
                {
                    throw new PyError($"cannot assign attribute '{ns.Attr}' on '{ns.Namespace}': it is not a namespace() object");
                }
                space.Attributes[ns.Attr] = value;
                break;
        }
    }

    private string CallMacro(MacroValue macro, CallArgs args)
    {
        MacroStmt def = macro.Definition;
        _budget.Step();
        if (_budget.CallDepth >= RenderBudget.MaxCallDepth) throw new PyError($"macro '{def.Name}' recursed deeper than {RenderBudget.MaxCallDepth} calls");
        var scope = new Scope(macro.Closure);
        var given = new bool[def.Params.Count];
        var extra = new List<object?>();
        for (int i = 0; i < args.Positional.Count; i++)
        {
            if (i < def.Params.Count) { scope.Set(def.Params[i].Name, args.Positional[i]); given[i] = true; }
            else if (def.UsesVarargs) extra.Add(args.Positional[i]);
            else throw new PyError($"macro '{def.Name}' takes not more than {def.Params.Count} argument(s)");
        }
        var kwargs = new PyDict();
        foreach (var (key, value) in args.Keywords)
        {
            int index = def.Params.ToList().FindIndex(p => p.Name == key);
            if (index >= 0 && given[index]) throw new PyError($"macro '{def.Name}' got multiple values for argument '{key}'");
            if (index >= 0) { scope.Set(key, value); given[index] = true; }
            else if (def.UsesKwargs) kwargs[key] = value;
            else throw new PyError($"macro '{def.Name}' takes no keyword argument '{key}'");
        }
        if (def.UsesVarargs) scope.Set("varargs", extra.ToArray());
        if (def.UsesKwargs) scope.Set("kwargs", kwargs);
        Scope saved = _scope;
        _scope = scope;
        _budget.CallDepth++;
        try
        {
            for (int i = 0; i < def.Params.Count; i++)
            {
                if (given[i]) continue;
                MacroParam p = def.Params[i];
                scope.Set(p.Name, p.Default is null ? Undefined.Hint($"parameter '{p.Name}' was not provided") : Eval(p.Default));
            }
            return Capture(def.Body);
        }
        finally
        {
            _budget.CallDepth--;
            _scope = saved;
        }
    }
}
