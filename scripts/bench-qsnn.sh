#!/usr/bin/env bash
# One training step of the peer benchmark's hybrid spiking + quantum network (batch 32, T = 8,
# 8 qubits, L = 4, one thread): ours (qsnn-bench, the same model built from accel-qsnn) against
# ../shared/bench/peers/bench_hybrid_snn_vqc.py (torch + snntorch with PennyLane default.qubit,
# lightning.qubit, and a hand-written qulacs autograd function), in the same run. Prints the
# medians and the ratio (fastest peer / ours; the issue's target is >= 10) and writes them to
# results/bench/qsnn-<UTC>.md with the raw JSON beside it.
#
# The peer runs from a virtualenv outside the repository: $ACCEL_PEERS_PYTHON, else
# ../venv-peers/bin/python next to the repository (torch, snntorch, pennylane, qulacs).
#
# Options:
#   --quick            4 peer steps (default 10) and 100 of ours (default 300)
#   --out-dir DIR      where the table and raw JSON go (default results/bench)
set -euo pipefail
self="${BASH_SOURCE[0]}"
caller="$PWD"
abs() { if [[ "$1" = /* ]]; then echo "$1"; else echo "$caller/$1"; fi; }

peer_steps=10 our_steps=300 out_dir="results/bench"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) peer_steps=4 our_steps=100; shift ;;
        --out-dir) out_dir="$(abs "${2:?--out-dir needs a directory}")"; shift 2 ;;
        -h|--help) sed -n '2,14p' "$self" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-qsnn: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
cd "$(dirname "$self")/.."

parent="$(cd .. && pwd)"
peers_dir="$parent/shared/bench/peers"
peers_py="${ACCEL_PEERS_PYTHON:-$parent/venv-peers/bin/python}"
[[ -x "$peers_py" ]] || {
    echo "bench-qsnn: no peers Python at $peers_py; create it with:" \
         "python3 -m venv $parent/venv-peers && $parent/venv-peers/bin/pip install -r $peers_dir/requirements.txt" \
         "(or set ACCEL_PEERS_PYTHON)" >&2
    exit 1
}
[[ -f "$peers_dir/bench_hybrid_snn_vqc.py" ]] || {
    echo "bench-qsnn: missing $peers_dir/bench_hybrid_snn_vqc.py" >&2
    exit 1
}
"$peers_py" -c 'import torch, snntorch, pennylane, qulacs' 2>/dev/null || {
    echo "bench-qsnn: $peers_py lacks torch/snntorch/pennylane/qulacs (pip install -r $peers_dir/requirements.txt)" >&2
    exit 1
}

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
raw="$out_dir/qsnn-$stamp"
mkdir -p "$raw"
cargo build --release -q -p ppf-qsnn --bin qsnn-bench
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)" > "$raw/load.txt"
echo "bench-qsnn: ours" >&2
./target/release/qsnn-bench --threads 1 --steps "$our_steps" --timesteps 8 --qubits 8 --layers 4 \
    > "$raw/ours.json"
echo "bench-qsnn: peers (torch + snntorch + PennyLane / qulacs)" >&2
"$peers_py" "$peers_dir/bench_hybrid_snn_vqc.py" --threads 1 --steps "$peer_steps" \
    --timesteps 8 --qubits 8 --layers 4 --out "$raw/peers.json" > "$raw/peers.log"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)" >> "$raw/load.txt"
python3 - "$raw" <<'PY' | tee "$out_dir/qsnn-$stamp.md"
import json, sys
raw = sys.argv[1]
ours = json.load(open(f"{raw}/ours.json"))["models"]
peer = json.load(open(f"{raw}/peers.json"))
rows = {}
for r in peer["records"]:
    if "step_s" in r:
        rows[(r["kind"], r["qdev"])] = r["step_s"] * 1e3
hybrids = {q: ms for (k, q), ms in rows.items() if k == "hybrid"}
best_q = min(hybrids, key=hybrids.get)
best = hybrids[best_q]
print("| training step, batch 32, T=8, 8 qubits, L=4, 1 thread | median ms | fastest peer / this |")
print("|---|---|---|")
for (k, q), ms in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[1])):
    print(f"| peer {k} ({q or 'snn'}) | {ms:.1f} | {best / ms:.2f}x |")
for name in ("hybrid", "snn_only", "qnn_only", "ppf_default_star"):
    if name in ours:
        ms = ours[name]["ms_per_step_median"]
        print(f"| accel {name} | {ms:.2f} | {best / ms:.1f}x |")
o = ours["hybrid"]["ms_per_step_median"]
print()
print(f"hybrid: fastest peer ({best_q}) {best:.1f} ms / ours {o:.2f} ms = {best / o:.1f}x (target >= 10x)")
print(f"load: {open(f'{raw}/load.txt').read().strip()}")
PY
