#!/usr/bin/env bash
# The fault-survival tests of the suite, run on their own with their figures printed: a silo SIGKILLed early and late
# in long streams, redis-server SIGKILLed and restarted under 32 conversations, a silo and Redis lost together, and
# a gateway SIGKILLed under 32 SDK streams with two gateways. Each starts its own redis-server, silos and gateways
# on free loopback ports. For the larger silo-kill run (48 streams of 6,000 tokens) see ops/faults/silo-kill.sh.
#
#   ops/faults/run.sh [extra dotnet test arguments]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
command -v redis-server >/dev/null 2>&1 || { echo "faults: redis-server is required (apt-get install -y redis-server)" >&2; exit 1; }
dotnet build tests/SeaLion.Cluster.Tests -c Release --nologo -v q >/dev/null
dotnet test tests/SeaLion.Cluster.Tests -c Release --no-build --nologo --logger 'console;verbosity=detailed' \
  --filter 'FullyQualifiedName~Failover|FullyQualifiedName~StoreOutage|FullyQualifiedName~SiloAndStore|FullyQualifiedName~GatewayLoss' "$@" \
  | grep -E '^\s*(Passed|Failed) |kill at|longest pause|"Streams"|Passed!|Failed!|Error Message' || true
