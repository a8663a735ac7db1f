namespace SeaLion.Templates;

/// <summary>
/// Python arithmetic: ints are 64-bit (overflow is an error rather than a big int), "/" always
/// gives a float, "//" and "%" floor towards negative infinity, str/list "*" int repeats.
/// </summary>
internal static class PyArithmetic
{
    public static object? Binary(string op, object? a, object? b)
    {
        if (a is Undefined ua) throw ua.Fail();
        // "fmt % undefined" formats (Undefined has __getitem__); every other use of Undefined fails.
        if (b is Undefined ub && !(op == "%" && a is string)) throw ub.Fail();
        try
        {
            return op switch
            {
                "+" => Add(a, b),
                "-" => Numeric(op, a, b, (x, y) => checked(x - y), (x, y) => x - y),
                "*" => Multiply(a, b),
                "/" => TrueDivide(a, b),
                "//" => FloorDivide(a, b),
                "%" => Modulo(a, b),
                "**" => Power(a, b),
                _ => throw new InvalidOperationException(op),
            };
        }
        catch (OverflowException)
        {
            throw new PyError($"integer overflow in '{op}': values beyond 64 bits are not supported");
        }
    }

    public static object? Negate(object? v) => v switch
    {
        Undefined u => throw u.Fail(),
        long l => l == long.MinValue ? throw new PyError("integer overflow in unary '-'") : (object)-l,
        bool b => b ? -1L : 0L,
        double d => -d,
        _ => throw new PyError($"bad operand type for unary -: '{PyOps.TypeName(v)}'"),
    };

    public static object? Plus(object? v) => v switch
    {
        Undefined u => throw u.Fail(),
        long or double => v,
        bool b => b ? 1L : 0L,
        _ => throw new PyError($"bad operand type for unary +: '{PyOps.TypeName(v)}'"),
    };

    private static PyError Unsupported(string op, object? a, object? b) =>
        new($"unsupported operand type(s) for {op}: '{PyOps.TypeName(a)}' and '{PyOps.TypeName(b)}'");

    private static object Numeric(string op, object? a, object? b, Func<long, long, long> ints, Func<double, double, double> floats)
    {
        if (!PyOps.IsNumber(a) || !PyOps.IsNumber(b)) throw Unsupported(op, a, b);
        // Cast to object so an int result is not widened to double by the conditional.
        return PyOps.AsIndex(a) is long x && PyOps.AsIndex(b) is long y ? (object)ints(x, y) : floats(PyOps.ToDouble(a), PyOps.ToDouble(b));
    }

    private static object Add(object? a, object? b)
    {
        switch (a, b)
        {
            case (string x, string y):
                RenderBudget.CheckLength((long)x.Length + y.Length);
                return x + y;
            case (List<object?> x, List<object?> y):
                RenderBudget.CheckLength((long)x.Count + y.Count);
                return new List<object?>(x.Concat(y));
            case (object?[] x, object?[] y):
                RenderBudget.CheckLength((long)x.Length + y.Length);
                return x.Concat(y).ToArray();
            case (string, _):
                throw new PyError($"can only concatenate str (not \"{PyOps.TypeName(b)}\") to str");
            default:
                return Numeric("+", a, b, (x, y) => checked(x + y), (x, y) => x + y);
        }
    }

    private static object Multiply(object? a, object? b)
    {
        if (PyOps.AsIndex(b) is long n && a is string or List<object?> or object?[]) return Repeat(a, n);
        if (PyOps.AsIndex(a) is long m && b is string or List<object?> or object?[]) return Repeat(b, m);
        return Numeric("*", a, b, (x, y) => checked(x * y), (x, y) => x * y);
    }

    private static object Repeat(object? seq, long n)
    {
        n = Math.Max(n, 0);
        switch (seq)
        {
            case string s:
                return PyString.Repeat(s, n);
            case List<object?> list:
                RenderBudget.CheckLength(list.Count * n);
                return Enumerable.Range(0, (int)n).SelectMany(_ => list).ToList();
            default:
                var tuple = (object?[])seq!;
                RenderBudget.CheckLength(tuple.Length * n);
                return Enumerable.Range(0, (int)n).SelectMany(_ => tuple).ToArray();
        }
    }

    private static object TrueDivide(object? a, object? b)
    {
        if (!PyOps.IsNumber(a) || !PyOps.IsNumber(b)) throw Unsupported("/", a, b);
        double y = PyOps.ToDouble(b);
        if (y == 0) throw new PyError("division by zero");
        return PyOps.ToDouble(a) / y;
    }

    private static object FloorDivide(object? a, object? b)
    {
        if (!PyOps.IsNumber(a) || !PyOps.IsNumber(b)) throw Unsupported("//", a, b);
        if (PyOps.AsIndex(a) is long x && PyOps.AsIndex(b) is long y)
        {
            if (y == 0) throw new PyError("integer division or modulo by zero");
            long q = checked(x / y);
            return (x % y != 0) && ((x < 0) != (y < 0)) ? q - 1 : q;
        }
        return FloatDivMod(PyOps.ToDouble(a), PyOps.ToDouble(b)).Div;
    }

    private static object Modulo(object? a, object? b)
    {
        if (a is string format) return PyPrintf.Format(format, b);
        if (!PyOps.IsNumber(a) || !PyOps.IsNumber(b)) throw Unsupported("%", a, b);
        if (PyOps.AsIndex(a) is long x && PyOps.AsIndex(b) is long y)
        {
            if (y == 0) throw new PyError("integer division or modulo by zero");
            if (y == -1) return 0L;
            long r = x % y;
            return r != 0 && (r < 0) != (y < 0) ? r + y : r;
        }
        return FloatDivMod(PyOps.ToDouble(a), PyOps.ToDouble(b)).Mod;
    }

    /// <summary>CPython's float divmod, so 1 // 0.1 == 9.0 as in Python.</summary>
    private static (double Div, double Mod) FloatDivMod(double vx, double wx)
    {
        if (wx == 0) throw new PyError("float floor division by zero");
        double mod = vx % wx;
        double div = (vx - mod) / wx;
        if (mod != 0)
        {
            if ((wx < 0) != (mod < 0))
            {
                mod += wx;
                div -= 1.0;
            }
        }
        else
        {
            mod = Math.CopySign(0.0, wx);
        }
        double floorDiv;
        if (div != 0)
        {
            floorDiv = Math.Floor(div);
            if (div - floorDiv > 0.5) floorDiv += 1.0;
        }
        else
        {
            floorDiv = Math.CopySign(0.0, vx / wx);
        }
        return (floorDiv, mod);
    }

    private static object Power(object? a, object? b)
    {
        if (!PyOps.IsNumber(a) || !PyOps.IsNumber(b)) throw Unsupported("** or pow()", a, b);
        if (PyOps.AsIndex(a) is long x && PyOps.AsIndex(b) is long y)
        {
            if (y < 0)
            {
                if (x == 0) throw new PyError("0.0 cannot be raised to a negative power");
                return Math.Pow(x, y);
            }
            long result = 1, baseValue = x;
            for (long e = y; e > 0; e >>= 1)
            {
                if ((e & 1) == 1) result = checked(result * baseValue);
                if (e > 1) baseValue = checked(baseValue * baseValue);
            }
            return result;
        }
        double fx = PyOps.ToDouble(a), fy = PyOps.ToDouble(b);
        if (fx == 0 && fy < 0) throw new PyError("0.0 cannot be raised to a negative power");
        if (fx < 0 && fy != Math.Floor(fy)) throw new PyError("negative number raised to a fractional power gives a complex number, which is not supported");
        return Math.Pow(fx, fy);
    }
}
