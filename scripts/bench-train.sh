#!/usr/bin/env bash
# Training-step throughput of ResNet-50, ViT and EfficientNet-B0 (batch 32, 32x32x3, SGD momentum,
# f32 and bf16, 1x32 and 4x8 gradient accumulation, 1 and 2 threads) against PyTorch running
# ../shared/bench/peers/bench_train_cnn.py in the same run. Prints a Markdown table of ratios
# (ours img/s over PyTorch img/s) and writes it to results/bench/train-<UTC>.md, with the raw JSON
# in results/bench/train-<UTC>/.
#
# The peers run from a virtualenv outside the repository: $ACCEL_PEERS_PYTHON, else
# ../venv-peers/bin/python next to the repository; the peer scripts live in $ACCEL_PEERS_DIR, else
# ../shared/bench/peers. About 5 minutes on a 2-core CPU (most of it ours, at one thread).
#
# Options:
#   --quick            3 timed steps after 1 warm-up (default 6 after 2), for a fast look
#   --threads LIST     comma-separated thread counts (default 1,2)
#   --models LIST      comma-separated models (default resnet50,vit,efficientnet_b0)
#   --out-dir DIR      where the table and raw JSON go (default results/bench)
set -euo pipefail
self="${BASH_SOURCE[0]}"
caller="$PWD"
abs() { if [[ "$1" = /* ]]; then echo "$1"; else echo "$caller/$1"; fi; }

steps=6 warmup=2 threads="1,2" models="resnet50,vit,efficientnet_b0" out_dir="results/bench"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) steps=3 warmup=1; shift ;;
        --threads) threads="${2:?--threads needs a list}"; shift 2 ;;
        --models) models="${2:?--models needs a list}"; shift 2 ;;
        --out-dir) out_dir="$(abs "${2:?--out-dir needs a directory}")"; shift 2 ;;
        -h|--help) sed -n '2,17p' "$self" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-train: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
cd "$(dirname "$self")/.."

parent="$(cd .. && pwd)"
peers_dir="${ACCEL_PEERS_DIR:-$parent/shared/bench/peers}"
peers_py="${ACCEL_PEERS_PYTHON:-$parent/venv-peers/bin/python}"
[[ -x "$peers_py" ]] || {
    echo "bench-train: no peers Python at $peers_py; create it with:" \
         "python3 -m venv $parent/venv-peers && $parent/venv-peers/bin/pip install -r $peers_dir/requirements.txt" \
         "(or set ACCEL_PEERS_PYTHON)" >&2
    exit 1
}
[[ -f "$peers_dir/bench_train_cnn.py" ]] || {
    echo "bench-train: no $peers_dir/bench_train_cnn.py (set ACCEL_PEERS_DIR)" >&2; exit 1; }
"$peers_py" -c 'import torch, torchvision' 2>/dev/null || {
    echo "bench-train: $peers_py lacks torch/torchvision: pip install -r $peers_dir/requirements.txt" >&2
    exit 1
}

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
raw="$out_dir/train-$stamp"
mkdir -p "$raw"
cargo build --release -q -p training-tricks --bin train-bench
loadavg() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a; }
echo "load before: $(loadavg)" > "$raw/load.txt"

IFS=, read -r -a thread_list <<< "$threads"
for t in "${thread_list[@]}"; do
    echo "bench-train: ours, $t thread(s)" >&2
    ./target/release/train-bench --threads "$t" --models "$models" --precisions f32,bf16 \
        --accum 1,4 --steps "$steps" --warmup "$warmup" --profile > "$raw/ours.t$t.jsonl"
    echo "bench-train: PyTorch, $t thread(s)" >&2
    "$peers_py" "$peers_dir/bench_train_cnn.py" --threads "$t" --models "$models" \
        --precisions f32,bf16 --accum 1,4 --steps "$steps" --warmup "$warmup" \
        --out "$raw/torch.t$t.json" > "$raw/torch.t$t.log"
done
echo "load after: $(loadavg)" >> "$raw/load.txt"
python3 scripts/bench_train_table.py "$raw" "$threads" | tee "$out_dir/train-$stamp.md"
