using System.IO.MemoryMappedFiles;
using System.Text;

namespace SeaLion.Model.Gguf;

/// <summary>ggml tensor types a GGUF file may hold (the numbering of ggml's enum).</summary>
public enum GgmlType : uint
{
    F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
    Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15, BF16 = 30,
}

/// <summary>One tensor of a GGUF file: its name, type, dimensions (ne[0], the contiguous one, first) and data offset.</summary>
public sealed record GgufTensor(string Name, GgmlType Type, long[] Dims, long Offset, long Bytes)
{
    public long Elements => Dims.Aggregate(1L, (a, b) => a * b);
    /// <summary>The shape as PyTorch / Hugging Face write it (outermost first).</summary>
    public long[] Shape => [.. Dims.Reverse()];
}

/// <summary>
/// A GGUF (v2, v3) file, memory-mapped: header, metadata of every value type, tensor infos, alignment. Anything
/// malformed fails naming the key or tensor and what was expected; tensor data is read in place.
/// </summary>
public sealed class GgufFile : IDisposable
{
    enum ValueType : uint { U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7, String = 8, Array = 9, U64 = 10, I64 = 11, F64 = 12 }

    readonly MemoryMappedFile _map;
    readonly MemoryMappedViewAccessor _view;
    readonly long _length;

    public string Path { get; }
    public uint Version { get; }
    public IReadOnlyDictionary<string, object> Metadata { get; }
    public IReadOnlyDictionary<string, GgufTensor> Tensors { get; }
    public long DataStart { get; }

    GgufFile(string path)
    {
        Path = path;
        _length = new FileInfo(path).Length;
        if (_length < 24) throw new InvalidDataException($"{path}: {_length} bytes is too short for a GGUF file");
        _map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        long at = 0;
        if (ReadU32(ref at) != 0x46554747) throw new InvalidDataException($"{path}: not a GGUF file (no 'GGUF' magic)");
        Version = ReadU32(ref at);
        if (Version is not (2 or 3)) throw new InvalidDataException($"{path}: GGUF version {Version}; versions 2 and 3 are supported");
        long tensorCount = Count(ReadU64(ref at), "tensor count"), kvCount = Count(ReadU64(ref at), "metadata count");
        var meta = new Dictionary<string, object>(StringComparer.Ordinal);
        for (long i = 0; i < kvCount; i++)
        {
            string key = ReadString(ref at, $"metadata key #{i}");
            var type = (ValueType)ReadU32(ref at);
            meta[key] = ReadValue(ref at, type, key);
        }
        Metadata = meta;
        long alignment = meta.TryGetValue("general.alignment", out var al) ? Convert.ToInt64(al) : 32;
        if (alignment <= 0 || (alignment & (alignment - 1)) != 0) throw new InvalidDataException($"{path}: general.alignment is {alignment}; it must be a power of two");
        var tensors = new Dictionary<string, GgufTensor>(StringComparer.Ordinal);
        var infos = new List<(string Name, GgmlType Type, long[] Dims, long Offset)>();
        for (long i = 0; i < tensorCount; i++)
        {
            string name = ReadString(ref at, $"tensor #{i}'s name");
            uint nDims = ReadU32(ref at);
            if (nDims is 0 or > 4) throw new InvalidDataException($"{path}: tensor '{name}' has {nDims} dimensions; 1 to 4 expected");
            var dims = new long[nDims];
            for (int d = 0; d < nDims; d++) dims[d] = Count(ReadU64(ref at), $"tensor '{name}' dimension {d}");
            var type = (GgmlType)ReadU32(ref at);
            long offset = Count(ReadU64(ref at), $"tensor '{name}' offset");
            infos.Add((name, type, dims, offset));
        }
        DataStart = (at + alignment - 1) / alignment * alignment;
        foreach (var (name, type, dims, offset) in infos)
        {
            long elements = dims.Aggregate(1L, (a, b) => a * b);
            long bytes = GgmlTypes.ByteCount(type, dims[0], elements, $"{path}: tensor '{name}'");
            if (offset % alignment != 0) throw new InvalidDataException($"{path}: tensor '{name}' offset {offset} is not aligned to {alignment}");
            if (DataStart + offset + bytes > _length)
                throw new InvalidDataException($"{path}: tensor '{name}' ({type}, {bytes} bytes at {DataStart + offset}) runs past the end of the file ({_length} bytes): is it truncated?");
            if (!tensors.TryAdd(name, new GgufTensor(name, type, dims, offset, bytes))) throw new InvalidDataException($"{path}: tensor '{name}' appears twice");
        }
        Tensors = tensors;
    }

