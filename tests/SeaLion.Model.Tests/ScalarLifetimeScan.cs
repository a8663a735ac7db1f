using System.Reflection;
using System.Reflection.Emit;
using TorchSharp;

namespace SeaLion.Model.Tests;

/// <summary>
/// Finds, by reading IL, every place in an assembly that hands libtorch a temporary TorchSharp Scalar: a call to
/// Scalar's implicit conversion or ToScalar outside the allowed holders, or a call to a TorchSharp method that makes
/// one itself (e.g. <c>Tensor.add_(Tensor)</c> passes an implicit alpha of 1). See SeaLion.Model.Llama.Scalars for why.
/// </summary>
internal static class ScalarLifetimeScan
{
    static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    /// <summary>Methods called by <paramref name="m"/> (call, callvirt, newobj, ldftn), as far as they resolve.</summary>
    public static IEnumerable<MethodBase> Callees(MethodBase m)
    {
        byte[]? il;
        try { il = m.GetMethodBody()?.GetILAsByteArray(); } catch (Exception) { yield break; }
        if (il is null) yield break;
        Type[]? typeArgs = m.DeclaringType is { IsGenericType: true } dt ? dt.GetGenericArguments() : null;
        Type[]? methodArgs = m.IsGenericMethod ? m.GetGenericArguments() : null;
        for (int i = 0; i < il.Length;)
        {
            short value = il[i] == 0xFE ? (short)(0xFE00 | il[i + 1]) : il[i];
            var op = OpCodesByValue[value];
            i += op.Size;
            MethodBase? callee = null;
            if (op.OperandType == OperandType.InlineMethod)
            {
                try { callee = m.Module.ResolveMethod(BitConverter.ToInt32(il, i), typeArgs, methodArgs); } catch (Exception) { }
            }
            i += OperandSize(op, il, i);
            if (callee is not null) yield return callee;
        }
    }

    static int OperandSize(OpCode op, byte[] il, int at) => op.OperandType switch
    {
        OperandType.InlineNone => 0,
        OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
        OperandType.InlineVar => 2,
        OperandType.InlineI8 or OperandType.InlineR => 8,
        OperandType.InlineSwitch => 4 + 4 * BitConverter.ToInt32(il, at),
        _ => 4,
    };

    static bool MakesScalar(MethodBase m) =>
        m.DeclaringType == typeof(Scalar) && m.Name == "op_Implicit"
        || m.DeclaringType?.Name == "ScalarExtensionMethods" && m.Name.StartsWith("To", StringComparison.Ordinal) && m.Name.EndsWith("Scalar", StringComparison.Ordinal);

    static HashSet<MethodBase>? _torchMakers;

    /// <summary>TorchSharp's own methods that make a temporary Scalar, directly or through another such method.</summary>
    static HashSet<MethodBase> TorchMakers()
    {
        if (_torchMakers is not null) return _torchMakers;
        var methods = typeof(torch).Assembly.GetTypes().SelectMany(t => t.GetMethods(All).Cast<MethodBase>()).ToList();
        var callees = methods.ToDictionary(m => m, m => Callees(m).ToList());
        var makers = methods.Where(m => !MakesScalar(m) && callees[m].Any(MakesScalar)).ToHashSet();
        for (bool grew = true; grew;)
        {
            grew = false;
            foreach (var m in methods)
                if (!makers.Contains(m) && !MakesScalar(m) && callees[m].Any(c => makers.Contains(c is MethodInfo { IsGenericMethod: true } g ? g.GetGenericMethodDefinition() : c)))
                    grew |= makers.Add(m);
        }
        return _torchMakers = makers;
    }

    /// <summary>"Type.Method -> callee" for every offending call in <paramref name="assembly"/>, except in the allowed holders.</summary>
    public static List<string> Offences(Assembly assembly, Func<MethodBase, bool> allowed)
    {
        var makers = TorchMakers();
        var found = new List<string>();
        foreach (var t in assembly.GetTypes())
            foreach (var m in t.GetMethods(All).Cast<MethodBase>().Concat(t.GetConstructors(All)))
            {
                if (allowed(m)) continue;
                foreach (var c in Callees(m))
                {
                    var def = c is MethodInfo { IsGenericMethod: true } g ? g.GetGenericMethodDefinition() : c;
                    if (MakesScalar(c) || makers.Contains(def))
                        found.Add($"{t.FullName}.{m.Name} -> {c.DeclaringType?.Name}.{c.Name}({string.Join(", ", c.GetParameters().Select(p => p.ParameterType.Name))})");
                }
            }
        return found;
    }
}
