#!/usr/bin/env bash
# Packs what a GPU host without .NET needs for the benchmark and the correctness check of issue 18 into
# artifacts/gpu/, the one ignored folder a device call carries (ops/gpu/README.md):
#   sealion-gpu.tar.xz         sealion-bench (silos/SeaLion.GpuBench: the model, the engine and the verbs model, engine,
#                              check-cuda), self-contained with the .NET runtime trimmed (partial: the framework only),
#                              without libtorch's CPU libraries, which the host's CUDA libtorch (torch/lib) replaces
#   libtorchsharp-src.tar.xz   TorchSharp's native layer (src/Native) at the commit of the 0.107.0 release, which
#                              run.sh builds against the host's libtorch when the prebuilt libLibTorchSharp.so (libtorch
#                              2.10) does not link against it
# and prints what a device call will carry in all: at most 64 MiB together with the tracked tree.
#   TORCHSHARP_GIT=DIR   a git directory holding TorchSharp (default: the `fetch github:dotnet/TorchSharp` mirror)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$ROOT/artifacts/gpu"
STAGE="$ROOT/artifacts/gpu-stage"
# TorchSharp has no v0.107.0 tag in its repository: this is the commit whose build/BranchInfo.props says 0.107.0 and
# whose RELEASENOTES.md opens with 0.107.0 ("Update release notes (#1565)", 2026-05-07 09:44 UTC); the NuGet
# package's files are dated 20 minutes later the same day. Nothing in the package names a commit.
TORCHSHARP_COMMIT=c20b6a1cc574d690707638a488d2583f3b8b983f
TORCHSHARP_GIT="${TORCHSHARP_GIT:-/work/.mirror/dotnet+TorchSharp/repo}"
LIMIT=$((64 << 20))

rm -rf "$STAGE" "$OUT" && mkdir -p "$STAGE" "$OUT"
# EnableTrimAnalyzer=false: PublishTrimmed is a global property, so every referenced project would run the trim analyzer
# and its warnings are errors here; the framework-only (partial) trim keeps our code and TorchSharp whole anyway.
dotnet publish "$ROOT/silos/SeaLion.GpuBench/SeaLion.GpuBench.csproj" -c Release -r linux-x64 --self-contained true \
  -p:PublishTrimmed=true -p:EnableTrimAnalyzer=false -p:PublishReadyToRun=false -p:DebugType=none -p:DebugSymbols=false -o "$STAGE/sealion-bench" --nologo -v q
# libtorch CPU natives: replaced on the host by torch/lib of its PyTorch install (LD_LIBRARY_PATH, SEALION_LIBTORCH_DIR).
( cd "$STAGE/sealion-bench" && rm -f libtorch*.so libc10*.so libgomp*.so* libshm.so libbackend_with_compiler.so \
    libjitbackend_test.so libnnapi_backend.so libaoti_custom_ops.so libtorchbind_test.so *.pdb )
tar -C "$STAGE" -cf - sealion-bench | xz -9 -T2 > "$OUT/sealion-gpu.tar.xz"

if git --git-dir="$TORCHSHARP_GIT" cat-file -e "$TORCHSHARP_COMMIT^{commit}" 2>/dev/null; then
  git --git-dir="$TORCHSHARP_GIT" archive --format=tar --prefix=libtorchsharp-src/ "$TORCHSHARP_COMMIT" src/Native LICENSE.txt \
    | xz -9 > "$OUT/libtorchsharp-src.tar.xz"
else
  echo "pack: TorchSharp $TORCHSHARP_COMMIT not found in $TORCHSHARP_GIT (fetch github:dotnet/TorchSharp, or set TORCHSHARP_GIT);" \
       "the GPU host can then only use the prebuilt libLibTorchSharp.so" >&2
fi
rm -rf "$STAGE"

# What a device call carries: the tracked tree, untracked files git does not ignore, and the carried artifacts/gpu.
tree=$(cd "$ROOT" && { git ls-files -z; git ls-files -z --others --exclude-standard; } | xargs -0 -r stat -c %s -- 2>/dev/null | awk '{s += $1} END {print s + 0}')
mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
total=$tree
for f in "$OUT"/*; do
  s=$(stat -c %s "$f"); total=$((total + s))
  echo "packed $(basename "$f"): $(mib "$s")"
done
echo "working tree (tracked + untracked, not ignored): $(mib "$tree")"
echo "total a device call carries (tree + artifacts/gpu): $(mib "$total") of 64 MiB"
if [ "$total" -gt "$LIMIT" ]; then echo "pack: over the 64 MiB a device call may carry" >&2; exit 1; fi
