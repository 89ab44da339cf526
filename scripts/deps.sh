#!/usr/bin/env bash
# Installs the system packages partita needs, when they are missing (Debian/Ubuntu).
# The build needs the Rust toolchain, a C compiler, and the HDF5 library (found through
# pkg-config) for partita-io's HDF5 support; the two-hosts test needs iproute2 (`ip netns`), the cluster tests procps (`kill`).
set -euo pipefail
PACKAGES=(libhdf5-dev pkg-config iproute2 procps)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -q
  $sudo apt-get install -y -q "${missing[@]}"
fi
command -v cargo >/dev/null || { echo "partita needs the Rust toolchain (cargo): https://rustup.rs" >&2; exit 1; }
