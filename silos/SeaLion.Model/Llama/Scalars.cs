using TorchSharp;

namespace SeaLion.Model.Llama;

/// <summary>
/// Scalars that stay referenced for as long as libtorch may read them.
/// <para>
/// TorchSharp frees a <see cref="Scalar"/> in its finalizer, and its ops hand libtorch only the native handle, with
/// no GC.KeepAlive after the call. So a temporary Scalar (every implicit conversion: <c>x.add_(y)</c> passes alpha
/// 1, <c>x * 0.5</c>, <c>x.lt(0)</c>, <c>arange(n)</c>) is unreachable during the native call, and a GC on any
/// thread can finalize it while libtorch reads it: the op then fails ("Expected false to be true" from
/// Scalar::toFloat) or silently uses a garbage value. Seen here under load, and reproduced by a test with a
/// thread that forces collections. The serving path therefore passes only Scalars held here or in a
/// <see cref="ScalarScope"/>.
/// </para>
/// </summary>
internal static class Scalars
{
    public static readonly Scalar One = 1;
    public static readonly Scalar Zero = 0;
    public static readonly Scalar NegativeInfinity = float.NegativeInfinity;
}

/// <summary>Scalars made for one computation, referenced until it ends (see <see cref="Scalars"/>).</summary>
internal sealed class ScalarScope : IDisposable
{
    readonly List<Scalar> _held = [];

    public Scalar Of(double value) => Hold(value.ToScalar());
    public Scalar Of(float value) => Hold(value.ToScalar());
    public Scalar Of(long value) => Hold(value.ToScalar());

    Scalar Hold(Scalar s) { _held.Add(s); return s; }

    public void Dispose()
    {
        foreach (var s in _held) s.Dispose();
        _held.Clear();
    }
}
