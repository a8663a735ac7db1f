using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace SeaLion.Cli.Tests;

/// <summary>
/// A local fake of the Hugging Face Hub's HTTP API (file list with LFS hashes, resolve URLs redirecting LFS files to
/// a CDN path with range requests, a gated repo, a missing one, a corrupt one, and a transfer cut half-way), and
/// `sealion download` run against it as a separate process.
/// </summary>
public sealed class DownloadTests : IAsyncLifetime
{
    const string Commit = "0123456789abcdef0123456789abcdef01234567";
    WebApplication _hub = null!;
    string _url = null!;
    readonly string _root = Path.Combine(Path.GetTempPath(), $"sealion-dl-{Guid.NewGuid():N}");
    readonly ConcurrentQueue<string> _seen = new();
    readonly Dictionary<string, byte[]> _files = new()
    {
        ["config.json"] = Encoding.UTF8.GetBytes("{\"model_type\": \"llama\"}"),
        ["model.safetensors"] = RandomBytes(3 << 20, 1),
        ["sub/notes.txt"] = Encoding.UTF8.GetBytes("catatan"),
    };
    int _cuts;

    static byte[] RandomBytes(int n, int seed) { var b = new byte[n]; new Random(seed).NextBytes(b); return b; }
    static string Sha256(byte[] b) => Convert.ToHexString(SHA256.HashData(b)).ToLowerInvariant();
    static string Sha1(byte[] b) => Convert.ToHexString(SHA1.HashData(b)).ToLowerInvariant();
    static bool Lfs(string path) => path.EndsWith(".safetensors", StringComparison.Ordinal);

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _hub = builder.Build();
        _hub.Use(async (ctx, next) => { _seen.Enqueue($"{ctx.Request.Method} {ctx.Request.Path} {ctx.Request.Headers.Range}"); await next(); });
        _hub.MapGet("/api/models/{org}/{name}/revision/{rev}", (string org, string name, string rev, HttpContext ctx) =>
        {
            string repo = $"{org}/{name}";
            if (repo == "acme/gated" && ctx.Request.Headers.Authorization != "Bearer good")
                return Results.Json(new { error = "Access to model acme/gated is restricted. You must have access to it and be authenticated." }, statusCode: 401);
            if (repo is not ("acme/tiny" or "acme/gated" or "acme/corrupt")) return Results.Json(new { error = "Repository not found" }, statusCode: 404);
            return Results.Json(new
            {
                id = repo, sha = Commit,
                siblings = _files.Select(f => new
                {
                    rfilename = f.Key, size = f.Value.Length, blobId = Sha1(f.Value),
                    lfs = Lfs(f.Key) ? new { sha256 = Sha256(f.Value), size = f.Value.Length, pointerSize = 134 } : null,
                }),
            });
        });
        _hub.MapGet("/{org}/{name}/resolve/{rev}/{**path}", (string org, string name, string rev, string path) =>
        {
            if (!_files.TryGetValue(path, out var data)) return Results.NotFound();
            // LFS files redirect to the CDN (with the repo, so a corrupt repo's CDN serves bad bytes).
            return Lfs(path) ? Results.Redirect($"/cdn/{org}/{name}/{Sha256(data)}") : Results.Bytes(data, "application/octet-stream");
        });
        _hub.MapGet("/cdn/{org}/{name}/{sha}", async (string org, string name, string sha, HttpContext ctx) =>
        {
            var data = _files.Values.Single(v => Sha256(v) == sha);
            if (org == "acme" && name == "corrupt") { data = (byte[])data.Clone(); data[12345] ^= 0xFF; }
            long from = 0;
            if (ctx.Request.Headers.Range.FirstOrDefault() is { } range && range.StartsWith("bytes=", StringComparison.Ordinal))
            {
                from = long.Parse(range[6..].TrimEnd('-'));
                ctx.Response.StatusCode = 206;
                ctx.Response.Headers.ContentRange = $"bytes {from}-{data.Length - 1}/{data.Length}";
            }
            ctx.Response.ContentLength = data.Length - from;
            if (from == 0 && name == "tiny" && Interlocked.Increment(ref _cuts) == 1)
            {
                // The first transfer is cut half-way: the client must resume with a range request.
                await ctx.Response.Body.WriteAsync(data.AsMemory(0, data.Length / 2));
                await ctx.Response.Body.FlushAsync();
                ctx.Abort();
                return;
            }
            await ctx.Response.Body.WriteAsync(data.AsMemory((int)from));
        });
        await _hub.StartAsync();
        _url = _hub.Urls.First();
    }

    public async Task DisposeAsync()
    {
        await _hub.StopAsync();
        await _hub.DisposeAsync();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    (int Code, string Out, string Err) Download(string? token, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "sealion.dll"));
        psi.ArgumentList.Add("download");
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["HF_ENDPOINT"] = _url;
        psi.Environment.Remove("HF_TOKEN");
        if (token is not null) psi.Environment["HF_TOKEN"] = token;
        psi.Environment["SEALION_HOME"] = Path.Combine(_root, "home");
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        string err = p.StandardError.ReadToEnd();
        Assert.True(p.WaitForExit(120_000), "sealion download did not exit within 120 s");
        return (p.ExitCode, stdout.Result, err);
    }

    [Fact]
    public void A_repository_downloads_into_the_hub_cache_layout_resuming_a_cut_transfer_and_checking_sha256()
    {
        string cache = Path.Combine(_root, "cache");
        var (code, stdout, err) = Download(null, "acme/tiny", "--cache-dir", cache);
        Assert.True(code == 0, err);
        string repoDir = Path.Combine(cache, "models--acme--tiny"), snapshot = Path.Combine(repoDir, "snapshots", Commit);
        Assert.Equal(snapshot, stdout.Trim());
        Assert.Equal(Commit, File.ReadAllText(Path.Combine(repoDir, "refs", "main")));
        foreach (var (path, data) in _files)
        {
            string file = Path.Combine(snapshot, path);
            Assert.Equal(data, File.ReadAllBytes(file));
            // huggingface_hub's layout: a relative symlink to blobs/<etag> (sha256 for LFS files, the git blob id otherwise).
            var target = new FileInfo(file).LinkTarget;
            Assert.NotNull(target);
            Assert.Equal(Lfs(path) ? Sha256(data) : Sha1(data), Path.GetFileName(target));
        }
        Assert.Contains("resuming", err);
        Assert.Contains(_seen, s => s.StartsWith("GET /cdn/acme/tiny/", StringComparison.Ordinal) && s.Contains("bytes=", StringComparison.Ordinal));
        Assert.Empty(Directory.GetFiles(Path.Combine(repoDir, "blobs"), "*.incomplete"));

        // Again: everything is cached, nothing is transferred; --include and --local-dir place a plain folder.
        int before = _seen.Count(s => s.Contains("/cdn/", StringComparison.Ordinal));
        string local = Path.Combine(_root, "local");
        (code, stdout, err) = Download(null, "acme/tiny", "--cache-dir", cache, "--include", "*.json", "--local-dir", local);
        Assert.True(code == 0, err);
        Assert.Equal(before, _seen.Count(s => s.Contains("/cdn/", StringComparison.Ordinal)));
        Assert.Equal(["config.json"], Directory.GetFiles(local, "*", SearchOption.AllDirectories).Select(Path.GetFileName));
    }

    [Fact]
    public void A_gated_repository_says_to_set_hf_token_and_works_with_one()
    {
        string cache = Path.Combine(_root, "gated");
        var (code, _, err) = Download(null, "acme/gated", "--cache-dir", cache);
        Assert.Equal(1, code);
        Assert.Contains("repository 'acme/gated': HTTP 401", err);
        Assert.Contains("set HF_TOKEN", err);
        (code, _, err) = Download("good", "acme/gated", "--cache-dir", cache, "--include", "*.txt");
        Assert.True(code == 0, err);
        Assert.Contains(_seen, s => s.StartsWith("GET /acme/gated/resolve/", StringComparison.Ordinal));
    }

    [Fact]
    public void A_missing_repository_and_a_corrupt_file_fail_naming_what_and_why()
    {
        var (code, _, err) = Download(null, "acme/none", "--cache-dir", Path.Combine(_root, "none"));
        Assert.Equal(1, code);
        Assert.Contains("repository 'acme/none': HTTP 404", err);
        string cache = Path.Combine(_root, "corrupt");
        (code, _, err) = Download(null, "acme/corrupt", "--cache-dir", cache, "--include", "*.safetensors");
        Assert.Equal(1, code);
        Assert.Contains("'model.safetensors' of 'acme/corrupt': sha256", err);
        Assert.Contains("does not match", err);
        Assert.Empty(Directory.GetFiles(Path.Combine(cache, "models--acme--corrupt", "blobs")));
    }
}
