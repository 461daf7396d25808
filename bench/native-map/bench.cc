// Native sharded map benchmark: hr::ShardedMap<uint64_t, 16> vs one
// std::mutex around one std::unordered_map<Handle, uint64_t>.
//
// Workload (the same for both maps): a key space of 2M handles made by
// hr::make_handle over consecutive slots of blocks 1..8192; a random half of
// them (1M) is inserted before timing. Each thread then runs a fixed number
// of operations on uniformly random keys of the key space: 80% find (the
// callback reads the value), 10% insert, 10% erase. Inserts and erases each
// succeed about half the time, so the map stays at about 1M entries. Both
// maps reserve room for 2M entries up front.
//
// Two key regimes:
//   fresh   every handle has generation 0 (slots issued once). The keys are
//           then 2M consecutive integers, and std::unordered_map's identity
//           hash on libstdc++ turns one big table into a direct-mapped array
//           (no collisions, a miss reads one empty bucket). Sharding by
//           fmix64 gives that up by design.
//   reused  each slot has a random generation 0..7 (slots reused a few
//           times, still Smis): keys are no longer consecutive, and both maps
//           see ordinary hash-table collisions.
//
// ShardedMap's shard lock tries a few times with a short backoff before
// blocking on its std::mutex; most of its 2-thread gain over a plain mutex
// comes from shorter hold times per lock and that spin, not from avoiding
// every collision (2 threads on 16 shards collide on 1 op in 16).
//
// Each (regime, map, threads) cell is measured as `reps` pairs: both maps
// back to back (order alternating), between two machine checks that time a
// pure-ALU loop on 2 threads vs 1. On a shared machine other processes come
// and go; a pair counts only if both checks show two free cores (>= 1.8x by
// default), up to 4 * reps attempts. The medians over clean pairs are
// reported, with the count; if fewer than half the wanted pairs were clean,
// all pairs are used and the row is flagged BUSY.
//
// Prints a table, then the bytes per live entry of both maps at 1M entries
// (not timed), and writes JSON (the timed rows only):
//   [{"name", "threads", "opsPerSec", "ratio", "workload", "aluScaling2T"}, ...]
// ratio = opsPerSec / opsPerSec of the mutex baseline at the same thread
// count and workload (1 for the baseline itself); aluScaling2T = the lowest
// machine check among the runs used (about 2 on an idle 2-core machine).
//
//   bench [--ops N] [--reps N] [--threads 1,2] [--min-scaling 1.8] [--out FILE]

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "handle_registry_diagnostics.h"  // make_handle: handles of given fields
#include "handle_registry_sharded_map.h"

namespace {

using hr::Handle;

constexpr uint32_t kKeySpace = 2u << 20;  // 2M handles, 1M live

// Key i of the key space; `gens` > 1 gives each slot a random generation.
Handle KeyAt(uint32_t i, uint32_t gens) {
  const uint32_t gen = gens > 1 ? static_cast<uint32_t>(hr::fmix64(i + 1) % gens) : 0;
  return hr::make_handle(1 + i / 256, i % 256, gen);
}

// The baseline: one std::mutex (plain lock(): a futex sleep when contended),
// one std::unordered_map, same call shapes as ShardedMap. erase frees the
// node after unlocking, which only helps the baseline.
class GlobalLockMap {
 public:
  void reserve(size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    map_.reserve(n);
  }
  bool insert(Handle h, uint64_t v) {
    std::lock_guard<std::mutex> lock(mu_);
    return map_.try_emplace(h, v).second;
  }
  template <class F>
  bool find(Handle h, F&& f) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(h);
    if (it == map_.end()) return false;
    f(it->second);
    return true;
  }
  bool erase(Handle h) {
    std::unordered_map<Handle, uint64_t>::node_type node;
    {
      std::lock_guard<std::mutex> lock(mu_);
      node = map_.extract(h);
    }
    return !node.empty();
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu_);
    return map_.size();
  }

 private:
  std::mutex mu_;
  std::unordered_map<Handle, uint64_t> map_;
};

using Sharded = hr::ShardedMap<uint64_t, 16>;

struct XorShift {
  uint64_t s;
  uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545f4914f6cdd1dULL;
  }
};

std::atomic<uint64_t> g_sink{0};

