using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace SeaLion.Model.Weights;

/// <summary>
/// Writes safetensors files tensor by tensor: the header is computed from declared shapes first, then each
/// tensor's bytes are produced and streamed, so a writer never holds more than one tensor in memory.
/// </summary>
public sealed class SafetensorsWriter
{
    public sealed record Entry(string Name, long[] Shape, StoredDType DType, Func<byte[]> Produce)
    {
        public long Bytes => Shape.Aggregate(1L, (a, b) => a * b) * StoredTensor.ElementSize(DType);
    }

    public static void Write(string path, IReadOnlyList<Entry> entries)
    {
        var header = new Dictionary<string, object> { ["__metadata__"] = new Dictionary<string, string> { ["format"] = "pt" } };
        long off = 0;
        foreach (var e in entries)
        {
            header[e.Name] = new { dtype = e.DType.ToString(), shape = e.Shape, data_offsets = new[] { off, off + e.Bytes } };
            off += e.Bytes;
        }
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(header);
        int pad = (8 - json.Length % 8) % 8;
        using var f = File.Create(path);
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)(json.Length + pad));
        f.Write(len);
        f.Write(json);
        f.Write(Encoding.ASCII.GetBytes(new string(' ', pad)));
        foreach (var e in entries)
        {
            byte[] data = e.Produce();
            if (data.LongLength != e.Bytes) throw new InvalidOperationException($"tensor '{e.Name}' produced {data.LongLength} bytes, expected {e.Bytes}");
            f.Write(data);
        }
    }
}
