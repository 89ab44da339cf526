#!/usr/bin/env bash
# Installs the system packages partita needs, when they are missing (Debian/Ubuntu).
# Today the build needs only the Rust toolchain and a C compiler; packages that later
# features need are added to PACKAGES below.
set -euo pipefail
PACKAGES=()
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
