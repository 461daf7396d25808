#!/usr/bin/env bash
# Native sharded map benchmark: builds bench.cc with -O2 -pthread and runs it.
# Prints a table and writes bench/results/native-map.json.
#
#   bench/native-map/run.sh                          # 1 and 2 threads, 5 runs each
#   bench/native-map/run.sh --ops 4000000 --reps 7 --threads 1,2,4
#   QUIET_WAIT=600 bench/native-map/run.sh           # first wait (up to 600 s)
#                                                    # for an idle CPU
#
# The 2-thread figures need two otherwise idle cores: the bench prints a
# "machine check" (2 threads of pure ALU work vs 1); below about 1.9x the
# machine was busy and the 2-thread ratios are not meaningful.
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

# Percentage of CPU time (all cores) that was busy over the next 3 seconds.
busy_pct() {
  local a b c d e f g h t1 i1 t2 i2
  read -r _ a b c d e f g h _ < /proc/stat; t1=$((a+b+c+d+e+f+g+h)); i1=$((d+e))
  sleep 3
  read -r _ a b c d e f g h _ < /proc/stat; t2=$((a+b+c+d+e+f+g+h)); i2=$((d+e))
  echo $(( 100 * ((t2 - t1) - (i2 - i1)) / (t2 - t1) ))
}
if [[ -n ${QUIET_WAIT:-} && -r /proc/stat ]]; then
  deadline=$(( $(date +%s) + QUIET_WAIT ))
  while :; do
    b=$(busy_pct)
    if (( b < 8 )); then echo "CPU idle (${b}% busy), starting"; break; fi
    if (( $(date +%s) >= deadline )); then echo "CPU still ${b}% busy after ${QUIET_WAIT}s; running anyway"; break; fi
  done
fi
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)"
"$bin/bench" --out "$root/bench/results/native-map.json" "$@"
