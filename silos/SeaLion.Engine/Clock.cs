using System.Diagnostics;

namespace SeaLion.Engine;

/// <summary>
/// The engine's notion of time, in seconds. Latency metrics read it; the simulated runner advances it by each
/// step's modelled cost. Wall time for real engines; virtual time (as fast as the CPU allows) for simulations.
/// </summary>
public interface IEngineClock
{
    double Now { get; }
    /// <summary>Lets modelled work take its time: virtual clocks jump, wall clocks sleep (scaled).</summary>
    void Spend(double seconds);
}

public sealed class WallClock(double scale = 1.0) : IEngineClock
{
    static readonly double TickSeconds = 1.0 / Stopwatch.Frequency;
    public double Now => Stopwatch.GetTimestamp() * TickSeconds;

    /// <summary>scale 1: real time; 0.1: modelled work runs 10x faster than the device it models.</summary>
    public void Spend(double seconds)
    {
        double until = Now + seconds * scale;
        // Sleep for the bulk, spin the last millisecond: step times are a few ms and must not round up to 15.
        while (until - Now > 0.002) Thread.Sleep(1);
        while (Now < until) Thread.SpinWait(50);
    }
}

public sealed class VirtualClock : IEngineClock
{
    public double Now { get; private set; }
    public void Spend(double seconds) => Now += seconds;
    /// <summary>For a discrete-event simulator that owns time: move to a later instant (never back).</summary>
    public void AdvanceTo(double t) => Now = Math.Max(Now, t);
}
