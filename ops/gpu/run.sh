#!/usr/bin/env bash
# The GPU check and benchmark of issue 18 as one script for a GPU host that has PyTorch (with CUDA) but no .NET.
# Needs artifacts/gpu/ from ops/gpu/pack.sh next to the repo files. Everything lands in $OUT as it is measured
# (a timeout still returns what was done), at most 8 files:
#   log.txt            every step's command, exit code, seconds and stderr tail
#   results.jsonl      one JSON line per step: {"step", "rc", "seconds", "result": the verb's JSON or null}
#   summary.txt        the goals of the issue with ratios (decode vs roofline and vs PyTorch eager, 2k TTFT, ...)
#   env.txt            nvidia-smi, torch/CUDA versions, the native-layer verdict
#   ldd.txt            `ldd -r` of the prebuilt libLibTorchSharp.so against the host's libtorch
#   libtorchsharp-build.txt   cmake + ninja output, when LibTorchSharp had to be built here
#   gpu-memory.csv     nvidia-smi memory and utilization every 0.5 s
# Steps, each inside a hard budget (BUDGET_S, default 510 s from the start; a step that no longer fits is skipped):
#   1. unpack; does the prebuilt libLibTorchSharp.so (libtorch 2.10) resolve against this libtorch? If not (or
#      FORCE_NATIVE_BUILD=1), build LibTorchSharp from the packed sources (+ ops/gpu/libtorchsharp-patches) with
#      cmake + ninja -j16, the LibTorchSharp target only, and use it
#   2. check-cuda: small config, fp32 on the GPU against fp32 on the CPU, bf16 against fp32 on the GPU
#   3. bench model, 8B shape bf16: prompt 128 (single-stream decode), 2048 and 8000 (TTFT); PyTorch eager on the same
#      shapes after the first; bench engine at 16, 64 and 256 concurrent, KV sized by --gpu-memory-utilization
#   OUT=/some/dir ops/gpu/run.sh               on the GPU host
#   DRY_RUN=1 OUT=/tmp/out ops/gpu/run.sh      here: the same steps on the CPU (tiny config, libtorch CPU from the
#                                              NuGet cache), check-cuda with --device cpu, no PyTorch eager
set -uo pipefail
START=$(date +%s)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${OUT:-$ROOT/artifacts/gpu-out}"
BUDGET_S="${BUDGET_S:-510}"
DRY="${DRY_RUN:-0}"
DEADLINE=$((START + BUDGET_S))
PACK="$ROOT/artifacts/gpu"
mkdir -p "$OUT"
LOG="$OUT/log.txt" RES="$OUT/results.jsonl" ENV="$OUT/env.txt" SUM="$OUT/summary.txt"
: > "$LOG"; : > "$RES"; : > "$ENV"
log() { echo "[$(( $(date +%s) - START ))s] $*" | tee -a "$LOG" >&2; }
left() { echo $(( DEADLINE - $(date +%s) )); }
SMI=""
cleanup() { [ -n "$SMI" ] && kill "$SMI" 2>/dev/null; }
trap cleanup EXIT

# What travelled (the device call's limit is 64 MiB: tree + carried paths).
log "budget ${BUDGET_S}s; carried: $(du -sb "$PACK" 2>/dev/null | awk '{printf "%.1f MiB", $1/1048576}') in artifacts/gpu ($(ls "$PACK" 2>/dev/null | tr '\n' ' '))"
APP=/tmp/sealion-gpu
rm -rf "$APP" && mkdir -p "$APP"
if ! tar -C "$APP" -xJf "$PACK/sealion-gpu.tar.xz"; then log "no bundle: run ops/gpu/pack.sh and carry artifacts/gpu"; exit 1; fi
BIN="$APP/sealion-bench/sealion-bench"

if [ "$DRY" = "1" ]; then
  TORCH_LIB="${TORCH_LIB:-$HOME/.nuget/packages/libtorch-cpu-linux-x64/2.10.0/runtimes/linux-x64/native}"
  [ -d "$TORCH_LIB" ] || TORCH_LIB="$ROOT/artifacts/cli"
  DEVICE=cpu; CONFIG=tiny; CHECK_CONFIG=tiny; DTYPE=fp32; LENS="128 256"; LEVELS="1 4"; GEN=16; KV="--kv-cache-mb 256"; MAXSEQS=8
