using SeaLion.Cli;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace SeaLion.Cluster.Tests;

/// <summary>A real redis-server on a free loopback port, for the life of a fixture (no persistence).</summary>
public sealed class RedisServer : IDisposable
{
    readonly Process _process;
    public int Port { get; }
    public string Connection => $"127.0.0.1:{Port}";

    public RedisServer()
    {
        Port = Ports.Free();
        var psi = new ProcessStartInfo("redis-server", $"--port {Port} --bind 127.0.0.1 --save \"\" --appendonly no --protected-mode no")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        try { _process = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("redis-server is not on PATH: install it (apt-get install -y redis-server) or run ./sealion test, which does", e);
        }
        _process.OutputDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!Ping())
        {
            if (_process.HasExited) throw new InvalidOperationException($"redis-server exited with {_process.ExitCode}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"redis-server did not answer on {Connection}");
            Thread.Sleep(50);
        }
    }

    bool Ping()
    {
        try
        {
            using var c = new TcpClient();
            c.Connect(IPAddress.Loopback, Port);
            var s = c.GetStream();
            s.Write("PING\r\n"u8);
            var buf = new byte[16];
            int n = s.Read(buf);
            return Encoding.ASCII.GetString(buf, 0, n).StartsWith("+PONG");
        }
        catch (SocketException) { return false; }
    }

    public void Dispose()
    {
        try { if (!_process.HasExited) { _process.Kill(); _process.WaitForExit(5000); } }
        catch (InvalidOperationException) { }
        _process.Dispose();
    }
}
