#!/usr/bin/env bash
# Builds and runs the native unit tests of the public headers (native/include/)
# and of the addon's event queue, its full policies, the call record and the
# in-flight guard, the per-producer rings (the thread's last ring, the idle consumer's
# membarrier) and the batch-fill wait (native/src/event_queue.h,
# back_pressure.h, call_record.h, inflight.h (with record_list.h), producer_rings.h, batch_fill.h)
# and the state-word allocator (huge_alloc.h).
#
#   native/test/run.sh            # everything
#   CXX=clang++ native/test/run.sh
#   JOBS=1 native/test/run.sh     # build serially
#
# Every test source is built with -std=c++17 -Wall -Wextra -Wpedantic -Werror
# into native/test/bin/ (gitignored) as
#   <name>.asan  -fsanitize=address,undefined -fno-sanitize-recover=all  (all tests)
#   <name>.tsan  -fsanitize=thread                                      (concurrent tests)
# both at -O1 -g, then run. Each binary prints PASS/FAIL per test and
# "N passed, N failed"; this script adds up those lines, plus a few
# compile-only checks (header alone in C++20, -fno-exceptions -fno-rtti, -O2;
# the test sources at -O3), prints the combined "N passed, N failed" line and exits
# non-zero on any failure. A binary that crashes, hangs (timeout) or gets a
# sanitizer report counts as one more failure.

set -u
cd "$(dirname "$0")"

CXX=${CXX:-g++}
JOBS=${JOBS:-2}
TIMEOUT=${TIMEOUT:-120}
BIN=bin
INC=../include
SRC=../src  # event_queue.h: the addon's own queue, tested here too
COMMON=(-std=c++17 -Wall -Wextra -Wpedantic -Werror -I"$INC" -I"$SRC" -I. -pthread)
ASAN=(-fsanitize=address,undefined -fno-sanitize-recover=all -O1 -g)
TSAN=(-fsanitize=thread -O1 -g)

ALL_TESTS=(test_layout test_huge_alloc test_sharded_map test_sharded_map_table test_queue test_domain test_back_pressure test_calls test_inflight test_rings test_last_ring test_idle_barrier test_batch_fill)
CONCURRENT_TESTS=(test_sharded_map test_queue test_domain test_back_pressure test_calls test_inflight test_rings test_last_ring test_idle_barrier test_batch_fill)

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

mkdir -p "$BIN"
passed=0
failed=0
logdir=$(mktemp -d)
trap 'rm -rf "$logdir"' EXIT

# ---- build (JOBS at a time) ------------------------------------------------
builds=()  # "<output> <variant> <source>"
for t in "${ALL_TESTS[@]}"; do builds+=("$BIN/$t.asan asan $t.cc"); done
for t in "${CONCURRENT_TESTS[@]}"; do builds+=("$BIN/$t.tsan tsan $t.cc"); done
builds+=("$BIN/layout_dump plain layout_dump.cc")

build_one() {  # out variant src
  local out=$1 variant=$2 src=$3 flags=()
  case $variant in
    asan) flags=("${ASAN[@]}") ;;
    tsan) flags=("${TSAN[@]}") ;;
    plain) flags=(-O2) ;;
  esac
  "$CXX" "${COMMON[@]}" "${flags[@]}" "$src" -o "$out" \
    >"$logdir/$(basename "$out").build" 2>&1
}

echo "== building ${#builds[@]} binaries with $CXX ($JOBS at a time)"
pids=()
outs=()
for b in "${builds[@]}"; do
  # shellcheck disable=SC2086
  build_one $b &
  pids+=($!)
  outs+=("${b%% *}")
  while (( $(jobs -rp | wc -l) >= JOBS )); do sleep 0.1; done
done
build_failed=()
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    build_failed+=("${outs[$i]}")
    echo "BUILD FAIL ${outs[$i]}"
    cat "$logdir/$(basename "${outs[$i]}").build"
    failed=$((failed + 1))
  fi
done

# ---- compile-only header checks --------------------------------------------
ALL_HEADERS='#include "handle_registry.h"
#include "handle_registry_abi.h"
#include "handle_registry_diagnostics.h"
#include "handle_registry_sharded_map.h"
#include "event_queue.h"
int main() { hr::ShardedMap<int> m; m.insert(hr::make_handle(1, 0, 0), 1);
  hr_native::EventQueue q(4); return q.try_push(hr_native::Event{1, 0, 0, 0.0}) == hr::Status::kOk ? 0 : 1; }'
