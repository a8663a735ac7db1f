#!/usr/bin/env bash
# The GPU benchmark of issue 7, as one script for a GPU host that has PyTorch (with CUDA) but no .NET.
# Needs artifacts/gpu/sealion-gpu.tar.gz (ops/gpu/pack.sh) next to the repo files. Writes JSON and logs to $OUT.
#   OUT=/tmp/out ops/gpu/run.sh                 on the GPU host: Llama 3 8B shape, bf16, random weights drawn on the GPU
#   DRY_RUN=1 OUT=/tmp/out ops/gpu/run.sh       here: same steps on the CPU with the tiny config and the repo's own libtorch
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${OUT:-$ROOT/artifacts/gpu/out}"
mkdir -p "$OUT"
APP=/tmp/sealion-gpu
rm -rf "$APP" && mkdir -p "$APP" && tar -C "$APP" -xzf "$ROOT/artifacts/gpu/sealion-gpu.tar.gz"
BIN="$APP/sealion/sealion"

if [ "${DRY_RUN:-0}" = "1" ]; then
  TORCH_LIB="$ROOT/artifacts/cli"; DEVICE=cpu; CONFIG=tiny; DTYPE=fp32; LENS="128 256"; LEVELS="1,4"; GEN=16; KV_MB=256
else
  TORCH_LIB="$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
  DEVICE=cuda; CONFIG=llama3-8b; DTYPE=bf16; LENS="128 2048 8000"; LEVELS="16,64"; GEN=128; KV_MB=40000
  nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
  python3 -c 'import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0))' > "$OUT/torch-version.txt" 2>&1
  # GPU memory in use, sampled every 0.5 s for the whole run.
  nvidia-smi --query-gpu=timestamp,memory.used,memory.total,utilization.gpu --format=csv -lms 500 > "$OUT/gpu-memory.csv" 2>&1 &
  SMI=$!
fi
export LD_LIBRARY_PATH="$TORCH_LIB:$APP/sealion:${LD_LIBRARY_PATH:-}"
export SEALION_LIBTORCH_DIR="$TORCH_LIB"
echo "torch lib: $TORCH_LIB" > "$OUT/env.txt"

# Does TorchSharp's native layer (built for libtorch 2.10) link against this libtorch? List what is missing.
ldd -r "$APP/sealion/libLibTorchSharp.so" > "$OUT/ldd.txt" 2>&1
grep -c "undefined symbol" "$OUT/ldd.txt" > "$OUT/undefined-symbol-count.txt" || true

run() { local name=$1; shift; echo "== $name: $*" >> "$OUT/log.txt"; timeout 300 "$BIN" "$@" > "$OUT/$name.json" 2>> "$OUT/log.txt"; echo "rc=$?" >> "$OUT/log.txt"; }
# Single-stream decode and, per prompt length, time to first token (= prefill of the whole prompt).
for len in $LENS; do
  run "model-prompt$len" bench model --random-config $CONFIG --seed 1 --device $DEVICE --dtype $DTYPE --tp 1 --prompt-len "$len" --gen-len $GEN --repeats 2
done
# Aggregate throughput through the engine at 16 and 64 concurrent sequences.
run engine bench engine --random-config $CONFIG --seed 1 --device $DEVICE --dtype $DTYPE --tp 1 --concurrency $LEVELS \
  --gen-len $GEN --prompt-len 128 --requests-per-level 2 --max-seqs 64 --kv-cache-mb $KV_MB
# KV cache sized from device memory (vLLM's gpu_memory_utilization): the JSON's kv_blocks, next to gpu-memory.csv.
if [ "${DRY_RUN:-0}" != "1" ]; then
  run engine-kv-by-utilization bench engine --random-config $CONFIG --seed 1 --device $DEVICE --dtype $DTYPE --tp 1 --concurrency 16 \
    --gen-len 32 --prompt-len 128 --requests-per-level 1 --gpu-memory-utilization 0.9
fi
# The same shapes in PyTorch eager: the reference a user would otherwise pick.
if [ "${DRY_RUN:-0}" != "1" ]; then
  timeout 300 python3 "$ROOT/ops/gpu/torch_eager_bench.py" --lens $LENS --batches 16 64 --gen $GEN > "$OUT/torch-eager.json" 2>> "$OUT/log.txt"
  kill $SMI 2>/dev/null
fi
cat "$OUT/log.txt"
