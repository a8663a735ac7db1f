using System.Diagnostics;
using System.IO.Enumeration;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;

namespace SeaLion.Cli.Commands;

/// <summary>
/// `download`: a model repository from the Hugging Face Hub over its HTTP API, into huggingface_hub's cache layout
/// (models--org--name/{blobs, snapshots/COMMIT, refs}), so files either tool downloaded are found by the other:
/// the file list (with LFS sha256 and sizes) from /api/models/REPO/revision/REV?blobs=true, each file from
/// /REPO/resolve/COMMIT/PATH (redirects to the CDN followed), HF_TOKEN as a bearer token, HF_ENDPOINT for a
/// mirror, up to 4 files at once, interrupted downloads resumed with range requests (from the .incomplete blob),
/// every LFS file's sha256 checked, progress per file and in total on stderr. --local-dir also places the files
/// in a plain folder (what --model takes).
/// </summary>
internal static class DownloadCommand
{
    internal sealed record HubFile(string Path, long Size, string? Sha256, string? BlobId);

    public static int Run(string[] args)
    {
        if (args.Length == 0 || args[0].StartsWith("--", StringComparison.Ordinal))
            throw new UsageException("'download': name one repository first, e.g. ./sealion download aisingapore/Llama-SEA-LION-v2-8B-IT");
        string repo = args[0];
        var a = new CliArgs("download", args[1..]);
        if (repo.Count(c => c == '/') != 1 || repo.StartsWith('/') || repo.EndsWith('/')) throw new UsageException($"'download': '{repo}' is not a repository id (owner/name)");
        string revision = a.String("revision") ?? "main";
        var include = a.Strings("include");
        string? localDir = a.String("local-dir");
        string? cache = a.String("cache-dir");
        int parallel = a.Int("parallel", 4, 1, 16);
        a.EnsureAllUsed();
        var hub = new Hub(Environment.GetEnvironmentVariable("HF_ENDPOINT") ?? "https://huggingface.co", Environment.GetEnvironmentVariable("HF_TOKEN"),
            cache ?? DefaultCache());
        try
        {
            string snapshot = hub.Download(repo, revision, include, parallel, localDir).GetAwaiter().GetResult();
            Console.Out.WriteLine(localDir ?? snapshot);
            return 0;
        }
        catch (HubException e)
        {
            Console.Error.WriteLine($"sealion: download: {e.Message}");
            return 1;
        }
    }

