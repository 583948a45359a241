#!/usr/bin/env bash
# Reproduce accel's experiments end to end: fetch the data, build in release mode, run each
# experiment on a preset, then regenerate paper/ from the newest finished runs.
#
#   scripts/reproduce.sh [--preset smoke|quick|paper] [--resume] [--threads N] [EXPERIMENT...]
#
# With no EXPERIMENT, every folder in experiments/ runs. --resume continues the newest unfinished
# run of each experiment instead of starting a new one (a finished run is left alone).
# Runs go to results/<experiment>/<run-id>/; paper/<experiment>.md is regenerated from them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

preset=quick
resume=0
threads=()
experiments=()
while [ $# -gt 0 ]; do
  case "$1" in
    --preset) preset="${2:?--preset needs smoke, quick or paper}"; shift 2 ;;
    --preset=*) preset="${1#--preset=}"; shift ;;
    --resume) resume=1; shift ;;
    --threads) threads=(--threads "${2:?--threads needs a number}"); shift 2 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "reproduce.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) experiments+=("$1"); shift ;;
  esac
done
case "$preset" in
  smoke|quick|paper) ;;
  *) echo "reproduce.sh: unknown preset '$preset' (smoke, quick or paper)" >&2; exit 2 ;;
esac
if [ ${#experiments[@]} -eq 0 ]; then
  for d in experiments/*/; do experiments+=("$(basename "$d")"); done
fi
for exp in "${experiments[@]}"; do
  if [ ! -f "experiments/$exp/configs/$preset.toml" ]; then
    echo "reproduce.sh: no experiment '$exp' with a $preset preset (experiments/$exp/configs/$preset.toml)" >&2
    exit 2
  fi
done

scripts/fetch-data.sh
echo "== building (release)"
cargo build --release --workspace --bins

for exp in "${experiments[@]}"; do
  echo "== $exp ($preset)"
  args=(--config "experiments/$exp/configs/$preset.toml" --out results "${threads[@]}")
  if [ "$resume" = 1 ]; then
    args=(--resume --out results "${threads[@]}")
  fi
  "target/release/$exp" "${args[@]}"
done

echo "== regenerating paper/"
target/release/accel report --results results --paper paper --experiments experiments "${experiments[@]}"
