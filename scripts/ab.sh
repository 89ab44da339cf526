#!/usr/bin/env bash
# A/B of two builds of the examples, alternating, for "no slowdown" checks.
#
#   scripts/ab.sh A_DIR B_DIR [ROUNDS] [DATA]
#
# A_DIR and B_DIR hold release example binaries (target/release/examples of two checkouts).
# Each round runs every workload with A then B (B then A on odd rounds), and prints the
# examples' RESULT lines prefixed with the build's label. Data comes from
# ../shared/bench/gen_data.py under DATA (default /tmp/bench-data).
set -euo pipefail
a=${1:?A_DIR}; b=${2:?B_DIR}; rounds=${3:-5}; data=${4:-/tmp/bench-data}
workloads=(
  "tasks --variant tree --n 100000 --fanin 16"
  "wordcount $data/text"
  "groupby $data/groupby/G1_1e7_1e2_0_0.csv"
  "join $data/join"
  "sort $data/sort"
)
run() { # label dir workload...
  local label=$1 dir=$2; shift 2
  local bin=$1; shift
  "$dir/$bin" "$@" 2>/dev/null | grep '^RESULT' | sed "s/^/$label /"
}
for ((r = 0; r < rounds; r++)); do
  for w in "${workloads[@]}"; do
    # shellcheck disable=SC2086
    if ((r % 2 == 0)); then run A "$a" $w; run B "$b" $w; else run B "$b" $w; run A "$a" $w; fi
  done
done
