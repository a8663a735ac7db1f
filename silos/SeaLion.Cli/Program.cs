using SeaLion.Cli;
using SeaLion.Cli.Commands;
using SeaLion.Gateway;
using SeaLion.Gateway.Auth;
using SeaLion.Hosting;

const string Usage = """
    sealion: SEA-LION v2 serving cluster

    usage: ./sealion <verb> [options]

      generate       --model DIR (--prompt TEXT | --prompt-ids 1,2,3) [--chat] [--max-tokens N]
                     [--temperature T] [--top-p P] [--top-k K] [--min-p P] [--seed S] [--stop STR]...
                     [--repetition-penalty R] [--presence-penalty P] [--frequency-penalty F]
                     [--logprobs N] [--ignore-eos] [--dtype fp32|bf16] [--tp N] [--threads N] [--cpu-kernels sealion|torch] [--json]
      tokenize       --model DIR --text TEXT [--add-bos] [--json]
      chat-template  --model DIR --messages FILE.json [--no-generation-prompt]
      init-random    --config FILE|tiny|small|medium|llama3-8b --seed S --out DIR [--dtype f32|bf16|f16]
                     [--max-shard-size BYTES]
      bench model    --model DIR [--dtype fp32|bf16] [--threads N] [--tp N] [--prompt-len N] [--gen-len N]
                     [--cpu-kernels sealion|torch]
      bench engine   [--engine torch|sim] [--concurrency 1,4,16,64] [--workload fixed|sharegpt] [--prefix-experiment]
                     [--plot FILE.png] ... (see docs/cli.md)
      bench check-cuda [--config small] [--bf16-config tiny] [--seed S] [--device cuda|cpu] [--prompt-len 24] [--gen-len 32]
                     [--tolerance 1e-3] [--reference-seed S]: the model on the device against the CPU (fp32, teacher-forced
                     greedy) and bf16 against fp32 on the device; JSON, exit code 1 when they disagree
      bench gateway  [--streams 200] [--prompt-len 128] [--gen-len 128] [--sim-time-scale 1]: gateway + Orleans
                     overhead over the simulated engine alone
      bench cluster  [--hosts 8] [--rates 4,8,...] [--seconds 120] [--policies random,...,precise_kv] [--plot FILE.png]
                     [--customers 150] [--users 5] [--context-tokens 6000] [--query-tokens 1200] [--output-tokens 200]:
                     routing policies on simulated H100 hosts in virtual time
      bench load     [--address http://127.0.0.1:50051] [--streams 500] [--duration-s 120] [--prompt-len 64]
                     [--gen-len 128] [--metrics-url URL] [--api-key K]: holds N streams against a running server
      bench failover [--address http://127.0.0.1:50051] [--streams 48] [--gen-len 2000] [--mode chat|generate]
                     [--kill-pid P --kill-after-s 4] [--no-reference] [--api-key K]: long greedy streams against a
                     running cluster, P killed (SIGKILL) mid-way; completed, token-exact, pauses, sessions (JSON)
      bench autoscale [--phases 4:60,48:240,4:600] [--time-scale 1] [--max-replicas 3] [--kv-cache-mb 64] [--gen-len 64]
                     [--sim-time-scale 1] [--plot FILE.png]: the shipped HPA policy applied on loopback to silo processes
                     (scale-out starts one, scale-in drains one with SIGTERM) under phased load; JSON + PNG
      download       OWNER/NAME [--revision main] [--include PATTERN]... [--local-dir DIR] [--cache-dir DIR] [--parallel 4]:
                     a repository from the Hugging Face Hub (HF_TOKEN, HF_ENDPOINT) into huggingface_hub's cache,
                     resumable, sha256-checked; prints the snapshot (or --local-dir) folder for --model
      eval           [--url http://127.0.0.1:8080] [--tasks FILE.jsonl] [--model NAME] [--api-key K] [--concurrency 8]
                     [--limit N] [--json]: multiple-choice (loglikelihood, lm-eval's way) and generation tasks against a
                     running server through the OpenAI API; accuracy per task and language (default: the built-in
                     sea-mini tasks in English, Indonesian, Thai, Vietnamese and Tamil)
      bench structured [--model DIR | --random-config NAME] [--streams 16] [--rounds 3] [--prompt-len 32]: N json_schema
                     requests against N unconstrained ones of the same lengths; throughput ratio, mask time p50/p99,
                     compile time of a 20-property schema (JSON)
      serve          [--model DIR] [--host 127.0.0.1] [--grpc-port 50051] [--http-port 8080] [--dtype bf16|fp32]
                     [--threads N] [--tp N] [--kv-cache-mb N | --gpu-memory-utilization F] [--engine torch|sim]
                     [--sim-time-scale S] [--api-keys FILE | --no-auth] [TRANSPORT] [CLUSTER-TLS]: all-in-one cluster (Orleans silo + gRPC and
                     OpenAI REST gateway)
      silo           --redis HOST:PORT [--model DIR] [--cluster-id sealion] [--service-id sealion] [--host 127.0.0.1]
                     [--advertise-address IP (with --host 0.0.0.0: the address others dial, e.g. the pod IP)]
                     [--silo-port 11111] [--gateway-port 30000] [--http-port 9090] [--engine torch|sim]
                     [--sim-time-scale S] [--kv-cache-mb N | --gpu-memory-utilization F] [--dtype bf16|fp32]
                     [--threads N] [--tp N] [--drain-timeout-s 30] [CLUSTER-TLS]: one silo of a multi-process cluster (Redis membership and session
                     storage); SIGTERM drains it
      gateway        --redis HOST:PORT [--model DIR] [--cluster-id sealion] [--service-id sealion] [--host 127.0.0.1]
                     [--grpc-port 50051] [--http-port 8080] [--api-keys FILE | --no-auth] [--failover-budget-s 45]
                     [TRANSPORT] [CLUSTER-TLS]: the gateway of a multi-process cluster (keys from FILE and from the cluster's Redis); a
                     stream cut by a lost silo is resumed elsewhere for up to the budget after the cut
      apikey         [--tenant default] [--role user|admin] [--rpm N] [--tpm N] [--streams N] (--out FILE | --redis HOST:PORT
                     [--cluster-id sealion]): makes an API key, prints it once, stores its SHA-256 hash
      help           this text

    Model options: --cpu-kernels sealion (default: fp32 projections through the AVX-512 packed GEMM, decode
    attention over the paged cache in place) or torch (libtorch's matmul and SDPA). KV cache: --kv-cache-mb N over all ranks (default 512 on CPU); on GPU without it,
    --gpu-memory-utilization F (default 0.9) of each device minus the weights and the largest forward pass.

    TRANSPORT (serve, gateway): [--tls-cert PEM --tls-key PEM] (both ports over TLS; the files are reloaded when they
    change) [--max-connections 10000] (per port) [--request-headers-timeout-s 10] [--keep-alive-timeout-s 130]
    [--max-request-headers-kb 32] [--min-request-body-bytes-per-s 240] (0: off); see docs/security.md.

    CLUSTER-TLS (serve, silo, gateway): [--cluster-tls-cert PEM --cluster-tls-key PEM --cluster-tls-ca PEM] (all three
    or none): mutual TLS on Orleans' own connections, silo to silo and gateway to silo; every process presents its
    certificate and accepts only peers whose certificates chain to the CA bundle; see docs/security.md.

    Without --model, verbs use the embedded default: the tiny config with random weights and the real
    Llama 3 tokenizer, generated on first use under $SEALION_HOME (default ~/.cache/sealion).
    """;

