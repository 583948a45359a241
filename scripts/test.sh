#!/usr/bin/env bash
# The test command: fetch (and verify) the datasets the tests read, then run every test in the
# workspace. Extra arguments go to `cargo test` (e.g. scripts/test.sh -p accel-core).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/fetch-data.sh
cargo test --workspace "$@"
