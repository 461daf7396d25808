#!/usr/bin/env bash
# Native sharded map benchmark: builds bench.cc with -O2 -pthread and runs it.
# Prints a table and writes bench/results/native-map.json.
#
#   bench/native-map/run.sh                       # 1 and 2 threads, 5 runs each
#   bench/native-map/run.sh --ops 4000000 --reps 7 --threads 1,2,4
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
CXX=${CXX:-g++}
# The binary goes to a temporary directory (nothing to gitignore).
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
mkdir -p "$root/bench/results"
"$CXX" -std=c++17 -O2 -DNDEBUG -pthread -Wall -Wextra -Wpedantic -Werror \
  -I"$root/native/include" "$here/bench.cc" -o "$bin/bench"
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)"
"$bin/bench" --out "$root/bench/results/native-map.json" "$@"
