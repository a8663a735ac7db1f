using System.Text;
using Xunit.Abstractions;

namespace SeaLion.Gateway.Tests.Fuzzing;

/// <summary>
/// The fuzzers against the all-in-one host with the simulated engine: seeded and reproducible, 1,000 cases per API in
/// the suite; `ops/fuzz.sh` runs more (SEALION_FUZZ_CASES, SEALION_FUZZ_SEED) and replays single cases
/// (SEALION_FUZZ_ONLY). docs/hardening.md has the figures of the long run.
/// </summary>
[Collection("sim-server")]
public sealed class FuzzTests(SimulatedServerFixture server, ITestOutputHelper output)
{
    readonly FuzzSettings _settings = FuzzSettings.FromEnvironment();

    [Fact]
    public async Task Rest_fuzzed_bodies_get_4xx_with_a_message_never_5xx_and_good_requests_are_still_served()
    {
        var driver = new FuzzDriver(server, _settings);
        var fuzzer = new RestFuzzer(_settings.Seed);
        var report = new FuzzReport("REST", _settings);
        using var http = driver.Http();
        var trace = _settings.Only.Count > 0 ? new StringBuilder() : null;
        try { await driver.Run(_settings.Indexes("rest"), fuzzer.Case, (c, ct) => driver.Send(http, c, ct, trace), report); }
        finally { Finish("rest", report, trace); }
        Assert.True(report.Failures.Count == 0, report.Format());
        if (_settings.Only.Count == 0)
        {
            // The run reached both sides of validation: served requests and refused ones, not one of them only.
            Assert.True(report.Count(s => s == "200") >= report.Cases / 20, "too few fuzzed requests were served:\n" + report.Format());
            Assert.True(report.Count(s => s.StartsWith('4')) >= report.Cases / 2, "too few fuzzed requests were refused:\n" + report.Format());
        }
    }

    [Fact]
    public async Task Grpc_fuzzed_messages_get_client_errors_never_internal_or_unknown_and_good_requests_are_still_served()
    {
        var driver = new FuzzDriver(server, _settings);
        var fuzzer = new GrpcFuzzer(_settings.Seed);
        var report = new FuzzReport("gRPC", _settings);
        var invoker = server.Channel.CreateCallInvoker();
        var trace = _settings.Only.Count > 0 ? new StringBuilder() : null;
        try { await driver.Run(_settings.Indexes("grpc"), fuzzer.Case, (c, ct) => driver.Send(invoker, c, ct, trace), report); }
        finally { Finish("grpc", report, trace); }
        Assert.True(report.Failures.Count == 0, report.Format());
        if (_settings.Only.Count == 0)
        {
            Assert.True(report.Count(s => s == "OK") >= report.Cases / 20, "too few fuzzed calls were served:\n" + report.Format());
            Assert.True(report.Count(s => s == "InvalidArgument") >= report.Cases / 4, "too few fuzzed calls were refused:\n" + report.Format());
        }
    }

    [Fact]
    public void The_same_seed_gives_the_same_cases_and_another_seed_others()
    {
        static string Rest(long seed, int i) { var c = new RestFuzzer(seed).Case(i); return c.Path + c.ContentType + Convert.ToHexString(c.Body); }
        static string Grpc(long seed, int i) { var c = new GrpcFuzzer(seed).Case(i); return c.Method + Convert.ToHexString(c.Message); }
        for (int i = 0; i < 50; i++)
        {
            Assert.Equal(Rest(7, i), Rest(7, i));
            Assert.Equal(Grpc(7, i), Grpc(7, i));
        }
        Assert.True(Enumerable.Range(0, 50).Count(i => Rest(7, i) != Rest(8, i)) > 40);
        Assert.True(Enumerable.Range(0, 50).Count(i => Grpc(7, i) != Grpc(8, i)) > 40);
        // Raw fragments (numbers JSON cannot hold, bad escapes, raw bytes) are all written in: no placeholder is left.
        Assert.DoesNotContain(Enumerable.Range(0, 500).Select(i => new RestFuzzer(7).Case(i)), c => Encoding.Latin1.GetString(c.Body).Contains("@@RAW"));
    }

    void Finish(string api, FuzzReport report, StringBuilder? trace)
    {
        string text = report.Format() + (trace is null ? "" : "\n" + trace);
        output.WriteLine(text);
        _settings.Save(api, text);
    }
}