    /// <summary>huggingface_hub's cache: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub.</summary>
    internal static string DefaultCache() =>
        Environment.GetEnvironmentVariable("HF_HUB_CACHE")
        ?? (Environment.GetEnvironmentVariable("HF_HOME") is { Length: > 0 } home ? Path.Combine(home, "hub")
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "huggingface", "hub"));

    internal sealed class HubException(string message) : Exception(message);

    internal sealed class Hub(string endpoint, string? token, string cacheDir, HttpMessageHandler? handler = null)
    {
        readonly HttpClient _http = CreateClient(token, handler);
        readonly object _progressLock = new();
        long _doneBytes, _totalBytes;
        readonly Stopwatch _clock = Stopwatch.StartNew();
        double _lastPrint;

        static HttpClient CreateClient(string? token, HttpMessageHandler? handler)
        {
            var http = handler is null ? new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = true, MaxAutomaticRedirections = 10 }) : new HttpClient(handler);
            http.Timeout = Timeout.InfiniteTimeSpan;
            http.DefaultRequestHeaders.UserAgent.ParseAdd("sealion-download/1.0");
            if (!string.IsNullOrEmpty(token)) http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            return http;
        }

        string Url(string path) => endpoint.TrimEnd('/') + path;

        HubException Failed(string repo, string? file, HttpResponseMessage r, string body)
        {
            string what = file is null ? $"repository '{repo}'" : $"'{file}' of '{repo}'";
            string advice = r.StatusCode switch
            {
                HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => token is null
                    ? "the repository is gated or private: accept its licence on the Hub, then set HF_TOKEN to a token of yours"
                    : "HF_TOKEN was refused for it: is the licence accepted with that account, and does the token have read access?",
                HttpStatusCode.NotFound => "check the repository id, the revision and the file name",
                _ => "try again later",
            };
            string detail = body.Length > 200 ? body[..200] + "..." : body;
            return new HubException($"{what}: HTTP {(int)r.StatusCode} {r.ReasonPhrase} ({advice}){(detail.Length > 0 ? ": " + detail : "")}");
        }

        /// <summary>The files at a revision, with their commit: /api/models/REPO/revision/REV?blobs=true.</summary>
        public async Task<(string Commit, List<HubFile> Files)> List(string repo, string revision)
        {
            using var r = await _http.GetAsync(Url($"/api/models/{repo}/revision/{Uri.EscapeDataString(revision)}?blobs=true"));
            string body = await r.Content.ReadAsStringAsync();
            if (!r.IsSuccessStatusCode) throw Failed(repo, null, r, body);
            using var doc = JsonDocument.Parse(body);
            string commit = doc.RootElement.GetProperty("sha").GetString() ?? throw new HubException($"repository '{repo}': the Hub gave no commit for '{revision}'");
            var files = doc.RootElement.GetProperty("siblings").EnumerateArray().Select(s => new HubFile(
                s.GetProperty("rfilename").GetString()!,
                s.TryGetProperty("size", out var size) && size.ValueKind == JsonValueKind.Number ? size.GetInt64() : -1,
                s.TryGetProperty("lfs", out var lfs) && lfs.ValueKind == JsonValueKind.Object && lfs.TryGetProperty("sha256", out var sha) ? sha.GetString() : null,
                s.TryGetProperty("blobId", out var blob) ? blob.GetString() : null)).ToList();
            return (commit, files);
        }

        public async Task<string> Download(string repo, string revision, IReadOnlyList<string> include, int parallel, string? localDir)
        {
            var (commit, all) = await List(repo, revision);
            var files = include.Count == 0 ? all : all.Where(f => include.Any(p => FileSystemName.MatchesSimpleExpression(p, f.Path) || FileSystemName.MatchesSimpleExpression(p, Path.GetFileName(f.Path)))).ToList();
            if (files.Count == 0) throw new HubException($"repository '{repo}' at '{revision}': no file matches {string.Join(", ", include)}");
            string root = Path.Combine(cacheDir, "models--" + repo.Replace("/", "--"));
            string snapshot = Path.Combine(root, "snapshots", commit);
            Directory.CreateDirectory(Path.Combine(root, "blobs"));
            Directory.CreateDirectory(Path.Combine(root, "refs"));
            if (revision != commit) await File.WriteAllTextAsync(Path.Combine(root, "refs", revision), commit);
            _totalBytes = files.Sum(f => Math.Max(0, f.Size));
            await Parallel.ForEachAsync(files, new ParallelOptions { MaxDegreeOfParallelism = parallel }, async (f, ct) => await Fetch(repo, commit, root, snapshot, f, ct));
            Console.Error.WriteLine($"sealion: download: {repo} at {commit[..Math.Min(12, commit.Length)]}: {files.Count} file(s), {_doneBytes / 1e6:F1} MB in {_clock.Elapsed.TotalSeconds:F1} s -> {snapshot}");
            if (localDir is not null)
                foreach (var f in files)
                {
                    string dst = Path.Combine(localDir, f.Path);
                    Directory.CreateDirectory(Path.GetDirectoryName(dst)!);
                    File.Copy(Path.Combine(snapshot, f.Path), dst, overwrite: true);
                }
            return snapshot;
        }

        /// <summary>One file into blobs/ETAG (resumed from blobs/ETAG.incomplete), then linked from the snapshot.</summary>
        async Task Fetch(string repo, string commit, string root, string snapshot, HubFile f, CancellationToken ct)
        {
            string link = Path.Combine(snapshot, f.Path);
            if (File.Exists(link)) { Progress(f, Math.Max(0, f.Size), done: true); return; }
            string url = Url($"/{repo}/resolve/{commit}/{string.Join('/', f.Path.Split('/').Select(Uri.EscapeDataString))}");
            // huggingface_hub names a blob by its ETag: the sha256 for LFS files, the git blob id otherwise.
            string etag = f.Sha256 ?? f.BlobId ?? throw new HubException($"'{f.Path}' of '{repo}': the Hub listed no hash for it");
            string blob = Path.Combine(root, "blobs", etag), partial = blob + ".incomplete";
            if (!File.Exists(blob))
            {
                for (int attempt = 1; ; attempt++)
                {
                    try { await Transfer(repo, url, f, partial, ct); break; }
                    catch (Exception e) when (e is IOException or HttpRequestException && attempt < 5)
                    {
                        Console.Error.WriteLine($"sealion: download: '{f.Path}': {e.Message}; resuming (attempt {attempt + 1})");
                        await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), ct);
                    }
                }
                if (f.Sha256 is { } sha)
                {
                    string got;
                    await using (var s = File.OpenRead(partial)) got = Convert.ToHexString(await SHA256.HashDataAsync(s, ct)).ToLowerInvariant();
                    if (got != sha)
                    {
                        File.Delete(partial);
                        throw new HubException($"'{f.Path}' of '{repo}': sha256 {got} does not match the Hub's {sha}; the partial file was removed, run the command again");
                    }
                }
                File.Move(partial, blob, overwrite: true);
            }
            Directory.CreateDirectory(Path.GetDirectoryName(link)!);
            // As huggingface_hub: the snapshot's file is a relative symlink into blobs/.
            File.CreateSymbolicLink(link, Path.GetRelativePath(Path.GetDirectoryName(link)!, blob));
            Progress(f, 0, done: true);
        }

        async Task Transfer(string repo, string url, HubFile f, string partial, CancellationToken ct)
        {
            long have = File.Exists(partial) ? new FileInfo(partial).Length : 0;
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            if (have > 0) request.Headers.Range = new RangeHeaderValue(have, null);
            using var r = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            if (r.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && have > 0 && have == f.Size) return;   // already whole
            if (!r.IsSuccessStatusCode) throw Failed(repo, f.Path, r, await r.Content.ReadAsStringAsync(ct));
            bool append = have > 0 && r.StatusCode == HttpStatusCode.PartialContent;
            if (!append) have = 0;   // the server sent the whole file
            await using var body = await r.Content.ReadAsStreamAsync(ct);
            await using var file = new FileStream(partial, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
            var buffer = new byte[1 << 20];
            int n;
            while ((n = await body.ReadAsync(buffer, ct)) > 0)
            {
                await file.WriteAsync(buffer.AsMemory(0, n), ct);
                Progress(f, n, done: false);
            }
            if (f.Size >= 0 && file.Length != f.Size) throw new IOException($"the transfer ended at {file.Length} of {f.Size} bytes");
        }

        void Progress(HubFile f, long bytes, bool done)
        {
            lock (_progressLock)
            {
                _doneBytes += bytes;
                double now = _clock.Elapsed.TotalSeconds;
                if (!done && now - _lastPrint < 1) return;
                _lastPrint = now;
                double pct = _totalBytes > 0 ? 100.0 * _doneBytes / _totalBytes : 100;
                Console.Error.WriteLine($"sealion: download: {(done ? "done" : "....")} {f.Path} | total {_doneBytes / 1e6:F1}/{_totalBytes / 1e6:F1} MB ({pct:F0}%, {_doneBytes / 1e6 / Math.Max(0.001, now):F1} MB/s)");
            }
        }
    }
}