# The core header alone: all an addon needs to keep handles in user_data.
CORE_ONLY='#include "handle_registry.h"
int main() { return hr::from_user_data(hr::to_user_data(256)) == 256 && hr::is_valid(256) &&
  hr::status_name(hr::Status::kOk)[0] == '"'"'o'"'"' ? 0 : 1; }'
compile_check() {  # name, language (c++ | c | core), flags...
  local name=$1 lang=$2 src=$ALL_HEADERS compiler=$CXX
  shift 2
  case $lang in
    core) src=$CORE_ONLY; lang=c++ ;;
    c) src='#include "handle_registry_abi.h"
int main(void) { unsigned long long tag = HR_API_TYPE_TAG_LOWER ^ HR_API_TYPE_TAG_UPPER; return tag != 0 && hr_api_v1_check(NULL) == HR_STATUS_NOT_ATTACHED ? 0 : 1; }'
       compiler=${CC:-gcc} ;;
  esac
  if printf '%s\n' "$src" |
     "$compiler" -Wall -Wextra -Wpedantic -Werror -I"$INC" -I"$SRC" -pthread "$@" -x "$lang" - \
       -o "$logdir/$name" >"$logdir/$name.log" 2>&1; then
    echo "PASS $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name"
    cat "$logdir/$name.log"
    failed=$((failed + 1))
  fi
}
echo "== header compile checks"
compile_check compile_cxx17_no_exceptions_no_rtti c++ -std=c++17 -fno-exceptions -fno-rtti
compile_check compile_cxx20 c++ -std=c++20
compile_check compile_cxx17_O2 c++ -std=c++17 -O2
compile_check compile_core_header_alone core -std=c++17
compile_check compile_c_abi_header_c99 c -std=c99
# The test sources themselves at -O3 (node-gyp's default), where GCC's
# flow-sensitive warnings (-Wfree-nonheap-object, ...) are most aggressive.
o3_ok=1
for t in "${ALL_TESTS[@]}"; do
  if ! "$CXX" "${COMMON[@]}" -O3 -c "$t.cc" -o "$logdir/$t.o" >"$logdir/$t.o3.log" 2>&1; then
    o3_ok=0
    cat "$logdir/$t.o3.log"
  fi
done
if (( o3_ok )); then echo "PASS compile_tests_O3"; passed=$((passed + 1)); else echo "FAIL compile_tests_O3"; failed=$((failed + 1)); fi

# ---- run ---------------------------------------------------------------------
run_one() {  # binary
  local bin=$1 log rc
  log="$logdir/$(basename "$bin").out"
  timeout "$TIMEOUT" "$bin" >"$log" 2>&1
  rc=$?
  if [[ $bin == *.tsan ]] && grep -q "unexpected memory mapping" "$log"; then
    # TSAN cannot map its shadow memory with ASLR on some kernels.
    echo "   (TSAN: unexpected memory mapping; rerunning with ASLR disabled)"
    timeout "$TIMEOUT" setarch "$(uname -m)" -R "$bin" >"$log" 2>&1
    rc=$?
  fi
  sed 's/^/   /' "$log"
  local line p f
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
  if [[ -n $line ]]; then
    p=${line%% passed*}
    f=${line#*, }
    f=${f%% failed*}
  else
    p=0
    f=0
  fi
  passed=$((passed + p))
  failed=$((failed + f))
  if (( rc != 0 )) && (( f == 0 )); then
    if (( rc == 124 )); then
      echo "   FAIL $(basename "$bin"): timed out after ${TIMEOUT}s"
    else
      echo "   FAIL $(basename "$bin"): exit code $rc (crash or sanitizer report)"
    fi
    failed=$((failed + 1))
  fi
}

is_build_failed() {
  local x
  for x in "${build_failed[@]+"${build_failed[@]}"}"; do [[ $x == "$1" ]] && return 0; done
  return 1
}

for variant in asan tsan; do
  if [[ $variant == asan ]]; then list=("${ALL_TESTS[@]}"); else list=("${CONCURRENT_TESTS[@]}"); fi
  for t in "${list[@]}"; do
    bin="$BIN/$t.$variant"
    is_build_failed "$bin" && continue
    echo "== $t ($variant)"
    run_one "$bin"
    if [[ $t == test_inflight || $t == test_rings || $t == test_last_ring || $t == test_idle_barrier ]]; then
      # The same tests without membarrier: the guard's fallback counters,
      # rings published with a seq_cst store.
      echo "== $t ($variant, HANDLE_REGISTRY_NO_MEMBARRIER=1)"
      HANDLE_REGISTRY_NO_MEMBARRIER=1 run_one "$bin"
    fi
  done
done

echo
echo "$passed passed, $failed failed"
(( failed == 0 ))
