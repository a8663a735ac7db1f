namespace SeaLion.Gateway.Tests.Fuzzing;

/// <summary>
/// Where a case comes from: the run's seed, the API and the case's index. Each case draws from its own generator,
/// made from those three alone, so a case can be replayed without the cases before it (SEALION_FUZZ_ONLY).
/// </summary>
internal static class FuzzSeed
{
    public static Random For(long seed, string api, int index)
    {
        // SplitMix64 over (seed, api, index): .NET's seeded Random is stable across versions, string hashes are not.
        ulong x = (ulong)seed ^ ((ulong)(uint)index * 0x9E3779B97F4A7C15UL);
        foreach (char c in api) x = (x ^ c) * 0x100000001B3UL;
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        x ^= x >> 31;
        return new Random((int)(x ^ (x >> 32)));
    }
}

/// <summary>One fuzzed REST request: the endpoint, the content type sent (null: no Content-Type header), the body bytes.</summary>
internal sealed record RestCase(int Index, string Path, string? ContentType, byte[] Body, string Description);

/// <summary>One fuzzed gRPC call: the sealion.v1.Inference method and the message bytes sent as its request.</summary>
internal sealed record GrpcCase(int Index, string Method, byte[] Message, string Description);
