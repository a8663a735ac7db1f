namespace SeaLion.Silo;

/// <summary>
/// What this silo tells placement about itself beyond its engines: how many sessions it holds and whether it is
/// shutting down (set by the drain when the host starts stopping, before Orleans deactivates anything).
/// </summary>
public sealed class SiloState
{
    int _sessions, _streams;
    volatile bool _draining;

    public int Sessions => Volatile.Read(ref _sessions);
    public bool Draining => _draining;
    public void SessionActivated() => Interlocked.Increment(ref _sessions);
    public void SessionDeactivated() => Interlocked.Decrement(ref _sessions);
    public void Drain() => _draining = true;

    /// <summary>Grain streams (engine and session) not yet finished by their consumers: a drain waits for them too.</summary>
    public int Streams => Volatile.Read(ref _streams);
    public void StreamStarted() => Interlocked.Increment(ref _streams);
    public void StreamEnded() => Interlocked.Decrement(ref _streams);
}
