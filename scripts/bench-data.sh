#!/usr/bin/env bash
# Does the data pipeline keep the MNIST CNN fed? Runs, in one process on real MNIST, the
# prefetching loader alone, the synchronous loader alone, the quick preset's CNN training step,
# and both together; prints batches/s and their ratio to the CNN's consumption.
# The criterion bench `cargo bench -p accel-core --bench loader` measures the loader alone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/fetch-data.sh > /dev/null
cargo run --release -q -p accel-core --example loader_vs_cnn