NativeHeap.LimitArenas();   // first, before the threads a server starts take arenas of their own
if (args.Length == 0 || args[0] is "help" or "--help" or "-h")
{
    Console.Out.WriteLine(Usage);
    return args.Length == 0 ? 2 : 0;
}

try
{
    string verb = args[0];
    var rest = args[1..];
    return verb switch
    {
        "generate" => GenerateCommand.Run(new CliArgs(verb, rest)),
        "tokenize" => TextCommands.Tokenize(new CliArgs(verb, rest)),
        "chat-template" => TextCommands.ChatTemplate(new CliArgs(verb, rest)),
        "init-random" => InitRandomCommand.Run(new CliArgs(verb, rest)),
        "bench" => BenchCommand.Run(rest),
        "eval" => EvalCommand.Run(new CliArgs(verb, rest)),
        "download" => DownloadCommand.Run(rest),
        "serve" => ServeCommand.Run(new CliArgs(verb, rest)),
        "silo" => ServeCommand.Silo(new CliArgs(verb, rest)),
        "gateway" => GatewayCommand.Run(new CliArgs(verb, rest)),
        "apikey" => AuthArgs.Create(new CliArgs(verb, rest)),
        _ => throw new UsageException($"unknown verb '{verb}'; see './sealion help'"),
    };
}
catch (UsageException e)
{
    Console.Error.WriteLine($"sealion: {e.Message}");
    return 2;
}
catch (Exception e) when (e is ArgumentException or InvalidDataException or FileNotFoundException or NotSupportedException
                              or SeaLion.Templates.TemplateException or System.Text.Json.JsonException or IOException)
{
    Console.Error.WriteLine($"sealion: error: {e.Message}");
    return 1;
}
