#!/usr/bin/env bash
# Installs what is missing, then runs every test: unit, integration and doc tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo test --workspace "$@"
