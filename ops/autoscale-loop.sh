#!/usr/bin/env bash
# The silo autoscaling policy of ops/k8s/autoscaling/hpa (target 2 waiting requests per silo, scale-down stabilized
# 300 s, +2 / -1 pods a minute, 15 s sync) applied on loopback to a real multi-process cluster: redis-server, silo
# processes (simulated engines with a small KV cache, so load queues) and a gateway; load in phases through the SDK;
# scale-out starts a silo that joins, scale-in drains one with SIGTERM. JSON report on stdout, PNG with --plot.
#   ops/autoscale-loop.sh [--phases 4:60,48:300,4:600] [--time-scale 1] [--max-replicas 3] [--plot artifacts/autoscale.png]
# --time-scale N divides the policy's time windows by N (the suite's test uses 10).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command -v redis-server >/dev/null 2>&1 || { echo "autoscale: redis-server is required (apt-get install -y redis-server)" >&2; exit 1; }
"$ROOT/sealion" help >/dev/null   # builds the CLI when sources changed
exec dotnet "$ROOT/artifacts/cli/sealion.dll" bench autoscale "$@"
