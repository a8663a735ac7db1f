using Microsoft.Extensions.Hosting;

namespace SeaLion.Silo;

/// <summary>
/// What this silo tells placement about itself beyond its engines: how many sessions it holds and whether it is
/// shutting down (set when the host starts stopping, before Orleans deactivates anything).
/// </summary>
public sealed class SiloState
{
    int _sessions;
    volatile bool _draining;

    public SiloState(IHostApplicationLifetime? lifetime = null) => lifetime?.ApplicationStopping.Register(() => _draining = true);

    public int Sessions => Volatile.Read(ref _sessions);
    public bool Draining => _draining;
    public void SessionActivated() => Interlocked.Increment(ref _sessions);
    public void SessionDeactivated() => Interlocked.Decrement(ref _sessions);
    public void Drain() => _draining = true;
}
