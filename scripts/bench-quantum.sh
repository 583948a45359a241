#!/usr/bin/env bash
# The quantum simulator's performance targets (P1 RX vs a streaming pass at n=24, P2 per-gate cost
# at n=4, P3 VQC forward+gradient at n=8, L=4, batch 64), all single-threaded, as ratios against
# Python peers (qulacs, PennyLane default.qubit/lightning.qubit, Qiskit Aer, numpy) measured in the
# same run. Prints a Markdown table and writes it to results/bench/quantum-<UTC>.md, with the raw
# JSON in results/bench/quantum-<UTC>/.
#
# The peers run from a virtualenv outside the repository: $ACCEL_PEERS_PYTHON, else
# ../venv-peers/bin/python next to the repository. The peer scripts live in $ACCEL_PEERS_DIR, else
# ../shared/bench/peers. About 40 s of peers plus our build and run.
#
# Options:
#   --ours-json FILE   use this `qsim bench --json` output instead of building and running qsim
#   --peers-from DIR   reuse DIR/statevector.json and DIR/vqc.json (e.g. an earlier raw directory)
#                      instead of running the peers; the table then says they are not the same run
#   --out-dir DIR      where the table and raw JSON go (default results/bench)
set -euo pipefail
self="${BASH_SOURCE[0]}"
caller="$PWD"
abs() { if [[ "$1" = /* ]]; then echo "$1"; else echo "$caller/$1"; fi; }

ours_json="" peers_from="" out_dir="results/bench"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --ours-json) ours_json="$(abs "${2:?--ours-json needs a file}")"; shift 2 ;;
        --peers-from) peers_from="$(abs "${2:?--peers-from needs a directory}")"; shift 2 ;;
        --out-dir) out_dir="$(abs "${2:?--out-dir needs a directory}")"; shift 2 ;;
        -h|--help) sed -n '2,16p' "$self" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-quantum: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
cd "$(dirname "$self")/.."

parent="$(cd .. && pwd)"
peers_dir="${ACCEL_PEERS_DIR:-$parent/shared/bench/peers}"
venv="$parent/venv-peers"
loadavg() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a; }
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/accel-bench-quantum.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
notes=()

# --- the peers' Python ---------------------------------------------------------------------------
peers_py=""
if [[ -z "$peers_from" ]]; then
    if [[ -n "${ACCEL_PEERS_PYTHON:-}" ]]; then
        peers_py="$ACCEL_PEERS_PYTHON"
        [[ -x "$peers_py" ]] || {
            echo "bench-quantum: ACCEL_PEERS_PYTHON=$peers_py is not an executable" >&2; exit 1; }
    elif [[ -x "$venv/bin/python" ]]; then
        peers_py="$venv/bin/python"
    else
        make="python3 -m venv $venv && $venv/bin/pip install -r $peers_dir/requirements.txt"
        echo "bench-quantum: no peers Python (set ACCEL_PEERS_PYTHON or create the venv): $make" >&2
        exit 1
    fi
    [[ -f "$peers_dir/bench_statevector.py" && -f "$peers_dir/bench_vqc_grad.py" ]] || {
        echo "bench-quantum: no peer scripts in $peers_dir (set ACCEL_PEERS_DIR)" >&2; exit 1; }
    "$peers_py" -c 'import numpy, qulacs, pennylane_lightning, qiskit_aer, torch' 2>/dev/null || {
        echo "bench-quantum: $peers_py lacks the peer packages:" \
            "$peers_py -m pip install -r $peers_dir/requirements.txt" >&2; exit 1; }
fi

# --- ours ----------------------------------------------------------------------------------------
ours_load="$(loadavg)"
if [[ -n "$ours_json" ]]; then
    cp "$ours_json" "$tmp/ours.json"
    notes+=(--note "ours: read from $ours_json (qsim not run by this script)")
else
    echo "== ours: qsim bench --json (load $ours_load)" >&2
    t0=$SECONDS
    RAYON_NUM_THREADS=1 cargo run --release -q -p accel-core --bin qsim -- bench --json \
        > "$tmp/ours.json" || { echo "bench-quantum: qsim bench --json failed" >&2; exit 1; }
    notes+=(--note "ours: build + run $((SECONDS - t0)) s")
fi

# --- peers, single-threaded ----------------------------------------------------------------------
if [[ -n "$peers_from" ]]; then
    cp "$peers_from/statevector.json" "$tmp/statevector.json"
    cp "$peers_from/vqc.json" "$tmp/vqc.json"
    notes+=(--note "peers: reused from $peers_from, NOT measured in the same run as ours")
else
    echo "== peers: state vector, RX at n=4 and n=24 + numpy pass, 1 thread (load $(loadavg))" >&2
    t0=$SECONDS
    "$peers_py" "$peers_dir/bench_statevector.py" --threads 1 --qubits 4,24 --ops rx \
        --backends qulacs,lightning,aer,numpy_ref --out "$tmp/statevector.json" >&2
    echo "== peers: VQC forward+gradient, n=8, L=4, batch 64, 1 thread (load $(loadavg))" >&2
    "$peers_py" "$peers_dir/bench_vqc_grad.py" --threads 1 --qubits 8 --layers 4 --batch 64 \
        --out "$tmp/vqc.json" >&2
    notes+=(--note "peers: $((SECONDS - t0)) s")
fi

# --- table ---------------------------------------------------------------------------------------
mkdir -p "$out_dir/quantum-$stamp"
cp "$tmp/ours.json" "$tmp/statevector.json" "$tmp/vqc.json" "$out_dir/quantum-$stamp/"
notes+=(--note "raw JSON: $out_dir/quantum-$stamp/")
"${peers_py:-python3}" scripts/bench_quantum_table.py --ours "$tmp/ours.json" \
    --statevector "$tmp/statevector.json" --vqc "$tmp/vqc.json" --ours-loadavg "$ours_load" \
    --stamp "$stamp" --out "$out_dir/quantum-$stamp.md" "${notes[@]}"
