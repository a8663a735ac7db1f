using System.Diagnostics;
using System.Text.Json;

namespace SeaLion.Cli.Tests;

/// <summary>The CLI contract the README documents, run as a separate process against a private model cache.</summary>
public sealed class CliTests : IClassFixture<CliTests.Home>
{
    public sealed class Home : IDisposable
    {
        public string Dir { get; } = Path.Combine(Path.GetTempPath(), $"sealion-cli-{Guid.NewGuid():N}");
        public void Dispose() { try { Directory.Delete(Dir, recursive: true); } catch (IOException) { } }
    }

    readonly Home _home;
    public CliTests(Home home) => _home = home;

    (int Code, string Out, string Err) Run(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "sealion.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["SEALION_HOME"] = _home.Dir;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        string err = p.StandardError.ReadToEnd();
        Assert.True(p.WaitForExit(120_000), "sealion did not exit within 120 s");
        return (p.ExitCode, stdout.Result, err);
    }

    [Fact]
    public void Generate_json_reports_generated_ids_text_and_finish_reason()
    {
        var (code, stdout, err) = Run("generate", "--prompt-ids", "128000,9906,11,1917", "--max-tokens", "5", "--temperature", "0", "--ignore-eos", "--dtype", "fp32", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(stdout);
        var r = doc.RootElement;
        Assert.Equal(5, r.GetProperty("token_ids").GetArrayLength());
        Assert.Equal("length", r.GetProperty("finish_reason").GetString());
        Assert.Equal(new[] { 128000, 9906, 11, 1917 }, r.GetProperty("prompt_token_ids").EnumerateArray().Select(e => e.GetInt32()));
        // Greedy is deterministic: the same call gives the same ids.
        var again = JsonDocument.Parse(Run("generate", "--prompt-ids", "128000,9906,11,1917", "--max-tokens", "5", "--temperature", "0", "--ignore-eos", "--dtype", "fp32", "--json").Out);
        Assert.Equal(r.GetProperty("token_ids").GetRawText(), again.RootElement.GetProperty("token_ids").GetRawText());
    }

    [Fact]
    public void Generate_chat_wraps_the_prompt_in_the_chat_template()
    {
        var (code, stdout, err) = Run("generate", "--prompt", "Hi", "--chat", "--max-tokens", "2", "--json");
        Assert.True(code == 0, err);
        var ids = JsonDocument.Parse(stdout).RootElement.GetProperty("prompt_token_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        // <|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n
        Assert.Equal(new[] { 128000, 128006, 882, 128007, 271, 13347, 128009, 128006, 78191, 128007, 271 }, ids);
    }

    [Fact]
    public void Tokenize_json_gives_llama3_ids_and_parses_special_tokens()
    {
        var (code, stdout, err) = Run("tokenize", "--text", "Hello, world!<|eot_id|>", "--json");
        Assert.True(code == 0, err);
        Assert.Equal("""{"token_ids":[9906,11,1917,0,128009]}""", stdout.Trim());
        Assert.Equal("""{"token_ids":[128000,9906]}""", Run("tokenize", "--text", "Hello", "--add-bos", "--json").Out.Trim());
    }

    [Fact]
    public void Chat_template_prints_the_rendering_and_nothing_else()
    {
        string file = Path.Combine(Path.GetTempPath(), $"msgs-{Guid.NewGuid():N}.json");
        File.WriteAllText(file, """[{"role": "system", "content": "  Be brief.\n"}, {"role": "user", "content": "Apa kabar?"}]""");
        var (code, stdout, err) = Run("chat-template", "--messages", file);
        Assert.True(code == 0, err);
        Assert.Equal("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nApa kabar?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", stdout);
    }

    [Fact]
    public void Init_random_writes_a_sharded_folder_that_generate_loads()
    {
        string outDir = Path.Combine(_home.Dir, "sharded");
        var (code, _, err) = Run("init-random", "--config", "tiny", "--seed", "3", "--out", outDir, "--max-shard-size", "20000000");
        Assert.True(code == 0, err);
        Assert.True(File.Exists(Path.Combine(outDir, "model.safetensors.index.json")));
        Assert.True(Directory.GetFiles(outDir, "model-*.safetensors").Length >= 2);
        var gen = Run("generate", "--model", outDir, "--prompt", "Selamat pagi", "--max-tokens", "3", "--json");
        Assert.True(gen.Code == 0, gen.Err);
    }

    [Fact]
    public void Bench_model_prints_json_with_prefill_and_decode_rates()
    {
        var (code, stdout, err) = Run("bench", "model", "--prompt-len", "8", "--gen-len", "4", "--repeats", "1", "--threads", "2");
        Assert.True(code == 0, err);
        var r = JsonDocument.Parse(stdout).RootElement;
        Assert.True(r.GetProperty("prefill_tok_s").GetDouble() > 0);
        Assert.True(r.GetProperty("decode_tok_s").GetDouble() > 0);
    }

    [Fact]
    public void Bench_engine_sweeps_the_torch_engine_and_plots_it()
    {
        string png = Path.Combine(_home.Dir, $"engine-{Guid.NewGuid():N}.png");
        var (code, stdout, err) = Run("bench", "engine", "--concurrency", "1,2", "--prompt-len", "8", "--gen-len", "4", "--requests-per-level", "1",
            "--threads", "2", "--kv-cache-mb", "64", "--plot", png);
        Assert.True(code == 0, err);
        var r = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal("torch", r.GetProperty("engine").GetString());
        Assert.Equal("64 MiB", r.GetProperty("kv_sized_by").GetString());
        Assert.True(r.GetProperty("kv_blocks").GetInt32() > 0);
        Assert.Equal(new[] { 1, 2 }, r.GetProperty("sweep").EnumerateArray().Select(p => p.GetProperty("concurrency").GetInt32()));
        Assert.All(r.GetProperty("sweep").EnumerateArray(), p => Assert.True(p.GetProperty("output_tok_s").GetDouble() > 0));
        Assert.Equal(2, r.GetProperty("speedup_vs_first_level").GetArrayLength());
        Assert.True(new FileInfo(png).Length > 10_000);
    }

    static JsonElement CheckCuda(JsonElement r, string name) => r.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("name").GetString() == name);

    [Fact]
    public void Check_cuda_on_the_cpu_passes_when_both_sides_hold_the_same_weights()
    {
        var (code, stdout, err) = Run("bench", "check-cuda", "--device", "cpu", "--config", "tiny", "--gen-len", "12", "--threads", "2");
        Assert.True(code == 0, err + stdout);
        var r = JsonDocument.Parse(stdout).RootElement;
        Assert.True(r.GetProperty("passed").GetBoolean());
        var fp32 = CheckCuda(r, "fp32 cpu vs fp32 cpu");
        Assert.True(fp32.GetProperty("passed").GetBoolean());
        Assert.Equal(12, fp32.GetProperty("generated").GetInt32());
        Assert.Equal(12, fp32.GetProperty("exact_argmax").GetInt32());
        Assert.True(fp32.GetProperty("max_rel_logit_diff").GetDouble() < 1e-4);
        var bf16 = CheckCuda(r, "bf16 cpu vs fp32 cpu");
        Assert.True(bf16.GetProperty("passed").GetBoolean());
        Assert.True(bf16.GetProperty("max_abs_logit_diff").GetDouble() > 0);   // bf16 really ran: its logits are not fp32's
    }

    [Fact]
    public void Check_cuda_fails_when_the_reference_holds_other_weights()
    {
        // A planted disagreement: the CPU reference is drawn from another seed, as a device computing garbage would look.
        var (code, stdout, err) = Run("bench", "check-cuda", "--device", "cpu", "--config", "tiny", "--gen-len", "12", "--threads", "2", "--reference-seed", "2");
        Assert.True(code == 1, $"exit code {code}: {err}{stdout}");
        var r = JsonDocument.Parse(stdout).RootElement;
        Assert.False(r.GetProperty("passed").GetBoolean());
        var fp32 = CheckCuda(r, "fp32 cpu vs fp32 cpu");
        Assert.False(fp32.GetProperty("passed").GetBoolean());
        Assert.True(fp32.GetProperty("failures").GetArrayLength() > 0);
        Assert.True(fp32.GetProperty("max_rel_logit_diff").GetDouble() > 0.01);
        Assert.True(CheckCuda(r, "bf16 cpu vs fp32 cpu").GetProperty("passed").GetBoolean());   // the pair without the planted weights still agrees
    }

    [Fact]
    public void Bench_gateway_compares_the_gateway_with_the_engine_alone_and_checks_every_token()
    {
        var (code, stdout, err) = Run("bench", "gateway", "--streams", "6", "--prompt-len", "16", "--gen-len", "6", "--sim-time-scale", "0.1");
        Assert.True(code == 0, err);
        var r = JsonDocument.Parse(stdout).RootElement;
        Assert.True(r.GetProperty("every_token_in_order").GetBoolean());
        Assert.Equal(36, r.GetProperty("through_gateway").GetProperty("tokens").GetInt64());
        Assert.Equal(36, r.GetProperty("engine_alone").GetProperty("tokens").GetInt64());
        Assert.True(r.GetProperty("through_gateway").GetProperty("itl_p50_ms").GetDouble() > 0);
    }

    [Fact]
    public void Bench_cluster_simulates_routing_policies_and_plots_them()
    {
        string png = Path.Combine(_home.Dir, $"routing-{Guid.NewGuid():N}.png");
        var (code, stdout, err) = Run("bench", "cluster", "--hosts", "3", "--seconds", "10", "--rates", "2,4", "--policies", "random,precise_kv",
            "--customers", "6", "--context-tokens", "1000", "--query-tokens", "100", "--output-tokens", "10", "--plot", png);
        Assert.True(code == 0, err);
        var lines = stdout.Trim().Split('\n').Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal(4, lines.Count(l => l.GetProperty("bench").GetString() == "cluster"));
        Assert.Contains(lines, l => l.GetProperty("bench").GetString() == "cluster-summary");
        Assert.True(new FileInfo(png).Length > 10_000);
    }

    [Fact]
    public void Bench_cluster_real_run_through_orleans_agrees_with_the_simulator()
    {
        string[] w = ["bench", "cluster", "--hosts", "3", "--seconds", "8", "--rates", "3", "--policies", "random,precise_kv", "--customers", "4",
            "--context-tokens", "800", "--query-tokens", "64", "--output-tokens", "8"];
        var (code, real, err) = Run([.. w, "--real", "--sim-time-scale", "0.5"]);
        Assert.True(code == 0, err);
        var (code2, sim, err2) = Run(w);
        Assert.True(code2 == 0, err2);
        double Hit(string output, string policy) => output.Trim().Split('\n').Select(l => JsonDocument.Parse(l).RootElement)
            .Single(e => e.GetProperty("bench").GetString() == "cluster" && e.GetProperty("policy").GetString() == policy).GetProperty("prefix_hit_rate").GetDouble();
        foreach (var policy in new[] { "random", "precise_kv" })
            Assert.True(Math.Abs(Hit(real, policy) - Hit(sim, policy)) < 0.08, $"{policy}: real {Hit(real, policy)} vs simulated {Hit(sim, policy)}");
        Assert.True(Hit(real, "precise_kv") > Hit(real, "random"));
    }

    [Fact]
    public void Apikey_prints_a_key_once_and_stores_only_its_hash()
    {
        string file = Path.Combine(_home.Dir, $"keys-{Guid.NewGuid():N}.json");
        var (code, stdout, err) = Run("apikey", "--tenant", "acme", "--role", "user", "--rpm", "60", "--out", file);
        Assert.True(code == 0, err);
        string key = stdout.Trim();
        Assert.StartsWith("sk-sealion-", key);
        string stored = File.ReadAllText(file);
        Assert.DoesNotContain(key, stored);
        Assert.Contains(SeaLion.Gateway.Auth.ApiKeyEntry.Hash(key), stored);
        Assert.Contains("\"requests_per_minute\": 60", stored);
    }

    [Theory]
    [InlineData(2, "--out FILE", "apikey", "--tenant", "acme")]
    [InlineData(1, "role must be user or admin", "apikey", "--role", "root", "--out", "/tmp/sealion-test-keys.json")]
    [InlineData(2, "--api-keys FILE or --no-auth", "serve", "--no-auth", "--api-keys", "/tmp/x.json")]
    [InlineData(2, "--redis", "silo", "--engine", "sim")]
    [InlineData(2, "--silo-port and --gateway-port", "silo", "--redis", "127.0.0.1:1", "--silo-port", "5000", "--gateway-port", "5000")]
    [InlineData(2, "give --advertise-address", "silo", "--redis", "127.0.0.1:1", "--host", "0.0.0.0")]
    [InlineData(2, "--host 203.0.113.7 is not an address of this host", "silo", "--redis", "127.0.0.1:1", "--host", "203.0.113.7")]
    [InlineData(2, "--advertise-address 198.51.100.9 is not an address of this host", "silo", "--redis", "127.0.0.1:1", "--host", "0.0.0.0", "--advertise-address", "198.51.100.9")]
    [InlineData(2, "--advertise-address 127.0.0.2 differs from --host 127.0.0.1", "silo", "--redis", "127.0.0.1:1", "--advertise-address", "127.0.0.2")]
    [InlineData(2, "--failover-budget-s must be between 1 and 3600, got 0", "gateway", "--redis", "127.0.0.1:1", "--failover-budget-s", "0")]
    [InlineData(2, "--tls-cert /tmp/sealion-test-only.pem needs --tls-key", "gateway", "--redis", "127.0.0.1:1", "--tls-cert", "/tmp/sealion-test-only.pem")]
    [InlineData(2, "--tls-key /tmp/sealion-test-only.key needs --tls-cert", "serve", "--tls-key", "/tmp/sealion-test-only.key")]
    [InlineData(2, "--tls-cert: no such file '/nonexistent/cert.pem'", "gateway", "--redis", "127.0.0.1:1", "--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem")]
    [InlineData(2, "--cluster-tls-cert /tmp/sealion-test-only.pem needs --cluster-tls-key too", "silo", "--redis", "127.0.0.1:1", "--cluster-tls-cert", "/tmp/sealion-test-only.pem")]
    [InlineData(2, "--cluster-tls-ca /tmp/sealion-test-ca.pem needs --cluster-tls-cert too", "serve", "--cluster-tls-ca", "/tmp/sealion-test-ca.pem")]
    [InlineData(2, "--cluster-tls-cert: no such file '/nonexistent/cert.pem'", "gateway", "--redis", "127.0.0.1:1", "--cluster-tls-cert", "/nonexistent/cert.pem", "--cluster-tls-key", "/nonexistent/key.pem", "--cluster-tls-ca", "/nonexistent/ca.pem")]
    [InlineData(2, "--max-connections must be between 1 and 1000000, got 0", "gateway", "--redis", "127.0.0.1:1", "--max-connections", "0")]
    [InlineData(2, "--engine", "serve", "--engine", "gpu")]
    [InlineData(2, "--gpu-memory-utilization must be in (0, 1], got 1.5", "serve", "--gpu-memory-utilization", "1.5")]
    [InlineData(2, "--cpu-kernels must be sealion or torch, got 'mkl'", "generate", "--prompt", "x", "--cpu-kernels", "mkl")]
    [InlineData(2, "--bogus", "generate", "--prompt", "x", "--bogus", "1")]
    [InlineData(2, "--prompt-ids", "generate", "--prompt", "x", "--prompt-ids", "1")]
    [InlineData(2, "--temperature", "generate", "--prompt", "x", "--temperature", "hot")]
    [InlineData(1, "temperature", "generate", "--prompt", "x", "--temperature", "-1")]
    [InlineData(1, "8192", "generate", "--prompt-ids", "1,2", "--max-tokens", "9000")]
    [InlineData(1, "vocabulary", "generate", "--prompt-ids", "1,999999")]
    [InlineData(2, "--model", "generate", "--model", "/nonexistent/model", "--prompt", "x")]
    [InlineData(2, "unknown verb", "frobnicate")]
    [InlineData(2, "--device must be cpu or cuda, got 'tpu'", "bench", "check-cuda", "--device", "tpu")]
    [InlineData(2, "--tolerance must be in (0, 1], got 0", "bench", "check-cuda", "--device", "cpu", "--tolerance", "0")]
    [InlineData(2, "'nope' is neither a file nor a shipped config", "bench", "check-cuda", "--config", "nope")]
    [InlineData(2, "--gen-len must be between 1 and 4096, got 0", "bench", "check-cuda", "--gen-len", "0")]
    public void Bad_input_exits_nonzero_with_a_message_naming_the_problem(int expectedCode, string mention, params string[] args)
    {
        var (code, _, err) = Run(args);
        Assert.Equal(expectedCode, code);
        Assert.Contains(mention, err);
        Assert.DoesNotContain("   at ", err);   // a message, not a stack trace
    }
}
