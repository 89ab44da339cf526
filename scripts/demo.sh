#!/usr/bin/env bash
# Installs what is missing, then runs the demo: the task-overhead workload on the threads scheduler.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo run --release --example tasks -- --variant tree --n 100000 --fanin 16
