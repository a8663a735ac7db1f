using System.Buffers.Binary;
using System.Text.Json;

namespace SeaLion.Model.Weights;

/// <summary>Element types a safetensors file may store that the loader converts from.</summary>
public enum StoredDType { F32, F16, BF16 }

/// <summary>One tensor's entry in a safetensors header: where its bytes are and what they mean.</summary>
public sealed record StoredTensor(string Name, string File, StoredDType DType, long[] Shape, long Offset, long Length)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
    public static int ElementSize(StoredDType t) => t == StoredDType.F32 ? 4 : 2;
}

/// <summary>
/// Reads safetensors headers (8-byte little-endian header length, JSON header, raw data) and validates every
/// entry against the file before any tensor is loaded: dtype, offsets in order and in bounds, byte count = shape.
/// </summary>
public static class Safetensors
{
    const long MaxHeaderBytes = 100L << 20;

    public static IReadOnlyList<StoredTensor> ReadHeader(string path)
    {
        using var f = File.OpenRead(path);
        long fileLength = f.Length;
        Span<byte> lenBytes = stackalloc byte[8];
        if (f.Read(lenBytes) != 8) throw new InvalidDataException($"{path}: truncated: shorter than the 8-byte header length");
        long headerLen = (long)BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
        if (headerLen <= 0 || headerLen > MaxHeaderBytes || 8 + headerLen > fileLength)
            throw new InvalidDataException($"{path}: header length {headerLen} is invalid for a file of {fileLength} bytes");
        var header = new byte[headerLen];
        f.ReadExactly(header);
        long dataStart = 8 + headerLen;

        JsonDocument doc;
        try { doc = JsonDocument.Parse(header); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: header is not valid JSON ({e.Message})", e); }
        using var _ = doc;
        var result = new List<StoredTensor>();
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__") continue;
            var e = p.Value;
            string dt = e.GetProperty("dtype").GetString() ?? "";
            var dtype = dt switch
            {
                "F32" => StoredDType.F32,
                "F16" => StoredDType.F16,
                "BF16" => StoredDType.BF16,
                _ => throw new InvalidDataException($"{path}: tensor '{p.Name}' has dtype {dt}; supported: F32, F16, BF16"),
            };
            long[] shape = e.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray();
            var offs = e.GetProperty("data_offsets").EnumerateArray().Select(x => x.GetInt64()).ToArray();
            if (offs.Length != 2 || offs[0] < 0 || offs[1] < offs[0])
                throw new InvalidDataException($"{path}: tensor '{p.Name}' has invalid data_offsets [{string.Join(", ", offs)}]");
            var t = new StoredTensor(p.Name, path, dtype, shape, dataStart + offs[0], offs[1] - offs[0]);
            if (shape.Any(d => d < 0) || t.ElementCount * StoredTensor.ElementSize(dtype) != t.Length)
                throw new InvalidDataException(
                    $"{path}: tensor '{p.Name}' holds {t.Length} bytes but shape [{string.Join(", ", shape)}] of {dt} needs {t.ElementCount * StoredTensor.ElementSize(dtype)}");
            if (t.Offset + t.Length > fileLength)
                throw new InvalidDataException(
                    $"{path}: truncated: tensor '{p.Name}' ends at byte {t.Offset + t.Length} but the file has {fileLength} bytes");
            result.Add(t);
        }
        return result;
    }

    /// <summary>
    /// All tensors of a model folder: model.safetensors, or the shards named by model.safetensors.index.json.
    /// A name stored twice, or indexed in one shard but stored in another, is an error.
    /// </summary>
    public static IReadOnlyDictionary<string, StoredTensor> ReadFolder(string dir)
    {
        string index = Path.Combine(dir, "model.safetensors.index.json");
        string single = Path.Combine(dir, "model.safetensors");
        var all = new Dictionary<string, StoredTensor>(StringComparer.Ordinal);
        if (File.Exists(index))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(index));
            if (!doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{index}: has no 'weight_map' object");
            var byFile = map.EnumerateObject().GroupBy(p => p.Value.GetString() ?? "", p => p.Name);
            foreach (var g in byFile)
            {
                string shard = Path.Combine(dir, g.Key);
                if (g.Key.Contains('/') || g.Key.Contains('\\') || !File.Exists(shard))
                    throw new FileNotFoundException($"{index}: shard '{g.Key}' (holding e.g. '{g.First()}') is missing", shard);
                var inFile = ReadHeader(shard).ToDictionary(t => t.Name);
                foreach (var name in g)
                {
                    if (!inFile.TryGetValue(name, out var t))
                        throw new InvalidDataException($"{index}: tensor '{name}' is mapped to '{g.Key}' but that shard does not hold it");
                    all.Add(name, t);
                }
                foreach (var t in inFile.Values)
                    if (!all.ContainsKey(t.Name))
                        throw new InvalidDataException($"{shard}: tensor '{t.Name}' is stored but not listed in the index");
            }
        }
        else if (File.Exists(single))
        {
            foreach (var t in ReadHeader(single))
                if (!all.TryAdd(t.Name, t)) throw new InvalidDataException($"{single}: tensor '{t.Name}' is stored twice");
        }
        else throw new FileNotFoundException($"model folder '{dir}' has neither model.safetensors nor model.safetensors.index.json", single);
        return all;
    }
}
