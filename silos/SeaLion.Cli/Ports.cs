using System.Net;
using System.Net.Sockets;

namespace SeaLion.Cli;

/// <summary>Free loopback ports for the benchmarks' in-process hosts (and, linked or through InternalsVisibleTo, for the tests').</summary>
internal static class Ports
{
    public static int Free()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
