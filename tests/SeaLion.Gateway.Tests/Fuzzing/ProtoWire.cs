namespace SeaLion.Gateway.Tests.Fuzzing;

/// <summary>
/// The protobuf wire format at the level a fuzzer needs: a message as a list of fields (number, wire type, payload),
/// read leniently and written exactly as told, so that wrong wire types, overlong varints, bad lengths and unknown
/// or invalid field numbers can be produced on purpose.
/// </summary>
internal static class ProtoWire
{
    public const int Varint = 0, Fixed64 = 1, LengthDelimited = 2, StartGroup = 3, EndGroup = 4, Fixed32 = 5;

    /// <summary>One field as it was (or will be) on the wire: Payload is the varint's bytes, the fixed bytes, or the delimited content.</summary>
    public sealed record Field(ulong Number, int WireType, byte[] Payload);

    /// <summary>The fields of a well-formed message (as Google.Protobuf writes them); null if the bytes are not one.</summary>
    public static List<Field>? Read(ReadOnlySpan<byte> b)
    {
        var fields = new List<Field>();
        int i = 0;
        while (i < b.Length)
        {
            if (!TryVarint(b, ref i, out ulong tag)) return null;
            int wire = (int)(tag & 7);
            ulong number = tag >> 3;
            int start = i;
            switch (wire)
            {
                case Varint:
                    if (!TryVarint(b, ref i, out _)) return null;
                    fields.Add(new Field(number, wire, b[start..i].ToArray()));
                    break;
                case Fixed64 or Fixed32:
                    int size = wire == Fixed64 ? 8 : 4;
                    if (i + size > b.Length) return null;
                    fields.Add(new Field(number, wire, b.Slice(i, size).ToArray()));
                    i += size;
                    break;
                case LengthDelimited:
                    if (!TryVarint(b, ref i, out ulong length) || length > (ulong)(b.Length - i)) return null;
                    fields.Add(new Field(number, wire, b.Slice(i, (int)length).ToArray()));
                    i += (int)length;
                    break;
                default:
                    return null;   // groups: Google.Protobuf never writes them for proto3
            }
        }
        return fields;
    }

    public static byte[] Write(IEnumerable<Field> fields)
    {
        var o = new List<byte>();
        foreach (var f in fields)
        {
            o.AddRange(EncodeVarint((f.Number << 3) | (uint)f.WireType));
            if (f.WireType == LengthDelimited) o.AddRange(EncodeVarint((ulong)f.Payload.Length));
            o.AddRange(f.Payload);
        }
        return o.ToArray();
    }

    public static byte[] EncodeVarint(ulong v)
    {
        var o = new List<byte>(10);
        while (v >= 0x80) { o.Add((byte)(v | 0x80)); v >>= 7; }
        o.Add((byte)v);
        return o.ToArray();
    }

    /// <summary>A varint padded with continuation bytes to <paramref name="bytes"/> bytes (over 10 is malformed).</summary>
    public static byte[] OverlongVarint(ulong v, int bytes)
    {
        var o = new byte[bytes];
        for (int i = 0; i < bytes; i++) { o[i] = (byte)((v & 0x7F) | (i < bytes - 1 ? 0x80u : 0)); v >>= 7; }
        return o;
    }

    static bool TryVarint(ReadOnlySpan<byte> b, ref int i, out ulong v)
    {
        v = 0;
        for (int shift = 0; shift < 70 && i < b.Length; shift += 7)
        {
            byte x = b[i++];
            if (shift < 64) v |= (ulong)(x & 0x7F) << shift;
            if ((x & 0x80) == 0) return true;
        }
        return false;
    }
}
