#!/usr/bin/env bash
# The REST and gRPC fuzzers of the test suite (tests/SeaLion.Gateway.Tests/Fuzzing) at full size, against the
# all-in-one host with the simulated engine: N cases per API (default 10,000) from one seed, the figures printed
# (cases, status counts per endpoint and method, the slowest cases, every failure with the line that replays it)
# and kept under artifacts/fuzz/. Exits non-zero when a case got a 5xx, INTERNAL, UNKNOWN or DATA_LOSS, a refusal
# without a message, no answer, or when the good request between blocks of 1,000 cases was no longer served as
# before. docs/hardening.md has the figures of a run.
#
#   ops/fuzz.sh [cases] [seed]           e.g. ops/fuzz.sh 10000 20261216
#   SEALION_FUZZ_ONLY=rest:152,grpc:385 ops/fuzz.sh 0 20261216    replay single cases, printing each request and answer
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export SEALION_FUZZ_CASES="${1:-10000}"
export SEALION_FUZZ_SEED="${2:-20261216}"
export SEALION_FUZZ_REPORT="$ROOT/artifacts/fuzz"
rm -f "$SEALION_FUZZ_REPORT"/rest-"$SEALION_FUZZ_SEED".txt "$SEALION_FUZZ_REPORT"/grpc-"$SEALION_FUZZ_SEED".txt
dotnet build tests/SeaLion.Gateway.Tests -c Release --nologo -v q >/dev/null
status=0
dotnet test tests/SeaLion.Gateway.Tests -c Release --no-build --nologo --filter 'FullyQualifiedName~SeaLion.Gateway.Tests.Fuzzing.FuzzTests' \
  | grep -E '^\s*(Passed|Failed) |Passed!|Failed!' || status=1
for api in rest grpc; do
  f="$SEALION_FUZZ_REPORT/$api-$SEALION_FUZZ_SEED.txt"
  if [ -f "$f" ]; then echo; cat "$f"; else echo "fuzz: no $api report (the run failed before it ended; see above)"; status=1; fi
done
exit "$status"