template <class Map>
double RunOnce(const std::vector<Handle>& keys, int threads, uint64_t ops_per_thread,
               uint64_t seed) {
  Map map;
  map.reserve(kKeySpace);
  for (uint32_t i = 0; i < kKeySpace; ++i) {
    if (hr::fmix64(i ^ 0x5bd1e995u) & 1) map.insert(keys[i], i);  // a random half
  }

  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      XorShift rng{seed * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(t) + 1};
      uint64_t sink = 0;
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (uint64_t i = 0; i < ops_per_thread; ++i) {
        const uint64_t r = rng.next();
        const Handle h = keys[static_cast<uint32_t>(r >> 32) % kKeySpace];
        const uint32_t op = static_cast<uint32_t>(r & 0xffff) % 10;
        if (op < 8) {
          map.find(h, [&](uint64_t& v) { sink += v; });
        } else if (op == 8) {
          sink += map.insert(h, r);
        } else {
          sink += map.erase(h);
        }
      }
      g_sink.fetch_add(sink);
    });
  }
  while (ready.load() != threads) std::this_thread::yield();
  const auto t0 = std::chrono::steady_clock::now();
  go.store(true, std::memory_order_release);
  for (auto& th : ts) th.join();
  const auto t1 = std::chrono::steady_clock::now();
  const double secs = std::chrono::duration<double>(t1 - t0).count();
  if (map.size() < kKeySpace / 4 || map.size() > kKeySpace * 3 / 4) {
    std::fprintf(stderr, "unexpected final size %zu\n", map.size());
    std::exit(2);
  }
  return static_cast<double>(ops_per_thread) * threads / secs;
}

// Bytes per live entry after inserting the bench's 1M live keys into each map,
// grown from empty and with the bench's reserve(2M). ShardedMap counts its
// slot arrays exactly (table_bytes); for std::unordered_map on libstdc++ it is
// the bucket array plus one 32-byte malloc chunk per node (24 bytes: next,
// key, value), an estimate that ignores malloc's own bookkeeping.
void PrintMemory(const std::vector<Handle>& keys) {
  std::printf("\nmemory per live entry, 1M live keys (the bench's half of the key space):\n");
  for (bool reserved : {false, true}) {
    Sharded sharded;
    std::unordered_map<Handle, uint64_t> base;
    if (reserved) {
      sharded.reserve(kKeySpace);
      base.reserve(kKeySpace);
    }
    for (uint32_t i = 0; i < kKeySpace; ++i) {
      if (hr::fmix64(i ^ 0x5bd1e995u) & 1) {
        sharded.insert(keys[i], i);
        base.emplace(keys[i], i);
      }
    }
    const double n = static_cast<double>(sharded.size());
    const double base_bytes = static_cast<double>(base.bucket_count()) * sizeof(void*) + 32.0 * n;
    std::printf("  %-22s ShardedMap %.1f B (slot %zu B)   unordered_map about %.1f B\n",
                reserved ? "reserve(2M) first:" : "grown from empty:",
                static_cast<double>(sharded.table_bytes()) / n, Sharded::kSlotBytes, base_bytes / n);
  }
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::vector<int> ParseList(const char* s) {
  std::vector<int> out;
  std::string cur;
  for (const char* p = s;; ++p) {
    if (*p == ',' || *p == '\0') {
      if (!cur.empty()) out.push_back(std::atoi(cur.c_str()));
      cur.clear();
      if (*p == '\0') break;
    } else {
      cur += *p;
    }
  }
  return out;
}

// Ops/s of `threads` threads each running a pure ALU loop (no memory).
double AluRate(int threads, uint64_t iters) {
  std::vector<std::thread> ts;
  const auto t0 = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([t, iters] {
      XorShift rng{static_cast<uint64_t>(t) + 7};
      uint64_t acc = 0;
      for (uint64_t i = 0; i < iters; ++i) acc += rng.next();
      g_sink.fetch_add(acc);
    });
  }
  for (auto& th : ts) th.join();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return static_cast<double>(iters) * threads / secs;
}

