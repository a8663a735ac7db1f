#!/usr/bin/env bash
# Load check: an all-in-one server on the simulated H100 engine (keyless, loopback), then `sealion bench load`
# holding N concurrent streams against it through the client SDK for a duration. Prints the JSON report (errors,
# tokens/s, server memory before / after / after settling) and stops the server. Exit 1 if any request failed.
#
#   ops/load.sh [--streams 500] [--duration-s 180] [--gen-len 128] [--prompt-len 64] [--settle-s 15] [--warmup-s 20]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STREAMS=500 DURATION=180 GEN=128 PROMPT=64 SETTLE=15 WARMUP=20 GRPC=50071 HTTP=8071
while [ $# -gt 0 ]; do
  case "$1" in
    --streams) STREAMS="$2"; shift 2 ;;
    --duration-s) DURATION="$2"; shift 2 ;;
    --gen-len) GEN="$2"; shift 2 ;;
    --prompt-len) PROMPT="$2"; shift 2 ;;
    --settle-s) SETTLE="$2"; shift 2 ;;
    --warmup-s) WARMUP="$2"; shift 2 ;;
    *) echo "load: unknown option '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
done
"$ROOT/sealion" help >/dev/null   # builds the CLI when sources changed
mkdir -p "$ROOT/artifacts/load"
dotnet "$ROOT/artifacts/cli/sealion.dll" serve --engine sim --no-auth --grpc-port "$GRPC" --http-port "$HTTP" >"$ROOT/artifacts/load/server.log" 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$HTTP/healthz" >/dev/null 2>&1 && break; sleep 0.5; done
curl -fs "http://127.0.0.1:$HTTP/healthz" >/dev/null || { echo "load: the server did not become healthy; see artifacts/load/server.log" >&2; exit 1; }
dotnet "$ROOT/artifacts/cli/sealion.dll" bench load --address "http://127.0.0.1:$GRPC" --metrics-url "http://127.0.0.1:$HTTP/metrics" \
  --streams "$STREAMS" --duration-s "$DURATION" --gen-len "$GEN" --prompt-len "$PROMPT" --settle-s "$SETTLE" --warmup-s "$WARMUP"
