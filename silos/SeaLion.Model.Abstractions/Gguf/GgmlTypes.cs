using System.Buffers.Binary;

namespace SeaLion.Model.Gguf;

/// <summary>
/// ggml's block formats, decoded from their definitions: a block of BlockSize values stored in BlockBytes bytes.
/// Q8_0, Q4_0, Q5_0: 32 values with an fp16 scale. The K-quants: 256-value super-blocks of 16 or 8 sub-blocks
/// with 6- or 8-bit sub-block scales (and mins) under fp16 super-block scales.
/// </summary>
public static class GgmlTypes
{
    const int QK = 32, QKK = 256;

    public static (int BlockSize, int BlockBytes) Layout(GgmlType t) => t switch
    {
        GgmlType.F32 => (1, 4),
        GgmlType.F16 or GgmlType.BF16 => (1, 2),
        GgmlType.Q8_0 => (QK, 2 + QK),
        GgmlType.Q4_0 => (QK, 2 + QK / 2),
        GgmlType.Q5_0 => (QK, 2 + 4 + QK / 2),
        GgmlType.Q2_K => (QKK, QKK / 16 + QKK / 4 + 2 + 2),
        GgmlType.Q3_K => (QKK, QKK / 8 + QKK / 4 + 12 + 2),
        GgmlType.Q4_K => (QKK, 2 + 2 + 12 + QKK / 2),
        GgmlType.Q5_K => (QKK, 2 + 2 + 12 + QKK / 8 + QKK / 2),
        GgmlType.Q6_K => (QKK, QKK / 2 + QKK / 4 + QKK / 16 + 2),
        _ => throw new NotSupportedException($"ggml type {t} ({(uint)t}) is not supported (F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q2_K, Q3_K, Q4_K, Q5_K and Q6_K are)"),
    };

    public static long ByteCount(GgmlType t, long rowLength, long elements, string what)
    {
        (int bs, int bb) = Layout(t);
        if (rowLength % bs != 0) throw new InvalidDataException($"{what}: rows of {rowLength} values are not whole {t} blocks of {bs}");
        return elements / bs * bb;
    }

    static float Half(ReadOnlySpan<byte> b, int at) => (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(b[at..]));

