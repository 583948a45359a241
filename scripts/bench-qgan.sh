#!/usr/bin/env bash
# One training iteration of the PennyLane "Quantum GANs" demo's patch qGAN (4 sub-generators x 5
# qubits, 1 ancilla, depth 6, batch 1, SGD; UCI optdigits 0s): ours (qgan-bench: adjoint and
# parameter-shift gradients) against the demo's own set-up, PennyLane lightning.qubit with
# parameter-shift and PyTorch (scripts/bench_qgan_pennylane.py), in the same run, one thread each.
# Prints the medians and the ratio (peer ms / our ms; the issue's target is >= 50) and writes them
# to results/bench/qgan-<UTC>.md with the raw JSON beside it.
#
# The peer runs from a virtualenv outside the repository: $ACCEL_PEERS_PYTHON, else
# ../venv-peers/bin/python next to the repository (pennylane, pennylane-lightning, torch).
#
# Options:
#   --quick            10 peer iterations (default 30) and 100 of ours (default 300)
#   --out-dir DIR      where the table and raw JSON go (default results/bench)
set -euo pipefail
self="${BASH_SOURCE[0]}"
caller="$PWD"
abs() { if [[ "$1" = /* ]]; then echo "$1"; else echo "$caller/$1"; fi; }

peer_iters=30 our_iters=300 out_dir="results/bench"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) peer_iters=10 our_iters=100; shift ;;
        --out-dir) out_dir="$(abs "${2:?--out-dir needs a directory}")"; shift 2 ;;
        -h|--help) sed -n '2,14p' "$self" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-qgan: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
cd "$(dirname "$self")/.."

parent="$(cd .. && pwd)"
peers_py="${ACCEL_PEERS_PYTHON:-$parent/venv-peers/bin/python}"
[[ -x "$peers_py" ]] || {
    echo "bench-qgan: no peers Python at $peers_py; create it with:" \
         "python3 -m venv $parent/venv-peers && $parent/venv-peers/bin/pip install -r $parent/shared/bench/peers/requirements.txt" \
         "(or set ACCEL_PEERS_PYTHON)" >&2
    exit 1
}
"$peers_py" -c 'import pennylane, torch' 2>/dev/null || {
    echo "bench-qgan: $peers_py lacks pennylane/torch (pip install pennylane pennylane-lightning torch)" >&2
    exit 1
}
[[ -f data/optdigits/optdigits.tra ]] || scripts/fetch-data.sh >&2

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
raw="$out_dir/qgan-$stamp"
mkdir -p "$raw"
cargo build --release -q -p qgan --bin qgan-bench
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)" > "$raw/load.txt"
echo "bench-qgan: ours" >&2
./target/release/qgan-bench --threads 1 --iterations "$our_iters" --data data > "$raw/ours.json"
echo "bench-qgan: PennyLane lightning + parameter-shift (the demo)" >&2
"$peers_py" scripts/bench_qgan_pennylane.py --threads 1 --iterations "$peer_iters" \
    --data data/optdigits/optdigits.tra --out "$raw/pennylane.json" > /dev/null
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)" >> "$raw/load.txt"
python3 - "$raw" <<'PY' | tee "$out_dir/qgan-$(basename "$raw" | sed 's/^qgan-//').md"
import json, sys
raw = sys.argv[1]
ours = json.load(open(f"{raw}/ours.json"))
peer = json.load(open(f"{raw}/pennylane.json"))
p = peer["ms_per_iteration_median"]
print("| patch qGAN iteration (1 thread) | median ms | peer / this |")
print("|---|---|---|")
print(f"| PennyLane {peer.get('pennylane_version')} lightning + parameter-shift (demo) | {p:.1f} | 1.0x |")
for m in ("adjoint", "parameter_shift"):
    o = ours["methods"][m]["ms_per_iteration_median"]
    print(f"| accel, {m.replace('_', '-')} | {o:.3f} | {p / o:.0f}x |")
print()
print(f"target: >= 50x for the default (adjoint) path; load: {open(f'{raw}/load.txt').read().strip()}")
PY
