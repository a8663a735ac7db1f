using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using V1 = SeaLion.Contracts.V1;

namespace SeaLion.Cli.Commands;

/// <summary>
/// `bench failover`: N long greedy streams (chat turns in their own sessions, or stateless Generate) against a
/// running cluster; --kill-pid P is sent SIGKILL --kill-after-s seconds in (a silo, a gateway's peer, Redis: the
/// caller chooses). Then the same requests again, uninterrupted, as the reference. Reports per run: streams
/// completed with all their tokens, token-exact against the reference, errors, the longest pause a client saw
/// (the gap between two chunks) and the pauses of the streams the kill cut; for chat, whether every session
/// stored exactly the reply its client received and takes a next turn. JSON on stdout; exit 1 if anything was lost.
/// ops/faults/silo-kill.sh runs it against ops/cluster.sh.
/// </summary>
internal static class BenchFailoverCommand
{
    sealed record Outcome(int Tokens, string Text, int[] Ids, V1.FinishReason Finish, string? Error, double MaxGap, double GapAtKill);

    public static async Task<int> Run(CliArgs a)
    {
        var address = a.String("address") ?? "http://127.0.0.1:50051";
        string? apiKey = a.String("api-key") ?? Environment.GetEnvironmentVariable("SEALION_API_KEY");
        int streams = a.Int("streams", 48, 1, 10_000), genLen = a.Int("gen-len", 2000, 1, 8000);
        string mode = a.String("mode") ?? "chat";
        int? killPid = a.Has("kill-pid") ? a.Int("kill-pid", 0, 1, int.MaxValue) : null;
        double killAfter = a.Double("kill-after-s") ?? 4;
        bool reference = !a.Flag("no-reference");
        a.EnsureAllUsed();
        if (mode is not ("chat" or "generate")) throw new UsageException($"--mode must be chat or generate, got '{mode}'");

        using var channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true, PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan },
        });
        var client = new V1.Inference.InferenceClient(channel);
        var headers = new Metadata();
        if (apiKey is not null) headers.Add("authorization", "Bearer " + apiKey);

        var r = await Measure(client, headers, mode, streams, genLen, killPid is { } pid ? () => Kill(pid) : null, killAfter, reference);
        Console.Out.WriteLine(JsonSerializer.Serialize(new
        {
            bench = "failover", mode, address, streams, gen_len = genLen, kill_pid = killPid, kill_at_s = r.KillAt,
            duration_s = r.Duration, completed = r.Completed, errors = r.Errors, error_messages = r.ErrorMessages, token_exact = r.TokenExact,
            sessions_stored_as_received = r.SessionsStored, next_turns = r.NextTurns, max_pause_s = r.MaxPause,
            streams_paused_at_kill = r.PausedAtKill, pause_at_kill_p50_s = r.PauseAtKillP50, pause_at_kill_max_s = r.PauseAtKillMax,
        }));
        return r.Lost ? 1 : 0;
    }

    static void Kill(int pid)
    {
        try { Process.GetProcessById(pid).Kill(); }
        catch (Exception e) { Console.Error.WriteLine($"bench failover: could not kill {pid}: {e.Message}"); }
    }

    /// <summary>What a failover run measured (seconds; null where it does not apply).</summary>
    internal sealed record Report(int Streams, double? KillAt, double Duration, int Completed, int Errors, string?[] ErrorMessages, int? TokenExact,
        int? SessionsStored, int? NextTurns, double MaxPause, int PausedAtKill, double? PauseAtKillP50, double? PauseAtKillMax, string[] Incomplete)
    {
        /// <summary>A stream, a token, a stored reply or a next turn went missing.</summary>
        public bool Lost => Completed < Streams || TokenExact < Streams || SessionsStored < Streams || NextTurns < Streams;
    }

    /// <summary>
    /// N greedy streams (chat turns in sessions of their own, or Generate), <paramref name="kill"/> run
    /// <paramref name="killAfter"/> seconds in, then the checks: completeness, sessions (chat), and the same requests
    /// again, uninterrupted, as the token-exact reference.
    /// </summary>
    internal static async Task<Report> Measure(V1.Inference.InferenceClient client, Metadata headers, string mode, int streams, int genLen, Action? kill,
        double killAfter, bool reference)
    {
        string run = DateTime.UtcNow.ToString("HHmmss", CultureInfo.InvariantCulture) + "-" + Random.Shared.Next(1000, 9999);
        var clock = Stopwatch.StartNew();
        double killAt = double.NaN;
        using var started = new CountdownEvent(streams);   // streams that delivered their first chunk
        var turns = Enumerable.Range(0, streams).Select(i => Stream(client, headers, mode, $"fo-{run}-{i}", i, genLen, clock, () => killAt, started: started)).ToArray();
        if (kill is not null)
        {
            // The kill comes killAfter seconds in, and never before every stream has begun: what it tests is the loss of
            // running streams (a turn sent while the store is down is refused by design, see StoreOutageTests).
            await Task.Delay(TimeSpan.FromSeconds(killAfter));
            await Task.Run(() => started.Wait(TimeSpan.FromSeconds(60)));
            killAt = clock.Elapsed.TotalSeconds;
            kill();
        }
        var results = await Task.WhenAll(turns);
        double elapsed = clock.Elapsed.TotalSeconds;

        int sessionsStored = 0, nextTurns = 0;
        if (mode == "chat")
            for (int i = 0; i < streams; i++)
            {
                string id = $"fo-{run}-{i}";
                try
                {
                    var s = await client.GetSessionAsync(new V1.GetSessionRequest { SessionId = id }, headers);
                    if (s.Messages.Count == 2 && s.Messages[1].Content == results[i].Text) sessionsStored++;
                    var next = await Stream(client, headers, mode, id, i, 4, Stopwatch.StartNew(), () => double.NaN, "Lanjutkan.");
                    if (next.Error is null && next.Tokens == 4) nextTurns++;
                }
                catch (RpcException e) { Console.Error.WriteLine($"bench failover: session {id}: {e.Status}"); }
            }
        int exact = -1;
        if (reference)
        {
            var again = await Task.WhenAll(Enumerable.Range(0, streams).Select(i =>
                Stream(client, headers, mode, $"fo-{run}-ref-{i}", i, genLen, Stopwatch.StartNew(), () => double.NaN)));
            exact = Enumerable.Range(0, streams).Count(i => results[i].Error is null && results[i].Ids.SequenceEqual(again[i].Ids) && results[i].Text == again[i].Text);
        }

        // The streams the kill stopped (a live stream's gaps are milliseconds).
        var cut = results.Where(r => !double.IsNaN(r.GapAtKill) && r.GapAtKill > 0.5).Select(r => r.GapAtKill).OrderBy(g => g).ToArray();
        int completed = results.Count(r => r.Error is null && r.Tokens == genLen && r.Finish == V1.FinishReason.Length);
        return new Report(streams, double.IsNaN(killAt) ? null : Math.Round(killAt, 2), Math.Round(elapsed, 1), completed, results.Count(r => r.Error is not null),
            results.Where(r => r.Error is not null).Select(r => r.Error).Distinct().Take(5).ToArray(), exact < 0 ? null : exact,
            mode == "chat" ? sessionsStored : null, mode == "chat" ? nextTurns : null, Math.Round(results.Max(r => r.MaxGap), 3), cut.Length,
            cut.Length > 0 ? Math.Round(cut[cut.Length / 2], 3) : null, cut.Length > 0 ? Math.Round(cut[^1], 3) : null,
            results.Select((r, i) => (r, i)).Where(x => !(x.r.Error is null && x.r.Tokens == genLen && x.r.Finish == V1.FinishReason.Length))
                .Select(x => $"stream {x.i}: {x.r.Tokens} tokens, finish {x.r.Finish}, error {x.r.Error ?? "none"}").Take(10).ToArray());
    }

    /// <summary>One greedy stream; its longest gap between chunks, and the gap that spans the kill (NaN if none did).</summary>
    static async Task<Outcome> Stream(V1.Inference.InferenceClient client, Metadata headers, string mode, string id, int i, int genLen, Stopwatch clock,
        Func<double> killAt, string? text = null, CountdownEvent? started = null)
    {
        var sampling = new V1.SamplingParams { Temperature = 0, MaxTokens = genLen, IgnoreEos = true };
        string content = text ?? $"Ceritakan kisah panjang nomor {i} tentang singa laut.";
        var ids = new List<int>();
        var sb = new StringBuilder();
        var finish = V1.FinishReason.Unspecified;
        double last = clock.Elapsed.TotalSeconds, maxGap = 0, gapAtKill = double.NaN;
        try
        {
            AsyncServerStreamingCall<V1.GenerateResponse> call;
            if (mode == "chat")
            {
                var r = new V1.ChatRequest { SessionId = id, Sampling = sampling };
                r.Messages.Add(new V1.ChatMessage { Role = "user", Content = content });
                call = client.Chat(r, headers);
            }
            else call = client.Generate(new V1.GenerateRequest { Text = content, Sampling = sampling }, headers);
            using (call)
                await foreach (var c in call.ResponseStream.ReadAllAsync())
                {
                    double now = clock.Elapsed.TotalSeconds, k = killAt();
                    if (ids.Count > 0)
                    {
                        maxGap = Math.Max(maxGap, now - last);
                        // The gap the kill caused starts at the stream's last chunk before the silo died (at most a
                        // moment after the kill was sent, as chunks already on the wire still arrive).
                        if (!double.IsNaN(k) && last >= k - 0.25 && last <= k + 1.0 && now - last > (double.IsNaN(gapAtKill) ? 0 : gapAtKill)) gapAtKill = now - last;
                    }
                    if (ids.Count == 0 && c.TokenIds.Count > 0) started?.Signal();
                    last = now;
                    ids.AddRange(c.TokenIds);
                    sb.Append(c.Text);
                    if (c.FinishReason != V1.FinishReason.Unspecified) finish = c.FinishReason;
                }
            return new Outcome(ids.Count, sb.ToString(), ids.ToArray(), finish, null, maxGap, gapAtKill);
        }
        catch (RpcException e) { return new Outcome(ids.Count, sb.ToString(), ids.ToArray(), finish, $"{e.StatusCode}: {e.Status.Detail}", maxGap, gapAtKill); }
    }
}