    /// <summary>Decodes <paramref name="src"/> (whole blocks) into <paramref name="dst"/> as float32.</summary>
    public static void Dequantize(GgmlType t, ReadOnlySpan<byte> src, Span<float> dst)
    {
        (int bs, int bb) = Layout(t);
        long blocks = dst.Length / bs;
        if (dst.Length % bs != 0 || src.Length != blocks * bb) throw new ArgumentException($"{t}: {src.Length} bytes do not hold {dst.Length} values");
        for (int i = 0; i < blocks; i++)
        {
            var b = src.Slice(i * bb, bb);
            var y = dst.Slice(i * bs, bs);
            switch (t)
            {
                case GgmlType.F32: y[0] = BinaryPrimitives.ReadSingleLittleEndian(b); break;
                case GgmlType.F16: y[0] = Half(b, 0); break;
                case GgmlType.BF16: y[0] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(b) << 16); break;
                case GgmlType.Q8_0: Q8_0(b, y); break;
                case GgmlType.Q4_0: Q4_0(b, y); break;
                case GgmlType.Q5_0: Q5_0(b, y); break;
                case GgmlType.Q2_K: Q2_K(b, y); break;
                case GgmlType.Q3_K: Q3_K(b, y); break;
                case GgmlType.Q4_K: Q4_K(b, y); break;
                case GgmlType.Q5_K: Q5_K(b, y); break;
                case GgmlType.Q6_K: Q6_K(b, y); break;
                default: throw new NotSupportedException(t.ToString());
            }
        }
    }

    // Q8_0: fp16 d, int8 q[32]; x = d * q.
    static void Q8_0(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = Half(b, 0);
        for (int j = 0; j < QK; j++) y[j] = d * (sbyte)b[2 + j];
    }

    // Q4_0: fp16 d, 16 bytes of nibbles: value j in the low nibble of byte j, value j+16 in its high nibble; x = d * (q - 8).
    static void Q4_0(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = Half(b, 0);
        for (int j = 0; j < QK / 2; j++)
        {
            y[j] = d * ((b[2 + j] & 0xF) - 8);
            y[j + QK / 2] = d * ((b[2 + j] >> 4) - 8);
        }
    }

    // Q5_0: fp16 d, 32 high bits (bit j for value j), then nibbles as Q4_0; x = d * (q5 - 16).
    static void Q5_0(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = Half(b, 0);
        uint qh = BinaryPrimitives.ReadUInt32LittleEndian(b[2..]);
        var qs = b[6..];
        for (int j = 0; j < QK / 2; j++)
        {
            int lo = (qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
            int hi = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            y[j] = d * (lo - 16);
            y[j + QK / 2] = d * (hi - 16);
        }
    }

    // Q2_K: scales[16] (low nibble scale, high nibble min), qs[64] (2-bit values), fp16 d, fp16 dmin.
    static void Q2_K(ReadOnlySpan<byte> b, Span<float> y)
    {
        var scales = b[..16];
        var qs = b.Slice(16, 64);
        float d = Half(b, 80), dmin = Half(b, 82);
        int o = 0, s = 0;
        for (int n = 0; n < QKK; n += 128)
        {
            var q = qs.Slice(n / 4, 32);
            for (int shift = 0; shift < 8; shift += 2)
                for (int half = 0; half < 2; half++)
                {
                    byte sc = scales[s++];
                    float dl = d * (sc & 0xF), ml = dmin * (sc >> 4);
                    for (int l = 0; l < 16; l++) y[o++] = dl * ((q[half * 16 + l] >> shift) & 3) - ml;
                }
        }
    }

    // Q3_K: hmask[32] (the third bit, set = no offset), qs[64] (2 low bits), scales[12] (16 6-bit scales), fp16 d.
    static void Q3_K(ReadOnlySpan<byte> b, Span<float> y)
    {
        var hmask = b[..32];
        var qs = b.Slice(32, 64);
        var packed = b.Slice(96, 12);
        float d = Half(b, 108);
        Span<int> sc = stackalloc int[16];
        for (int j = 0; j < 16; j++) sc[j] = Q3Scale(j, packed);
        int o = 0, s = 0, m = 1;
        for (int n = 0; n < QKK; n += 128)
        {
            var q = qs.Slice(n / 4, 32);
            for (int shift = 0; shift < 8; shift += 2, m <<= 1)
                for (int half = 0; half < 2; half++)
                {
                    float dl = d * sc[s++];
                    for (int l = 0; l < 16; l++)
                    {
                        int k = half * 16 + l;
                        y[o++] = dl * (((q[k] >> shift) & 3) - ((hmask[k] & m) != 0 ? 0 : 4));
                    }
                }
        }
    }

    /// <summary>
    /// Q3_K's scale <paramref name="j"/> (of 16) from its 12 packed bytes: 6 bits, the low 4 from bytes 0-7 (nibbles),
    /// the high 2 from bytes 8-11, stored plus 32.
    /// </summary>
    internal static int Q3Scale(int j, ReadOnlySpan<byte> packed)
    {
        int low = j < 8 ? packed[j] & 0xF : packed[j - 8] >> 4;
        int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
        return (low | (high << 4)) - 32;
    }

    /// <summary>The K-quants' 8 packed 6-bit (scale, min) pairs in 12 bytes.</summary>
    internal static (int Scale, int Min) ScaleMin(int j, ReadOnlySpan<byte> q) => j < 4
        ? (q[j] & 63, q[j + 4] & 63)
        : ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4));

    // Q4_K: fp16 d, fp16 dmin, scales[12], qs[128]: 8 sub-blocks of 32, x = d * scale * q4 - dmin * min.
    static void Q4_K(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = Half(b, 0), dmin = Half(b, 2);
        var scales = b.Slice(4, 12);
        var qs = b.Slice(16, 128);
        int o = 0;
        for (int j = 0, s = 0; j < QKK; j += 64, s += 2)
        {
            var (sc1, m1) = ScaleMin(s, scales);
            var (sc2, m2) = ScaleMin(s + 1, scales);
            var q = qs.Slice(j / 2, 32);
            for (int l = 0; l < 32; l++) y[o++] = d * sc1 * (q[l] & 0xF) - dmin * m1;
            for (int l = 0; l < 32; l++) y[o++] = d * sc2 * (q[l] >> 4) - dmin * m2;
        }
    }

    // Q5_K: as Q4_K with qh[32] holding each value's fifth bit (two bits per sub-block pair per byte).
    static void Q5_K(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = Half(b, 0), dmin = Half(b, 2);
        var scales = b.Slice(4, 12);
        var qh = b.Slice(16, 32);
        var qs = b.Slice(48, 128);
        int o = 0, u1 = 1, u2 = 2;
        for (int j = 0, s = 0; j < QKK; j += 64, s += 2, u1 <<= 2, u2 <<= 2)
        {
            var (sc1, m1) = ScaleMin(s, scales);
            var (sc2, m2) = ScaleMin(s + 1, scales);
            var q = qs.Slice(j / 2, 32);
            for (int l = 0; l < 32; l++) y[o++] = d * sc1 * ((q[l] & 0xF) + ((qh[l] & u1) != 0 ? 16 : 0)) - dmin * m1;
            for (int l = 0; l < 32; l++) y[o++] = d * sc2 * ((q[l] >> 4) + ((qh[l] & u2) != 0 ? 16 : 0)) - dmin * m2;
        }
    }

    // Q6_K: ql[128] (low 4 bits), qh[64] (high 2 bits), int8 scales[16], fp16 d: x = d * scale * (q6 - 32).
    static void Q6_K(ReadOnlySpan<byte> b, Span<float> y)
    {
        var ql = b[..128];
        var qh = b.Slice(128, 64);
        var sc = b.Slice(192, 16);
        float d = Half(b, 208);
        for (int n = 0; n < QKK; n += 128)
        {
            var l0 = ql.Slice(n / 2, 64);
            var h0 = qh.Slice(n / 4, 32);
            var s0 = sc.Slice(n / 16, 8);
            var yy = y.Slice(n, 128);
            for (int l = 0; l < 32; l++)
            {
                int i = l / 16;
                int q1 = ((l0[l] & 0xF) | (((h0[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((l0[l + 32] & 0xF) | (((h0[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((l0[l] >> 4) | (((h0[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((l0[l + 32] >> 4) | (((h0[l] >> 6) & 3) << 4)) - 32;
                yy[l] = d * (sbyte)s0[i] * q1;
                yy[l + 32] = d * (sbyte)s0[i + 2] * q2;
                yy[l + 64] = d * (sbyte)s0[i + 4] * q3;
                yy[l + 96] = d * (sbyte)s0[i + 6] * q4;
            }
        }
    }
}
