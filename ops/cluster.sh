#!/usr/bin/env bash
# A multi-process SeaLion cluster on loopback: redis-server (membership and sessions), N silos and one gateway,
# each its own `sealion` process. Ctrl-C (or SIGTERM) stops them all cleanly: gateway first, then silos, then Redis.
# A process that dies on its own (a silo killed to test failover) is reported and the rest keep running; only
# Ctrl-C / SIGTERM stops the cluster. The process ids are in artifacts/cluster/pids (name pid, one a line).
#
#   ops/cluster.sh [--silos 3] [--engine sim|torch] [--model DIR] [--sim-time-scale S]
#                  [--grpc-port 50051] [--http-port 8080] [--redis-port 6380] [--api-keys FILE] [--fresh]
#
# Without --api-keys the gateway runs keyless (--no-auth: a development cluster, said at start-up).
#
# Silo i listens on 11111+i (silo), 30000+i (Orleans client gateway) and 9090+i (/healthz, /metrics).
# Logs go to artifacts/cluster/*.log. Defaults: 3 silos, simulated engines, the embedded default model.
# Redis persists to artifacts/cluster/redis/ (AOF, fsync every second: a Redis restart keeps the sessions
# stored up to a second before it died); --fresh starts from an empty store.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SILOS=3 ENGINE=sim MODEL="" SCALE=1 GRPC=50051 HTTP=8080 REDIS_PORT=6380 AUTH="--no-auth" FRESH=0
while [ $# -gt 0 ]; do
  case "$1" in
    --silos) SILOS="$2"; shift 2 ;;
    --engine) ENGINE="$2"; shift 2 ;;
    --model) MODEL="$2"; shift 2 ;;
    --sim-time-scale) SCALE="$2"; shift 2 ;;
    --grpc-port) GRPC="$2"; shift 2 ;;
    --http-port) HTTP="$2"; shift 2 ;;
    --redis-port) REDIS_PORT="$2"; shift 2 ;;
    --api-keys) AUTH="--api-keys $2"; shift 2 ;;
    --fresh) FRESH=1; shift ;;
    *) echo "cluster: unknown option '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
done
[[ "$SILOS" =~ ^[1-9][0-9]*$ ]] || { echo "cluster: --silos must be a positive integer, got '$SILOS'" >&2; exit 2; }

if ! command -v redis-server >/dev/null 2>&1; then
  echo "cluster: installing redis-server" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >/dev/null || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >/dev/null; }
fi
"$ROOT/sealion" help >/dev/null   # builds the CLI when sources changed

RUN="$ROOT/artifacts/cluster"; mkdir -p "$RUN"
MODEL_ARGS=(); [ -n "$MODEL" ] && MODEL_ARGS=(--model "$MODEL")
PIDS_SILOS=() PID_GATEWAY="" PID_REDIS=""

stop_all() {
  trap - INT TERM EXIT
  echo "cluster: stopping" >&2
  [ -n "$PID_GATEWAY" ] && kill -TERM "$PID_GATEWAY" 2>/dev/null && wait "$PID_GATEWAY" 2>/dev/null || true
  for p in "${PIDS_SILOS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS_SILOS[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "$PID_REDIS" ] && kill -TERM "$PID_REDIS" 2>/dev/null && wait "$PID_REDIS" 2>/dev/null || true
  echo "cluster: stopped" >&2
  exit 0
}
trap stop_all INT TERM EXIT

wait_http() {   # url, pid, name
  for _ in $(seq 1 600); do
    curl -fsS "$1" >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || { echo "cluster: $3 exited; see $RUN/$3.log" >&2; tail -20 "$RUN/$3.log" >&2; exit 1; }
    sleep 0.2
  done
  echo "cluster: $3 not healthy after 120 s; see $RUN/$3.log" >&2; exit 1
}

[ "$FRESH" = 1 ] && rm -rf "$RUN/redis"
mkdir -p "$RUN/redis"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$RUN/redis" --save "" --appendonly yes --appendfsync everysec \
  >"$RUN/redis.log" 2>&1 &
PID_REDIS=$!
for _ in $(seq 1 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
# A new membership table each run (silos of an earlier run are not waited for); sessions persist across runs.
CLUSTER_ID="sealion-$(date +%s)"
: >"$RUN/pids"; echo "redis $PID_REDIS" >>"$RUN/pids"

for i in $(seq 0 $((SILOS - 1))); do
  dotnet "$ROOT/artifacts/cli/sealion.dll" silo --redis "127.0.0.1:$REDIS_PORT" --cluster-id "$CLUSTER_ID" "${MODEL_ARGS[@]}" \
    --engine "$ENGINE" --sim-time-scale "$SCALE" --silo-port $((11111 + i)) --gateway-port $((30000 + i)) --http-port $((9090 + i)) \
    >"$RUN/silo$i.log" 2>&1 &
  PIDS_SILOS+=($!); echo "silo$i $!" >>"$RUN/pids"
done
for i in $(seq 0 $((SILOS - 1))); do wait_http "http://127.0.0.1:$((9090 + i))/healthz" "${PIDS_SILOS[$i]}" "silo$i"; done

dotnet "$ROOT/artifacts/cli/sealion.dll" gateway --redis "127.0.0.1:$REDIS_PORT" --cluster-id "$CLUSTER_ID" "${MODEL_ARGS[@]}" \
  --grpc-port "$GRPC" --http-port "$HTTP" $AUTH >"$RUN/gateway.log" 2>&1 &
PID_GATEWAY=$!; echo "gateway $PID_GATEWAY" >>"$RUN/pids"
wait_http "http://127.0.0.1:$HTTP/healthz" "$PID_GATEWAY" gateway

echo "cluster: $SILOS silos ($ENGINE engines) and a gateway are up — gRPC on 127.0.0.1:$GRPC, health http://127.0.0.1:$HTTP/healthz; logs in $RUN; Ctrl-C stops" >&2
# Supervise: report each process that exits on its own and keep the others running until Ctrl-C / SIGTERM.
declare -A NAMES=([$PID_GATEWAY]=gateway [$PID_REDIS]=redis)
for i in "${!PIDS_SILOS[@]}"; do NAMES[${PIDS_SILOS[$i]}]="silo$i"; done
ALIVE=("$PID_REDIS" "$PID_GATEWAY" "${PIDS_SILOS[@]}")
while [ ${#ALIVE[@]} -gt 0 ]; do
  rc=0; wait -n "${ALIVE[@]}" 2>/dev/null || rc=$?
  STILL=()
  for p in "${ALIVE[@]}"; do
    if kill -0 "$p" 2>/dev/null; then STILL+=("$p"); else echo "cluster: ${NAMES[$p]} (pid $p) exited (status $rc); the others keep running; see $RUN/${NAMES[$p]}.log" >&2; fi
  done
  ALIVE=("${STILL[@]}")
done
echo "cluster: every process has exited" >&2
