using System.Runtime.CompilerServices;
using System.Text;

namespace SeaLion.Templates;

/// <summary>Expression evaluation with Python semantics; errors are reported at the innermost failing node.</summary>
internal sealed partial class Renderer
{
    public object? Eval(Expr e)
    {
        try
        {
            RuntimeHelpers.EnsureSufficientExecutionStack();
            return EvalCore(e);
        }
        catch (PyError err)
        {
            throw Located(err, e.Pos);
        }
        catch (InsufficientExecutionStackException)
        {
            throw new TemplateException(e.Pos, "expression nesting too deep (stack limit reached)");
        }
    }

    private object? EvalCore(Expr e) => e switch
    {
        ConstExpr c => c.Value,
        NameExpr n => _scope.TryGet(n.Name, out object? v) ? v : Undefined.Named(n.Name),
        GetAttrExpr g => ObjectModel.GetAttr(Eval(g.Target), g.Attr),
        GetItemExpr { Key: SliceExpr s } g => ObjectModel.Slice(Eval(g.Target), EvalOptional(s.Start), EvalOptional(s.Stop), EvalOptional(s.Step)),
        GetItemExpr g => ObjectModel.GetItem(Eval(g.Target), Eval(g.Key)),
        ListExpr l => l.Items.Select(Eval).ToList(),
        TupleExpr t => t.Items.Select(Eval).ToArray(),
        DictExpr d => EvalDict(d),
        BinaryExpr b => PyArithmetic.Binary(b.Op, Eval(b.Left), Eval(b.Right)),
        UnaryExpr { Op: "not" } u => !PyOps.Truthy(Eval(u.Operand)),
        UnaryExpr { Op: "-" } u => PyArithmetic.Negate(Eval(u.Operand)),
        UnaryExpr u => PyArithmetic.Plus(Eval(u.Operand)),
        LogicalExpr l => EvalLogical(l),
        ConcatExpr c => EvalConcat(c),
        CompareExpr c => EvalCompare(c),
        CondExpr c => PyOps.Truthy(Eval(c.Test)) ? Eval(c.Then)
            : c.Else is null ? Undefined.Hint("the inline if-expression evaluated to false and no else section was defined") : Eval(c.Else),
        FilterExpr f => ApplyFilter(f, Eval(f.Target!)),
        TestExpr t => TestFunctions.Run(t.Name, Eval(t.Target), EvalArgs(t.Args)),
        CallExpr c => Call(Eval(c.Callee), EvalArgs(c.Args)),
        SliceExpr => throw new PyError("a slice may only appear alone inside []"),
        _ => throw new InvalidOperationException($"unknown expression {e.GetType().Name}"),
    };

    private object? EvalOptional(Expr? e) => e is null ? null : Eval(e);

    private PyDict EvalDict(DictExpr d)
    {
        var dict = new PyDict();
        foreach (var (key, value) in d.Items) dict[PyDict.Key(Eval(key))] = Eval(value);
        return dict;
    }

    private object? EvalLogical(LogicalExpr l)
    {
        object? left = Eval(l.Left);
        bool truthy = PyOps.Truthy(left);
        if (l.Op == "and") return truthy ? Eval(l.Right) : left;
        return truthy ? left : Eval(l.Right);
    }

    private string EvalConcat(ConcatExpr c)
    {
        var sb = new StringBuilder();
        foreach (Expr part in c.Parts)
        {
            string s = PyFormat.Str(Eval(part));
            RenderBudget.CheckLength((long)sb.Length + s.Length);
            sb.Append(s);
        }
        return sb.ToString();
    }

    private bool EvalCompare(CompareExpr c)
    {
        object? left = Eval(c.First);
        foreach (var (op, operand) in c.Rest)
        {
            object? right = Eval(operand);
            bool ok = op switch
            {
                "==" => PyOps.Equal(left, right),
                "!=" => !PyOps.Equal(left, right),
                "in" => PyOps.Contains(right, left),
                "notin" => !PyOps.Contains(right, left),
                _ => PyOps.Ordered(op, left, right),
            };
            if (!ok) return false;
            left = right;
        }
        return true;
    }

    private CallArgs EvalArgs(Arguments args)
    {
        if (args.Positional.Count == 0 && args.Keywords.Count == 0) return CallArgs.Empty;
        return new CallArgs(
            [.. args.Positional.Select(Eval)],
            [.. args.Keywords.Select(k => new KeyValuePair<string, object?>(k.Name, Eval(k.Value)))]);
    }

    private object? ApplyFilter(FilterExpr f, object? value) => Filters.Apply(this, f.Name, value, EvalArgs(f.Args));

    /// <summary>Calls a function, bound method or macro value.</summary>
    public object? Call(object? callee, CallArgs args) => callee switch
    {
        Undefined u => throw u.Fail(),
        PyFunction f => f.Invoke(args),
        MacroValue m => CallMacro(m, args),
        _ => throw new PyError($"'{PyOps.TypeName(callee)}' object is not callable"),
    };
}
