namespace SeaLion.Templates;

/// <summary>Evaluated arguments of a call, filter or test: positional values then keyword values.</summary>
internal sealed record CallArgs(IReadOnlyList<object?> Positional, IReadOnlyList<KeyValuePair<string, object?>> Keywords)
{
    public static readonly CallArgs Empty = new([], []);

    public static CallArgs Of(params object?[] positional) => new(positional, []);

    /// <summary>Arguments after the first <paramref name="count"/> positional ones (map/select pass the rest on).</summary>
    public CallArgs Skip(int count) => new([.. Positional.Skip(count)], Keywords);
}

/// <summary>
/// A Python-style parameter list. <see cref="Bind"/> fills positional then keyword arguments,
/// applies defaults and rejects missing, duplicate, unknown or surplus arguments.
/// </summary>
internal sealed class Signature(string name, params (string Name, object? Default)[] parameters)
{
    /// <summary>Marks a parameter without a default.</summary>
    public static readonly object Required = new();

    public object?[] Bind(CallArgs args)
    {
        if (args.Positional.Count > parameters.Length)
        {
            throw new PyError($"{name}() takes at most {parameters.Length} argument(s) ({args.Positional.Count} given)");
        }
        var values = new object?[parameters.Length];
        var set = new bool[parameters.Length];
        for (int i = 0; i < args.Positional.Count; i++)
        {
            values[i] = args.Positional[i];
            set[i] = true;
        }
        foreach (var (key, value) in args.Keywords)
        {
            int index = Array.FindIndex(parameters, p => p.Name == key);
            if (index < 0) throw new PyError($"{name}() got an unexpected keyword argument '{key}'");
            if (set[index]) throw new PyError($"{name}() got multiple values for argument '{key}'");
            values[index] = value;
            set[index] = true;
        }
        for (int i = 0; i < parameters.Length; i++)
        {
            if (set[i]) continue;
            if (ReferenceEquals(parameters[i].Default, Required))
            {
                throw new PyError($"{name}() missing required argument '{parameters[i].Name}'");
            }
            values[i] = parameters[i].Default;
        }
        return values;
    }
}
