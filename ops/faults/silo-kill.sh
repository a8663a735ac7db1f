#!/usr/bin/env bash
# Fault survival, long form: a silo SIGKILLed under long streams. Starts ops/cluster.sh (redis + N silos on
# simulated engines + a gateway, on ports of its own), then runs `sealion bench failover` twice: chat sessions with
# a silo killed early (KILL_EARLY_S in), then stateless streams with another silo killed late (KILL_LATE_S in).
# Each run prints one JSON line (streams completed, token-exact against an uninterrupted rerun, sessions stored as
# received, next turns, the longest pause a client saw and the pauses at the kill). Stops the cluster at the end.
#
#   ops/faults/silo-kill.sh [--silos 3] [--streams 48] [--gen-len 6000] [--sim-time-scale 0.5] [--kill-early-s 4] [--kill-late-s 15]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SILOS=3 STREAMS=48 GEN=6000 SCALE=0.5 EARLY=4 LATE=15 GRPC=50161 HTTP=8191 REDIS=6393
while [ $# -gt 0 ]; do
  case "$1" in
    --silos) SILOS="$2"; shift 2 ;;
    --streams) STREAMS="$2"; shift 2 ;;
    --gen-len) GEN="$2"; shift 2 ;;
    --sim-time-scale) SCALE="$2"; shift 2 ;;
    --kill-early-s) EARLY="$2"; shift 2 ;;
    --kill-late-s) LATE="$2"; shift 2 ;;
    *) echo "silo-kill: unknown option '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
done
[ "$SILOS" -ge 3 ] || { echo "silo-kill: --silos must be at least 3 (two are killed)" >&2; exit 2; }
"$ROOT/ops/cluster.sh" --silos "$SILOS" --sim-time-scale "$SCALE" --grpc-port "$GRPC" --http-port "$HTTP" --redis-port "$REDIS" --fresh \
  >"$ROOT/artifacts/silo-kill-cluster.log" 2>&1 &
CLUSTER=$!
trap 'kill -TERM $CLUSTER 2>/dev/null; wait $CLUSTER 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 600); do grep -q "are up" "$ROOT/artifacts/silo-kill-cluster.log" 2>/dev/null && break; kill -0 $CLUSTER || { cat "$ROOT/artifacts/silo-kill-cluster.log"; exit 1; }; sleep 0.5; done
pid_of() { awk -v n="$1" '$1 == n { print $2 }' "$ROOT/artifacts/cluster/pids"; }
bench() { dotnet "$ROOT/artifacts/cli/sealion.dll" bench failover --address "http://127.0.0.1:$GRPC" --streams "$STREAMS" --gen-len "$GEN" "$@"; }
status=0
bench --mode chat --kill-pid "$(pid_of silo1)" --kill-after-s "$EARLY" || status=1
bench --mode generate --kill-pid "$(pid_of silo2)" --kill-after-s "$LATE" || status=1
curl -s "http://127.0.0.1:$HTTP/metrics" | grep -E '^sealion_stream_failover' || true
exit $status
