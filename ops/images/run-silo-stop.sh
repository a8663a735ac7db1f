#!/usr/bin/env bash
# Runs the images built by build-local.sh (buildah run, chroot isolation, host network, as user 10001): redis-server
# on the host, the CPU silo image (simulated engine) and the gateway image; holds N streams through the gateway,
# sends the silo's main process SIGTERM (what `docker stop` and Kubernetes send) a few seconds in, and reports
# whether every stream finished with all its tokens and how long the silo took to drain and exit (and its code).
#   ops/images/run-silo-stop.sh [--streams 8] [--gen-len 2500] [--stop-after-s 4]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STREAMS=8 GEN=2500 AFTER=4
while [ $# -gt 0 ]; do
  case "$1" in
    --streams) STREAMS="$2"; shift 2 ;; --gen-len) GEN="$2"; shift 2 ;; --stop-after-s) AFTER="$2"; shift 2 ;;
    *) echo "run-silo-stop: unknown option '$1'" >&2; exit 2 ;;
  esac
done
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
"$ROOT/sealion" help >/dev/null   # the bench client
free() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RP=$(free) SP=$(free) GWP=$(free) SH=$(free) GR=$(free) GH=$(free)
LOG="$ROOT/artifacts/images"; mkdir -p "$LOG"
redis-server --port "$RP" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes >/dev/null
S=$(buildah from localhost/sealion-silo-cpu:latest) G=$(buildah from localhost/sealion-gateway:latest)
cleanup() { pkill -TERM -f "sealion-gateway.dll --redis 127.0.0.1:$RP" 2>/dev/null || true; sleep 2; redis-cli -p "$RP" shutdown nosave >/dev/null 2>&1 || true; buildah rm "$S" "$G" >/dev/null 2>&1 || true; }
trap cleanup EXIT
rm -f "$LOG/silo-exit"
( rc=0; buildah run --user 10001:10001 "$S" -- dotnet /app/sealion.dll silo --redis "127.0.0.1:$RP" --cluster-id img --engine sim \
  --silo-port "$SP" --gateway-port "$GWP" --http-port "$SH" --drain-timeout-s 30 >"$LOG/silo-run.log" 2>&1 || rc=$?; echo "$rc" >"$LOG/silo-exit" ) &
SILO_RUN=$!
buildah run --user 10001:10001 "$G" -- dotnet /app/sealion-gateway.dll --redis "127.0.0.1:$RP" --cluster-id img \
  --grpc-port "$GR" --http-port "$GH" --no-auth >"$LOG/gateway-run.log" 2>&1 &
for _ in $(seq 1 240); do curl -fs "localhost:$SH/healthz" >/dev/null 2>&1 && curl -fs "localhost:$GH/healthz" >/dev/null 2>&1 && break; sleep 0.5; done
SILO=$(pgrep -f "^/usr/bin/dotnet /app/sealion.dll silo --redis 127.0.0.1:$RP")
dotnet "$ROOT/artifacts/cli/sealion.dll" bench failover --address "http://127.0.0.1:$GR" --streams "$STREAMS" --gen-len "$GEN" --mode generate --no-reference >"$LOG/streams.json" &
BENCH=$!
sleep "$AFTER"
T0=$(date +%s.%N); kill -TERM "$SILO"
while kill -0 "$SILO" 2>/dev/null; do sleep 0.1; done
T1=$(date +%s.%N)
rc=0; wait "$BENCH" || rc=$?
wait "$SILO_RUN" 2>/dev/null || true
echo "{\"silo_exit_after_sigterm_s\": $(echo "$T1 - $T0" | bc), \"silo_exit_code\": $(cat "$LOG/silo-exit"), \"streams\": $(cat "$LOG/streams.json"), \"bench_exit\": $rc}"
