using System.Net;
using System.Net.Sockets;

namespace SeaLion.Cli;

/// <summary>Free loopback ports for the benchmarks' in-process hosts (and, linked or through InternalsVisibleTo, for the tests').</summary>
internal static class Ports
{
    static readonly HashSet<int> Given = [];

    /// <summary>
    /// A port nothing listens on now, never one this process was given before: the OS may hand the port it just
    /// released to the next bind (a silo was once started with its silo and gateway ports both 39779).
    /// </summary>
    public static int Free()
    {
        for (int attempt = 0; ; attempt++)
        {
            var l = new TcpListener(IPAddress.Loopback, 0);
            l.Start();
            int port = ((IPEndPoint)l.LocalEndpoint).Port;
            l.Stop();
            lock (Given)
                if (Given.Add(port) || attempt >= 100) return port;
        }
    }
}
