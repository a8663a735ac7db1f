using SeaLion.Cli;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace SeaLion.Cluster.Tests;

/// <summary>
/// A real redis-server on a free loopback port, for the life of a fixture. Persistent: append-only file with an fsync
/// every second (what ops/cluster.sh and the Kubernetes manifests run), in a folder of its own, so it can be killed
/// and started again on the same data.
/// </summary>
public sealed class RedisServer : IDisposable
{
    Process _process;
    readonly string _dir = Path.Combine(Path.GetTempPath(), "sealion-redis-" + Guid.NewGuid().ToString("N")[..8]);
    public int Port { get; }
    public string Connection => $"127.0.0.1:{Port}";

    public RedisServer()
    {
        Port = Ports.Free();
        Directory.CreateDirectory(_dir);
        _process = Start();
    }

    Process Start()
    {
        var psi = new ProcessStartInfo("redis-server",
            $"--port {Port} --bind 127.0.0.1 --dir {_dir} --save \"\" --appendonly yes --appendfsync everysec --protected-mode no")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("redis-server is not on PATH: install it (apt-get install -y redis-server) or run ./sealion test, which does", e);
        }
        p.OutputDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!Ping())
        {
            if (p.HasExited) throw new InvalidOperationException($"redis-server exited with {p.ExitCode}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"redis-server did not answer on {Connection}");
            Thread.Sleep(50);
        }
        return p;
    }

    /// <summary>SIGKILL: the server is gone at once; what it had fsynced to its append-only file stays.</summary>
    public void Kill()
    {
        _process.Kill();
        _process.WaitForExit(5000);
    }

    /// <summary>Starts it again on the same port and data, after <see cref="Kill"/>.</summary>
    public void Restart()
    {
        _process.Dispose();
        _process = Start();
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
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
