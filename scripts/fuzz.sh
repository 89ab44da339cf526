#!/usr/bin/env bash
# Mutation fuzz of every reader, as examples/reader_fuzz describes:
#
#   scripts/fuzz.sh CASES [SEED]
#
# Runs CSV, text, gzip, zstd, Parquet, Arrow IPC and HDF5, CASES cases each, every run under a
# 4 GiB address-space cap. A case that ends the process (an abort, a crash, a hang) is counted,
# and the run resumes after it. libhdf5's own crashes (SIGSEGV while reading HDF5) are counted
# apart. PARTITA_FUZZ_BIN names the reader_fuzz binary to run; without it the script builds one
# in release. Ends with one line:
#
#   fuzz: N cases, W wrong, A aborts, H hangs, P unnamed panics
#
# and exits non-zero unless W, A, H and P are all 0.
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:?CASES}
seed=${2:-1}
bin=${PARTITA_FUZZ_BIN:-}
if [[ -z $bin ]]; then
  cargo build --release --example reader_fuzz --quiet
  bin=${CARGO_TARGET_DIR:-target}/release/examples/reader_fuzz
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
total=0 wrong=0 aborts=0 hangs=0 unnamed=0 crashes=0
for reader in csv text gzip zstd parquet ipc hdf5; do
  from=0 r_aborts=0 r_hangs=0 r_crashes=0
  : >"$work/$reader.err"
  while ((from < cases)); do
    set +e
    (ulimit -v 4194304 && exec "$bin" --reader "$reader" --cases "$cases" --seed "$seed" \
      --from "$from" --progress "$work/progress" --seed-file "$work/$reader.seed") \
      >"$work/out" 2>>"$work/$reader.err"
    rc=$?
    set -e
    if ((rc == 0)); then
      break
    fi
    at=$(cat "$work/progress" 2>/dev/null || echo "$from")
    if ((rc == 3)); then
      r_hangs=$((r_hangs + 1))
    elif ((rc == 139)) && [[ $reader == hdf5 ]]; then
      r_crashes=$((r_crashes + 1))
    else
      r_aborts=$((r_aborts + 1))
    fi
    echo "fuzz: $reader case $at ended the process (exit $rc)" >&2
    from=$((at + 1))
  done
  r_wrong=$(grep -c '^WRONG' "$work/$reader.err" || true)
  r_unnamed=$(grep -c '^UNNAMED' "$work/$reader.err" || true)
  grep -m 5 -E '^(WRONG|UNNAMED)' "$work/$reader.err" >&2 || true
  echo "fuzz.$reader: $cases cases, $r_wrong wrong, $r_aborts aborts, $r_hangs hangs, $r_unnamed unnamed panics, $r_crashes libhdf5 crashes"
  total=$((total + cases)) wrong=$((wrong + r_wrong)) aborts=$((aborts + r_aborts))
  hangs=$((hangs + r_hangs)) unnamed=$((unnamed + r_unnamed)) crashes=$((crashes + r_crashes))
done
echo "libhdf5 crashes (counted apart): $crashes"
echo "fuzz: $total cases, $wrong wrong, $aborts aborts, $hangs hangs, $unnamed unnamed panics"
((wrong + aborts + hangs + unnamed == 0))