else
  TORCH_LIB="$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
  DEVICE=cuda; CONFIG=llama3-8b; CHECK_CONFIG=small; DTYPE=bf16; LENS="128 2048 8000"; LEVELS="16 64 256"; GEN=128
  KV="--gpu-memory-utilization 0.9"; MAXSEQS=256
  { nvidia-smi; python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0)); print("cmake prefix", torch.utils.cmake_prefix_path)'; } >> "$ENV" 2>&1
  nvidia-smi --query-gpu=timestamp,memory.used,memory.total,utilization.gpu --format=csv -lms 500 > "$OUT/gpu-memory.csv" 2>&1 &
  SMI=$!
fi
export LD_LIBRARY_PATH="$TORCH_LIB:$APP/sealion-bench:${LD_LIBRARY_PATH:-}"
export SEALION_LIBTORCH_DIR="$TORCH_LIB"   # sealion-bench loads libtorch_cuda.so from here before TorchSharp looks for CUDA
export DOTNET_gcServer=0 DOTNET_CLI_TELEMETRY_OPTOUT=1
echo "torch lib: $TORCH_LIB" >> "$ENV"

STEP_OUT=/tmp/sealion-gpu-step.out STEP_ERR=/tmp/sealion-gpu-step.err   # outside $OUT: only 8 files come back
# step NAME CAP_S CMD...: runs CMD within min(CAP_S, what the budget leaves minus 20 s for the summary); its stdout
# (the verb's JSON) becomes one line of results.jsonl, its stderr goes to log.txt.
step() {
  local name=$1 cap=$2; shift 2
  local t=$(( $(left) - 20 )); [ "$t" -gt "$cap" ] && t=$cap
  if [ "$t" -lt 15 ]; then log "$name: skipped, ${t}s left in the budget"; echo "{\"step\": \"$name\", \"rc\": null, \"skipped\": \"budget\"}" >> "$RES"; return 99; fi
  log "$name (timeout ${t}s): $*"
  local s=$(date +%s) rc
  timeout -k 5 "$t" "$@" > "$STEP_OUT" 2> "$STEP_ERR"; rc=$?
  # The exception's message is at the head of stderr, its native frames after it: keep both ends.
  if [ "$(stat -c %s "$STEP_ERR")" -gt 5000 ]; then { head -c 2000 "$STEP_ERR"; echo; echo "[...]"; tail -c 3000 "$STEP_ERR"; } >> "$LOG"
  else cat "$STEP_ERR" >> "$LOG"; fi
  python3 - "$name" "$rc" "$(( $(date +%s) - s ))" "$STEP_OUT" >> "$RES" <<'PY'
import json, sys
name, rc, secs, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
text = open(path).read().strip()
try: result = json.loads(text.splitlines()[-1]) if text else None
except ValueError: result = None
print(json.dumps({"step": name, "rc": rc, "seconds": secs, "result": result, **({} if result is not None else {"stdout_tail": text[-2000:]})}))
PY
  log "$name: rc=$rc in $(( $(date +%s) - s ))s"
  return $rc
}

