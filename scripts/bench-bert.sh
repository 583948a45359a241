#!/usr/bin/env bash
# One tiny-BERT MLM training step (hidden 128, 2 layers, 2 heads, intermediate 512, batch 16 of
# log-normal lengths padded to 128, vocab 30522, 15% of real tokens masked, AdamW, one thread):
# ours (crates/bert/examples/bench_step.rs) against the plain-torch model of
# ../shared/bench/peers/bench_bert_step.py (--impls torch --strategies pad_max), in the same run,
# alternating `--rounds` times. Prints each round's medians, the ratio torch / ours (the
# issue's target is >= 1.0) and writes them to results/bench/bert-<UTC>.md with the raw output.
#
# The peer runs from a virtualenv outside the repository: $ACCEL_PEERS_PYTHON, else
# ../venv-peers/bin/python next to the repository (torch).
#
# Options:
#   --rounds N         alternations of ours and the peer (default 3)
#   --out-dir DIR      where the table and raw output go (default results/bench)
set -euo pipefail
self="${BASH_SOURCE[0]}"
caller="$PWD"
abs() { if [[ "$1" = /* ]]; then echo "$1"; else echo "$caller/$1"; fi; }

rounds=3 out_dir="results/bench"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rounds) rounds="${2:?--rounds needs a count}"; shift 2 ;;
        --out-dir) out_dir="$(abs "${2:?--out-dir needs a directory}")"; shift 2 ;;
        -h|--help) sed -n '2,15p' "$self" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-bert: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
cd "$(dirname "$self")/.."
[[ "$out_dir" = /* ]] || out_dir="$PWD/$out_dir"

parent="$(cd .. && pwd)"
peers_dir="$parent/shared/bench/peers"
peers_py="${ACCEL_PEERS_PYTHON:-$parent/venv-peers/bin/python}"
[[ -x "$peers_py" ]] || {
    echo "bench-bert: no peers Python at $peers_py; create it with:" \
         "python3 -m venv $parent/venv-peers && $parent/venv-peers/bin/pip install -r $peers_dir/requirements.txt" \
         "(or set ACCEL_PEERS_PYTHON)" >&2
    exit 1
}
"$peers_py" -c 'import torch' 2>/dev/null || {
    echo "bench-bert: $peers_py lacks torch (pip install -r $peers_dir/requirements.txt)" >&2
    exit 1
}

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
raw="$out_dir/bert-$stamp"
mkdir -p "$raw"
cargo build --release -q -p accel-bert --example bench_step
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)" > "$raw/load.txt"
for r in $(seq 1 "$rounds"); do
    echo "bench-bert: round $r/$rounds" >&2
    RAYON_NUM_THREADS=1 ./target/release/examples/bench_step 10 > "$raw/ours-$r.txt"
    (cd "$peers_dir" && "$peers_py" bench_bert_step.py --quick --impls torch --vocabs 30522 \
        --strategies pad_max --threads 1 --out "$raw/peer-$r.json") > "$raw/peer-$r.log" 2>&1
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)" >> "$raw/load.txt"
python3 - "$raw" "$rounds" <<'PY' | tee "$out_dir/bert-$stamp.md"
import json, re, statistics, sys
raw, rounds = sys.argv[1], int(sys.argv[2])
print("| round | ours (median ms) | plain torch (mean ms) | torch / ours |")
print("|---|---|---|---|")
ratios = []
for r in range(1, rounds + 1):
    ours = float(re.search(r"median ([0-9.]+) ms", open(f"{raw}/ours-{r}.txt").read()).group(1))
    rec = json.load(open(f"{raw}/peer-{r}.json"))["records"][0]
    peer = rec["mean_step_s"] * 1e3
    ratios.append(peer / ours)
    print(f"| {r} | {ours:.1f} | {peer:.1f} | {peer / ours:.2f}x |")
print()
print(f"torch / ours, median of {rounds} rounds: {statistics.median(ratios):.2f}x (target >= 1.0x)")
print(f"load: {open(f'{raw}/load.txt').read().strip()}")
PY
