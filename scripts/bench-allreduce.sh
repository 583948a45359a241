#!/usr/bin/env bash
# MPI allreduce bandwidth with 2 processes: accel_core::dist::MpiComm (blocking, and the 25 MB
# non-blocking buckets the trainer posts) against a raw MPI_Allreduce loop on the same buffers,
# in the same job (crates/core/examples/allreduce_bw.rs). The issue's target: >= 0.9x the raw
# loop's bandwidth at 100 MB. Needs Open MPI (apt-get install libopenmpi-dev openmpi-bin
# libclang-dev); writes results/bench/allreduce-<UTC>.txt.
#
# Options:
#   --mb N        message size in MB (default 100)
#   --rounds N    timed rounds after one warm-up (default 5)
#   --np N        processes (default 2)
set -euo pipefail
self="${BASH_SOURCE[0]}"
mb=100 rounds=5 np=2
while [[ $# -gt 0 ]]; do
    case "$1" in
        --mb) mb="${2:?--mb needs a size}"; shift 2 ;;
        --rounds) rounds="${2:?--rounds needs a count}"; shift 2 ;;
        --np) np="${2:?--np needs a count}"; shift 2 ;;
        -h|--help) sed -n '2,11p' "$self" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-allreduce: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
cd "$(dirname "$self")/.."
command -v mpirun >/dev/null 2>&1 || {
    echo "bench-allreduce: mpirun not found; install Open MPI (apt-get install libopenmpi-dev openmpi-bin libclang-dev)" >&2
    exit 1
}
cargo build -q --release -p accel-core --features mpi --example allreduce_bw
run=(mpirun --oversubscribe -np "$np")
[ "$(id -u)" -eq 0 ] && run=(mpirun --allow-run-as-root --oversubscribe -np "$np")
mkdir -p results/bench
out="results/bench/allreduce-$(date -u +%Y%m%d-%H%M%S).txt"
"${run[@]}" target/release/examples/allreduce_bw "$mb" "$rounds" | tee "$out"
echo "bench-allreduce: wrote $out"
