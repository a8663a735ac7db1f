#!/usr/bin/env bash
# Packs what a GPU host without .NET needs to run the SeaLion benchmarks: a self-contained publish of the CLI
# (the .NET runtime included) without libtorch's CPU libraries, which the host's CUDA libtorch replaces.
# Output: artifacts/gpu/sealion-gpu.tar.gz (must stay under the 64 MiB a device run may carry).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$ROOT/artifacts/gpu"
rm -rf "$OUT/sealion" && mkdir -p "$OUT"
dotnet publish "$ROOT/silos/SeaLion.Cli/SeaLion.Cli.csproj" -c Release -r linux-x64 --self-contained true \
  -p:PublishReadyToRun=false -o "$OUT/sealion" --nologo -v q
# libtorch CPU natives: replaced on the host by torch/lib of its PyTorch install (LD_LIBRARY_PATH).
( cd "$OUT/sealion" && rm -f libtorch*.so libc10*.so libgomp*.so* libshm.so libbackend_with_compiler.so \
    libjitbackend_test.so libnnapi_backend.so libaoti_custom_ops.so libtorchbind_test.so )
tar -C "$OUT" -czf "$OUT/sealion-gpu.tar.gz" sealion
ls -l "$OUT/sealion-gpu.tar.gz" | awk '{printf "packed %s: %.1f MiB\n", $9, $5/1048576}'