// How much faster 2 threads of ALU work run than 1 right now (~2 if idle).
double ScalingCheck() {
  constexpr uint64_t kIters = 15000000;  // ~30 ms per run
  return AluRate(2, kIters) / AluRate(1, kIters);
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t ops = 1000000;
  int reps = 5;
  double min_scaling = 1.8;
  std::vector<int> thread_counts = {1, 2};
  std::string out = "bench/results/native-map.json";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--ops")) ops = std::strtoull(argv[i + 1], nullptr, 10);
    else if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--threads")) thread_counts = ParseList(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--min-scaling")) min_scaling = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--out")) out = argv[i + 1];
  }

  std::printf("native-map: 1M live of 2M handles, 80%% find / 10%% insert / 10%% erase,\n"
              "%llu ops per thread, median of %d clean runs, %u hardware threads\n",
              static_cast<unsigned long long>(ops), reps,
              std::thread::hardware_concurrency());

  struct Workload {
    const char* name;
    uint32_t gens;
  };
  const Workload workloads[] = {{"fresh", 1}, {"reused", 8}};
  struct Row {
    const char* workload;
    int threads;
    double base, sharded;
    int clean, attempts;
    double scaling;  // lowest machine check among the runs used
  };
  std::vector<Row> rows;
  for (const Workload& w : workloads) {
    std::vector<Handle> keys(kKeySpace);
    for (uint32_t i = 0; i < kKeySpace; ++i) keys[i] = KeyAt(i, w.gens);
    for (int threads : thread_counts) {
      // One pair = the baseline and the sharded map back to back (order
      // alternating), between two machine checks. A pair counts as clean when
      // both checks show two free cores; the median is over the clean pairs
      // (or over all pairs, flagged, if too few were clean).
      struct Pair {
        double base, sharded, scaling;
      };
      std::vector<Pair> all, clean;
      const int max_attempts = reps * 4;
      for (int r = 0; r < max_attempts && static_cast<int>(clean.size()) < reps; ++r) {
        const uint64_t seed = 1000 + static_cast<uint64_t>(r);
        const double before = ScalingCheck();
        Pair p{};
        if (r % 2 == 0) {
          p.base = RunOnce<GlobalLockMap>(keys, threads, ops, seed);
          p.sharded = RunOnce<Sharded>(keys, threads, ops, seed);
        } else {
          p.sharded = RunOnce<Sharded>(keys, threads, ops, seed);
          p.base = RunOnce<GlobalLockMap>(keys, threads, ops, seed);
        }
        const double after = ScalingCheck();
        p.scaling = before < after ? before : after;
        all.push_back(p);
        if (p.scaling >= min_scaling) clean.push_back(p);
      }
      const std::vector<Pair>& used = static_cast<int>(clean.size()) >= (reps + 1) / 2 ? clean : all;
      std::vector<double> base, sharded;
      double scaling = 1e9;
      for (const Pair& p : used) {
        base.push_back(p.base);
        sharded.push_back(p.sharded);
        if (p.scaling < scaling) scaling = p.scaling;
      }
      rows.push_back({w.name, threads, Median(base), Median(sharded),
                      static_cast<int>(clean.size()), static_cast<int>(all.size()), scaling});
    }
  }

  std::printf("\nmachine check: a run counts as clean when 2 threads of pure ALU work ran "
              ">= %.2fx one thread\njust before and just after it (two free cores)\n\n",
              min_scaling);
  std::printf("| workload | threads | std::mutex + unordered_map (Mops/s) | ShardedMap<uint64_t,16> (Mops/s) | ratio | target | clean runs |\n");
  std::printf("| -------- | ------- | ----------------------------------- | -------------------------------- | ----- | ------ | ---------- |\n");
  for (const Row& r : rows) {
    const double ratio = r.sharded / r.base;
    std::string target = "-";
    if (r.threads == 1) target = std::string(">= 0.95: ") + (ratio >= 0.95 ? "met" : "NOT met");
    if (r.threads == 2) target = std::string(">= 1.7: ") + (ratio >= 1.7 ? "met" : "NOT met");
    char clean[64];
    std::snprintf(clean, sizeof clean, "%d of %d%s", r.clean, r.attempts,
                  r.clean >= (reps + 1) / 2 ? "" : " (BUSY: all runs used)");
    std::printf("| %-8s | %7d | %35.2f | %32.2f | %5.2f | %s | %s |\n", r.workload, r.threads,
                r.base / 1e6, r.sharded / 1e6, ratio, target.c_str(), clean);
  }

  {
    std::vector<Handle> keys(kKeySpace);
    for (uint32_t i = 0; i < kKeySpace; ++i) keys[i] = KeyAt(i, 8);
    PrintMemory(keys);
  }

  std::ofstream f(out);
  if (!f) {
    std::fprintf(stderr, "cannot write %s\n", out.c_str());
    return 1;
  }
  f << "[\n";
  bool first = true;
  char buf[400];
  for (const Row& r : rows) {
    std::snprintf(buf, sizeof buf,
                  "%s  {\"name\": \"std::mutex + std::unordered_map\", \"threads\": %d, "
                  "\"opsPerSec\": %.0f, \"ratio\": 1, \"workload\": \"%s\", \"aluScaling2T\": %.2f}",
                  first ? "" : ",\n", r.threads, r.base, r.workload, r.scaling);
    f << buf;
    first = false;
    std::snprintf(buf, sizeof buf,
                  ",\n  {\"name\": \"hr::ShardedMap<uint64_t,16>\", \"threads\": %d, "
                  "\"opsPerSec\": %.0f, \"ratio\": %.3f, \"workload\": \"%s\", \"aluScaling2T\": %.2f}",
                  r.threads, r.sharded, r.sharded / r.base, r.workload, r.scaling);
    f << buf;
  }
  f << "\n]\n";
  std::printf("\nwrote %s\n", out.c_str());
  return 0;
}