    public static GgufFile Open(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"GGUF file '{path}' does not exist", path);
        return new GgufFile(path);
    }

    long Count(ulong v, string what) => v <= long.MaxValue / 2 ? (long)v : throw new InvalidDataException($"{Path}: {what} {v} is out of range");

    void Need(long at, long n, string what)
    {
        if (at + n > _length) throw new InvalidDataException($"{Path}: the file ends inside {what} (at byte {at}): is it truncated?");
    }

    uint ReadU32(ref long at) { Need(at, 4, "the header"); uint v = _view.ReadUInt32(at); at += 4; return v; }
    ulong ReadU64(ref long at) { Need(at, 8, "the header"); ulong v = _view.ReadUInt64(at); at += 8; return v; }

    string ReadString(ref long at, string what)
    {
        Need(at, 8, what);
        ulong n = _view.ReadUInt64(at);
        at += 8;
        if (n > 1 << 26) throw new InvalidDataException($"{Path}: {what} claims {n} bytes");
        Need(at, (long)n, what);
        var bytes = new byte[n];
        _view.ReadArray(at, bytes, 0, (int)n);
        at += (long)n;
        return Encoding.UTF8.GetString(bytes);
    }

    object ReadValue(ref long at, ValueType type, string key)
    {
        int size = type switch { ValueType.U8 or ValueType.I8 or ValueType.Bool => 1, ValueType.U16 or ValueType.I16 => 2, ValueType.U32 or ValueType.I32 or ValueType.F32 => 4, ValueType.U64 or ValueType.I64 or ValueType.F64 => 8, _ => 0 };
        if (size > 0) Need(at, size, $"metadata '{key}'");
        object v;
        switch (type)
        {
            case ValueType.U8: v = (long)_view.ReadByte(at); break;
            case ValueType.I8: v = (long)_view.ReadSByte(at); break;
            case ValueType.U16: v = (long)_view.ReadUInt16(at); break;
            case ValueType.I16: v = (long)_view.ReadInt16(at); break;
            case ValueType.U32: v = (long)_view.ReadUInt32(at); break;
            case ValueType.I32: v = (long)_view.ReadInt32(at); break;
            case ValueType.U64: v = (long)_view.ReadUInt64(at); break;
            case ValueType.I64: v = _view.ReadInt64(at); break;
            case ValueType.F32: v = (double)_view.ReadSingle(at); break;
            case ValueType.F64: v = _view.ReadDouble(at); break;
            case ValueType.Bool: v = _view.ReadByte(at) != 0; break;
            case ValueType.String: return ReadString(ref at, $"metadata '{key}'");
            case ValueType.Array:
            {
                var elem = (ValueType)ReadU32(ref at);
                long n = Count(ReadU64(ref at), $"metadata '{key}' array length");
                if (n > 1 << 24) throw new InvalidDataException($"{Path}: metadata '{key}' has {n} entries");
                var items = new object[n];
                for (long i = 0; i < n; i++) items[i] = ReadValue(ref at, elem, key);
                return items;
            }
            default: throw new InvalidDataException($"{Path}: metadata '{key}' has unknown value type {(uint)type}");
        }
        at += size;
        return v;
    }

    /// <summary>A tensor's bytes, in place in the mapping (valid while this file is open).</summary>
    public unsafe ReadOnlySpan<byte> Data(GgufTensor t)
    {
        byte* p = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        try { return new ReadOnlySpan<byte>(p + _view.PointerOffset + DataStart + t.Offset, checked((int)t.Bytes)); }
        finally { _view.SafeMemoryMappedViewHandle.ReleasePointer(); }
    }

    public string String(string key) => Metadata.TryGetValue(key, out var v) && v is string s ? s : throw new InvalidDataException($"{Path}: metadata '{key}' is missing or not a string");
    public long Int(string key) => Metadata.TryGetValue(key, out var v) && v is long l ? l : throw new InvalidDataException($"{Path}: metadata '{key}' is missing or not an integer");
    public long? OptionalInt(string key) => Metadata.TryGetValue(key, out var v) ? v as long? ?? throw new InvalidDataException($"{Path}: metadata '{key}' is not an integer") : null;
    public double? OptionalFloat(string key) => Metadata.TryGetValue(key, out var v) ? v switch { double d => d, long l => l, _ => throw new InvalidDataException($"{Path}: metadata '{key}' is not a number") } : null;
    public object[] Array(string key) => Metadata.TryGetValue(key, out var v) && v is object[] a ? a : throw new InvalidDataException($"{Path}: metadata '{key}' is missing or not an array");

    public void Dispose()
    {
        _view.Dispose();
        _map.Dispose();
    }
}
