// consumer_core.h: the N-API-free part of the consumer addons.
//
// What a real addon built against handle-registry's header does:
//   - keeps the attached C ABI table (static, valid for the process's life);
//   - keeps native state per handle in an hr::ShardedMap, updated from the
//     C library's threads;
//   - hands the handle to a C library as its `void* user_data`
//     (hr::to_user_data), gets it back in the callback on the library's
//     thread (hr::from_user_data) and posts an event with api->post.
//
// Both consumer addons (consumer_addon_api.cc with node-addon-api,
// consumer_napi.cc with plain N-API) include this file; everything has
// internal linkage so two of them can be loaded in one process.
#ifndef HR_CONSUMER_CORE_H_
#define HR_CONSUMER_CORE_H_

#include <atomic>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "fake_clib.h"
#include "handle_registry.h"
#include "handle_registry_abi.h"
#include "handle_registry_diagnostics.h"  // DomainView: which registry owns a handle
#include "handle_registry_sharded_map.h"

namespace consumer {
namespace {

// The table from hr::attach. Written on the JS thread, read by producers.
std::atomic<const hr_api_v1*> g_api{nullptr};

// Native state of one handle, keyed by the handle in a ShardedMap.
struct HandleState {
  uint32_t kind = 0;       // event kind this handle's stream posts with
  uint32_t next_seq = 0;   // the seq the library should call with next
  bool in_order = true;    // every callback came with next_seq
  uint64_t posted = 0;     // post() calls
  uint64_t by_status[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // post() results, by HR_STATUS_*
};

// Never destroyed: producer threads may still touch it while the process
// exits (the env cleanup hook joins them first, but be safe).
hr::ShardedMap<HandleState>& states() {
  static hr::ShardedMap<HandleState>* map = new hr::ShardedMap<HandleState>();
  return *map;
}

// The C library's callback: runs on the library's own thread.
void on_data(void* user_data, uint32_t seq, double value) {
  const hr::Handle h = hr::from_user_data(user_data);
  if (h == hr::kNullHandle) return;  // null user_data: no handle
  uint32_t kind = 0;
  // Lock: h's shard, only while reading (never post under a lock).
  if (!states().find(h, [&](HandleState& s) { kind = s.kind; })) return;  // forgotten
  const hr_api_v1* api = g_api.load(std::memory_order_acquire);
  const int32_t st = api->post(h, kind, value);  // never blocks, any thread
  states().find(h, [&](HandleState& s) {         // Lock: h's shard
    if (seq != s.next_seq) s.in_order = false;
    s.next_seq = seq + 1;
    s.posted += 1;
    s.by_status[st >= 0 && st < 8 ? st : 7] += 1;
  });
}

// A run: one fake_stream (one thread) per handle.
struct Run {
  std::vector<hr::Handle> handles;
  std::vector<fake_stream*> streams;
};

std::mutex g_runs_mu;
std::unordered_map<uint32_t, Run> g_runs;
uint32_t g_next_run = 1;

// Starts one stream of `count` events per handle. JS thread.
uint32_t start_run(const std::vector<hr::Handle>& handles, uint32_t count, uint32_t kind) {
  Run run;
  run.handles = handles;
  for (hr::Handle h : handles) {
    HandleState s;
    s.kind = kind;
    states().insert_or_assign(h, s);
  }
  for (hr::Handle h : handles) {
    run.streams.push_back(fake_stream_start(&on_data, hr::to_user_data(h), count));
  }
  std::lock_guard<std::mutex> lock(g_runs_mu);
  const uint32_t id = g_next_run++;
  g_runs.emplace(id, std::move(run));
  return id;
}

struct Totals {
  bool found = false;
  bool in_order = true;
  uint64_t posted = 0;
  uint64_t by_status[8] = {0, 0, 0, 0, 0, 0, 0, 0};
};

// If every stream of run `id` finished: joins them, forgets the run and
// returns its totals (from the ShardedMap); else found = false and *running
// = true. Unknown id: found = false, *running = false.
Totals poll_run(uint32_t id, bool* running) {
  Totals t;
  *running = false;
  Run run;
  {
    std::lock_guard<std::mutex> lock(g_runs_mu);
    auto it = g_runs.find(id);
    if (it == g_runs.end()) return t;
    for (fake_stream* s : it->second.streams) {
      if (!fake_stream_done(s)) {
        *running = true;
        return t;
      }
    }
    run = std::move(it->second);
    g_runs.erase(it);
  }
  for (fake_stream* s : run.streams) fake_stream_join(s);
  t.found = true;
  for (hr::Handle h : run.handles) {
    states().find(h, [&](const HandleState& s) {
      t.in_order = t.in_order && s.in_order;
      t.posted += s.posted;
      for (int i = 0; i < 8; ++i) t.by_status[i] += s.by_status[i];
    });
  }
  return t;
}

// Env teardown: wait for every stream still running.
void join_all_runs(void*) {
  std::unordered_map<uint32_t, Run> runs;
  {
    std::lock_guard<std::mutex> lock(g_runs_mu);
    runs.swap(g_runs);
  }
  for (auto& entry : runs) {
    for (fake_stream* s : entry.second.streams) fake_stream_join(s);
  }
}

// Owner index of h's block as the header's DomainView reads the shared
// domain table (0 if unclaimed).
uint32_t domain_owner_of(hr::Handle h) {
  const hr_api_v1* api = g_api.load(std::memory_order_acquire);
  return hr::DomainView(api->domain_words, api->domain_word_count).owner_of(h);
}

// The JS number -> handle conversion both glue layers use: any integer
// 0 .. 2^53 (validity is the registry's business: post() reports it).
bool handle_from_double(double d, hr::Handle* out) {
  if (!(d >= 0 && d <= 9007199254740992.0) || static_cast<double>(static_cast<uint64_t>(d)) != d) {
    return false;
  }
  *out = static_cast<hr::Handle>(d);
  return true;
}

}  // namespace
}  // namespace consumer

#endif  // HR_CONSUMER_CORE_H_