# 1. The native layer. ldd -r lists the symbols libLibTorchSharp.so (built for libtorch 2.10) finds nowhere.
ldd -r "$APP/sealion-bench/libLibTorchSharp.so" > "$OUT/ldd.txt" 2>&1
UNDEF=$(grep -c "undefined symbol" "$OUT/ldd.txt")
NOTFOUND=$(grep -c "=> not found" "$OUT/ldd.txt")
log "prebuilt libLibTorchSharp.so against $TORCH_LIB: $UNDEF undefined symbols, $NOTFOUND libraries not found"
echo "prebuilt libLibTorchSharp.so: $UNDEF undefined symbols, $NOTFOUND libraries not found" >> "$ENV"
BUILT=0
build_native() {
  local src=/tmp/libtorchsharp bld=/tmp/libtorchsharp-build blog="$OUT/libtorchsharp-build.txt"
  if [ ! -f "$PACK/libtorchsharp-src.tar.xz" ]; then log "native build: no artifacts/gpu/libtorchsharp-src.tar.xz"; return 1; fi
  rm -rf "$src" "$bld" && mkdir -p "$src" && tar -C "$src" -xJf "$PACK/libtorchsharp-src.tar.xz" --strip-components=1
  for p in "$ROOT"/ops/gpu/libtorchsharp-patches/*.patch; do
    [ -f "$p" ] && { echo "== patch $(basename "$p")"; patch -d "$src" -p1 < "$p"; } >> "$blog" 2>&1
  done
  local prefix cuda_root=""
  prefix="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>> "$blog")" || { log "native build: no torch in python3"; return 1; }
  [ -d /usr/local/cuda ] && cuda_root="-DCUDAToolkit_ROOT=/usr/local/cuda"
  local t=$(( $(left) - 150 )); [ "$t" -gt 300 ] && t=300   # keep >= 150 s for the check and the decode benchmark
  if [ "$t" -lt 60 ]; then log "native build: skipped, ${t}s left"; return 1; fi
  log "native build: cmake + ninja -j16 LibTorchSharp against $prefix (timeout ${t}s)"
  local s=$(date +%s)
  # -O2 rather than Release's -O3: the layer is glue around libtorch calls and the build must fit the budget.
  timeout -k 5 "$t" bash -c "cmake -S '$src/src/Native' -B '$bld' -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE='-O2 -DNDEBUG' \
      -DCMAKE_C_FLAGS_RELEASE='-O2 -DNDEBUG' -DCMAKE_PREFIX_PATH='$prefix' -DLIBTORCH_PATH='$prefix/Torch' $cuda_root \
    && ninja -C '$bld' -j16 LibTorchSharp" >> "$blog" 2>&1
  local rc=$?
  log "native build: rc=$rc in $(( $(date +%s) - s ))s (libtorchsharp-build.txt)"
  local so; so=$(find "$bld" -name libLibTorchSharp.so -type f 2>/dev/null | head -1)
  if [ "$rc" -ne 0 ] || [ -z "$so" ]; then grep -E "error|Error|CMake Error" "$blog" | head -20 >> "$LOG"; return 1; fi
  cp "$APP/sealion-bench/libLibTorchSharp.so" "$APP/libLibTorchSharp.prebuilt.so"
  cp "$so" "$APP/sealion-bench/libLibTorchSharp.so"
  { echo "== ldd -r of the built library"; ldd -r "$APP/sealion-bench/libLibTorchSharp.so"; } >> "$blog" 2>&1
  echo "libLibTorchSharp.so: built here from TorchSharp's sources against $prefix" >> "$ENV"
  BUILT=1
}
if [ "$UNDEF" -gt 0 ] || [ "$NOTFOUND" -gt 0 ] || [ "${FORCE_NATIVE_BUILD:-0}" = "1" ]; then build_native; fi

# 2. Correctness first: a failure here makes the numbers below meaningless, and it is the cheapest step.
step check-cuda 150 "$BIN" check-cuda --device $DEVICE --config $CHECK_CONFIG --seed 1
rc=$?
# The prebuilt library resolved every symbol but still failed to load or run: build and try once more.
if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ] && [ "$rc" -ne 99 ] && [ "$BUILT" = "0" ] && [ "$DRY" != "1" ] \
   && grep -qE "TypeInitialization|DllNotFound|EntryPointNotFound|undefined symbol" "$STEP_ERR"; then
  log "check-cuda failed in the native layer: building LibTorchSharp"
  build_native && step check-cuda-rebuilt 150 "$BIN" check-cuda --device $DEVICE --config $CHECK_CONFIG --seed 1
fi

# 3. The 8B shape, bf16, weights drawn on the GPU. Single-stream decode first (the headline), then PyTorch eager
# (its reference), then time to first token at the long prompts, then the engine.
set -- $LENS
step "model-prompt$1" 120 "$BIN" model --random-config $CONFIG --seed 1 --device $DEVICE --dtype $DTYPE --tp 1 --prompt-len "$1" --gen-len $GEN --repeats 2
if [ "$DRY" != "1" ]; then
  step torch-eager 150 env PYTHONUNBUFFERED=1 python3 "$ROOT/ops/gpu/torch_eager_bench.py" --lens $LENS --batches $LEVELS --gen $GEN
fi
shift
for len in "$@"; do
  step "model-prompt$len" 90 "$BIN" model --random-config $CONFIG --seed 1 --device $DEVICE --dtype $DTYPE --tp 1 --prompt-len "$len" --gen-len 16 --repeats 2
done
for c in $LEVELS; do
  step "engine-c$c" 120 "$BIN" engine --random-config $CONFIG --seed 1 --device $DEVICE --dtype $DTYPE --tp 1 --concurrency "$c" \
    --gen-len $GEN --prompt-len 128 --requests-per-level 2 --max-seqs $MAXSEQS $KV
done
cleanup; SMI=""

# 4. The goals of the issue, with ratios where both sides were measured.
python3 - "$RES" "$OUT/gpu-memory.csv" "$DRY" > "$SUM" 2>&1 <<'PY'
import csv, json, sys
res, mem, dry = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
steps = {}
for line in open(res):
    try: s = json.loads(line)
    except ValueError: continue
    steps[s["step"]] = s
def result(name): return (steps.get(name) or {}).get("result") or {}
ROOFLINE = 4.8e12 / 16.06e9    # H200: 4.8 TB/s of HBM over the 16.06 GB of Llama 3 8B bf16 weights, ~299 tokens/s
out = []
def say(k, v, goal=""): out.append(f"{k:<44} {v}{'   (' + goal + ')' if goal else ''}")
chk = [steps.get(n) for n in ("check-cuda-rebuilt", "check-cuda") if steps.get(n)]
if chk:
    c = chk[0]; r = c.get("result") or {}
    say("check-cuda", f"{'PASSED' if r.get('passed') else 'FAILED'} (rc={c['rc']})")
    for x in r.get("checks", []):
        say("  " + x["name"], f"exact argmax {x['exact_argmax']}/{x['generated']}, within ties {x['within_tie_slack']}, "
            f"max rel diff {x['max_rel_logit_diff']:.2e}, rms diff {x['rms_logit_diff']:.2e}, {'ok' if x['passed'] else 'FAIL'}")
eager = result("torch-eager")
lens = sorted(int(n[len("model-prompt"):]) for n in steps if n.startswith("model-prompt"))
if lens:
    d = result(f"model-prompt{lens[0]}").get("decode_tok_s")
    if d:
        say("single-stream decode tok/s", d)
        if not dry: say("  vs roofline (~299 tok/s on an H200)", f"{d / ROOFLINE:.2f}", "goal >= 0.80")
        if eager.get("single_stream_decode_tok_s"):
            say("  vs PyTorch eager " + str(eager["single_stream_decode_tok_s"]), f"{d / eager['single_stream_decode_tok_s']:.2f}x", "goal >= 1.5x")
    for n in lens:
        p = result(f"model-prompt{n}").get("prefill_tok_s")
        if not p: say(f"TTFT {n}-token prompt", f"not measured (rc={steps[f'model-prompt{n}']['rc']})"); continue
        ms = n / p * 1000
        e = (eager.get("ttft_ms") or {}).get(str(n))
        say(f"TTFT {n}-token prompt (ms)", f"{ms:.1f}" + (f", PyTorch eager {e} ms ({e / ms:.2f}x)" if e else ""), "goal < 60 ms" if n == 2048 else "")
for n in sorted((k for k in steps if k.startswith("engine-c")), key=lambda k: int(k[8:])):
    r = result(n)
    sw = (r.get("sweep") or [{}])[0]
    if not sw: say(f"engine {n[8:]} concurrent", f"not measured (rc={steps[n]['rc']})"); continue
    e = (eager.get("batched_decode_tok_s") or {}).get(n[8:])
    say(f"engine {n[8:]} concurrent: output tok/s", f"{sw['output_tok_s']} (TTFT p50 {sw['ttft_p50_ms']} ms, ITL p50 {sw['itl_p50_ms']} ms, "
        f"KV blocks {r.get('kv_blocks')} by {r.get('kv_sized_by')})" + (f"; PyTorch eager batched decode {e} ({sw['output_tok_s'] / e:.2f}x)" if e else ""))
if eager.get("peak_memory_gib"): say("PyTorch eager peak memory (GiB)", eager["peak_memory_gib"])
try:
    used = [float(r[1].split()[0]) for r in csv.reader(open(mem)) if len(r) > 2 and r[1].strip().split()[0].replace('.', '').isdigit()]
    if used: say("GPU memory used, max over the run (MiB)", f"{max(used):.0f}")
except OSError: pass
skipped = [k for k, s in steps.items() if s.get("skipped")]
if skipped: say("skipped for the budget", ", ".join(skipped))
print("\n".join(out))
PY
cat "$SUM" | tee -a "$LOG"
log "done in $(( $(date +%s) - START ))s; files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
