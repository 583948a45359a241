#!/usr/bin/env bash
# The MPI backend of accel_core::dist across 2 processes. Installs Open MPI (and the libclang
# the `mpi` crate's bindings need) from Debian packages when mpirun is missing, builds the
# check with `--features mpi`, runs it on 2 ranks, and checks that a failing rank aborts the
# whole job instead of leaving the other blocked. Called by .ci/run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v mpirun >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    libopenmpi-dev openmpi-bin libclang-dev >/dev/null
fi
cargo build -q -p accel-core --features mpi --example dist_check
run=(mpirun --oversubscribe -np 2)
[ "$(id -u)" -eq 0 ] && run=(mpirun --allow-run-as-root --oversubscribe -np 2)
timeout 120 "${run[@]}" target/debug/examples/dist_check
set +e
timeout 120 "${run[@]}" target/debug/examples/dist_check fail-rank 1 >/tmp/accel-mpi-fail.log 2>&1
status=$?
set -e
if [ "$status" -eq 0 ]; then
  echo "test-mpi: a failing rank did not fail the job" >&2
  exit 1
fi
if [ "$status" -eq 124 ]; then
  echo "test-mpi: a failing rank left the job hanging" >&2
  exit 1
fi
grep -q "rank 1: .*asked to fail" /tmp/accel-mpi-fail.log || {
  echo "test-mpi: the failing rank's error was not printed:" >&2
  cat /tmp/accel-mpi-fail.log >&2
  exit 1
}
cargo build -q -p bert-mlperf --features mpi
out="$(mktemp -d)"
timeout 600 "${run[@]}" target/debug/bert-mlperf \
  --config experiments/bert-mlperf/configs/smoke.toml --set dist.backend='"mpi"' --out "$out" \
  >/tmp/accel-mpi-bert.log 2>&1 || {
  echo "test-mpi: bert-mlperf on 2 MPI ranks failed:" >&2
  cat /tmp/accel-mpi-bert.log >&2
  exit 1
}
summary="$(ls "$out"/bert-mlperf/*/summary.json)"
grep -q '"replicas_agree": true' "$summary" || {
  echo "test-mpi: the 2 MPI ranks ended with different weights ($summary)" >&2
  exit 1
}
grep -q '"backend": "mpi"' "$summary" || {
  echo "test-mpi: bert-mlperf did not run on the MPI backend ($summary)" >&2
  exit 1
}
rm -rf "$out"
echo "test-mpi: ok (2 ranks agree; a failing rank aborts the job with its error; bert-mlperf's replicas agree under MPI)"
