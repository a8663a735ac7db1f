namespace SeaLion.Model;

/// <summary>
/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fast, well-mixed 64-bit generator whose stream depends only on
/// its seed, on every platform. Seeded sampling and random checkpoints rely on that reproducibility.
/// A class, not a struct: a copy must never silently fork the stream.
/// </summary>
internal sealed class SplitMix64(ulong seed)
{
    ulong _s = seed;

    /// <summary>Moves past <paramref name="n"/> draws in O(1): the stream is a counter.</summary>
    public void Skip(ulong n) => _s += n * 0x9E3779B97F4A7C15UL;

    public ulong Next()
    {
        ulong z = _s += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));
}
