// inflight.h: who is inside a guarded section right now (the InflightGuard of
// owners.h: producers between routing a post and leaving it), at the price of
// two plain stores per guard instead of two atomic read-modify-writes on a
// shared counter (issue 11, item 3). Header-only and Node-free so that
// native/test/test_inflight.cc runs it under ASan and TSan.
//
// Each thread that enters a guard gets a Marker (one cache line, its own):
//   producer (Guard)                        closer (synchronize)
//   ----------------                        --------------------
//   marker = (entries + 1) << 16 | tag      publish the change       (seq_cst)
//   compiler barrier                        membarrier(PRIVATE_EXPEDITED)
//   read status / route / region / path     for each marker naming `tag`:
//   ... work ...                              wait until it changes  (acquire)
//   marker = entries << 16      (release)   then the counters (below)
// membarrier runs a full memory barrier on every CPU that runs a thread of
// this process (a thread not running has passed one in its context switch):
// either a producer's marker store came before that barrier, and the scan sees
// it and waits for the producer to leave, or its reads came after it, and see
// the change. This is the asymmetric fence of liburcu's membarrier flavour and
// folly's asymmetricHeavyBarrier: the rare side (close, growth) pays a syscall
// (about 1 us here), the hot side a plain store. The entry count in the word
// makes every entry a new value, so the wait ends as soon as the producer has
// left once, even if it enters again at full speed.
//
// Fallback, with the old cost: two inflight counters flipped by an epoch (as
// userspace RCU does), a seq_cst fetch_add on entry and a fetch_sub on exit.
// Used where membarrier(PRIVATE_EXPEDITED) is unavailable (not Linux, kernels
// before 4.14), for a guard nested in another on the same thread (one marker
// per thread), and after the thread's exit began. synchronize() always waits
// for both kinds.
//
// Markers are never freed: a thread's exit hands its marker to the next thread
// that needs one, so there are at most as many as threads that were inside a
// guard at once. Everything process-wide here is constant-initialised and
// trivially destructible: threads that outlive a worker, or the process's
// exit, still find valid memory.
#ifndef HANDLE_REGISTRY_NATIVE_INFLIGHT_H_
#define HANDLE_REGISTRY_NATIVE_INFLIGHT_H_

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <thread>

#if defined(__linux__)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "handle_registry.h"  // hr::detail::cpu_relax
#include "record_list.h"

namespace hr_native {
namespace inflight {

/// Tags name what a guard protects (an owner index): 1 .. kMaxTag.
inline constexpr uint64_t kTagMask = 0xffff;
inline constexpr uint32_t kMaxTag = 0xfffe;  // 0xffff: g_counters_marker
inline constexpr uint64_t kEntry = uint64_t{1} << 16;

/// The fallback counters of one guarded object (zero-initialised static
/// storage is a valid value).
struct Counters {
  std::atomic<uint32_t> epoch;       // which counter new entries use
  std::atomic<int32_t> inflight[2];  // guards inside, by epoch parity
};

/// One thread's marker. word: entries << 16 | tag while inside a guard of
/// `tag`, entries << 16 outside. Written by its thread only.
struct alignas(64) Marker {
  std::atomic<uint64_t> word;
  Marker* next;               // the list of all markers; fixed once published
  std::atomic<bool> taken;    // a live thread holds it
};

enum Mode : int { kUnknown = 0, kAsymmetric = 1, kCountersOnly = 2 };

// --- process-wide state (constant-initialised, trivially destructible) ------
inline std::atomic<Marker*> g_markers{nullptr};  // every marker ever made
inline std::atomic<int> g_mode{kUnknown};
// The marker of threads that must use the counters: its tag is never 0, so
// the fast path never takes it.
inline Marker g_counters_marker{{kTagMask}, nullptr, {true}};
// initial-exec: read at a fixed offset from the thread pointer instead of
// through __tls_get_addr (a call per guard, ~2 ns). A library loaded with
// dlopen() takes such a variable from glibc's static TLS surplus (hundreds of
// bytes reserved for this); this is one pointer. glibc only: other C
// libraries (musl) do not promise it for dlopen()ed libraries.
#if defined(__GNUC__) && defined(__ELF__) && defined(__GLIBC__)
#define HR_INFLIGHT_TLS_MODEL __attribute__((tls_model("initial-exec")))
#else
#define HR_INFLIGHT_TLS_MODEL
#endif
inline thread_local Marker* t_marker HR_INFLIGHT_TLS_MODEL = nullptr;  // null until the first guard

namespace detail {

inline long membarrier(int cmd) noexcept {
#if defined(__linux__) && defined(__NR_membarrier)
  return syscall(__NR_membarrier, cmd, 0, 0);
#else
  (void)cmd;
  return -1;
#endif
}

// The closer's side of the asymmetric fence: a full barrier on every CPU
// running a thread of this process. False if the kernel refused.
inline bool heavy_barrier() noexcept {
#if defined(__linux__) && defined(__NR_membarrier)
  return membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0;
#else
  return false;
#endif
}

inline int decide_mode() noexcept {
#if defined(__linux__) && defined(__NR_membarrier)
  // HANDLE_REGISTRY_NO_MEMBARRIER set and neither empty nor "0": counters.
  const char* off = std::getenv("HANDLE_REGISTRY_NO_MEMBARRIER");
  if (off == nullptr || off[0] == '\0' || (off[0] == '0' && off[1] == '\0')) {
    const long cmds = membarrier(MEMBARRIER_CMD_QUERY);
    if (cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
        membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0) {
      return kAsymmetric;
    }
  }
#endif
  return kCountersOnly;
}

// Hands the thread's marker on when the thread exits.
struct MarkerRelease {
  Marker* marker = nullptr;
  ~MarkerRelease() {
    if (marker == nullptr) return;
    t_marker = &g_counters_marker;  // guards from later destructors: counters
    marker->taken.store(false, std::memory_order_release);
  }
};
inline thread_local MarkerRelease t_release;

}  // namespace detail

/// kAsymmetric or kCountersOnly, decided once per process.
inline int mode() noexcept {
  int m = g_mode.load(std::memory_order_acquire);
  if (m != kUnknown) return m;
  int expected = kUnknown;
  g_mode.compare_exchange_strong(expected, detail::decide_mode(), std::memory_order_acq_rel);
  return g_mode.load(std::memory_order_acquire);
}

/// For tests, before any guard: use the counters only (as without membarrier).
inline void force_counters_only() noexcept { g_mode.store(kCountersOnly, std::memory_order_release); }

/// How many markers exist (tests, diagnostics).
inline size_t marker_count() noexcept {
  size_t n = 0;
  for (Marker* m = g_markers.load(std::memory_order_acquire); m != nullptr; m = m->next) ++n;
  return n;
}

/// Gives this thread a marker (a released one, or a new one); falls back to
/// the counters for good if the process has no membarrier or memory is out.
inline Marker* take_marker() noexcept {
  // seq_cst push: a closer that reads the list empty (seq_cst, after its
  // publish) did so before this push, so this thread's first reads see its
  // change.
  Marker* m = mode() == kAsymmetric ? take_record(g_markers, std::memory_order_seq_cst) : nullptr;
  if (m == nullptr) {
    t_marker = &g_counters_marker;
    return t_marker;
  }
  detail::t_release.marker = m;
  t_marker = m;
  return m;
}

/// Marks the calling thread inside a guarded section of `c` / `tag` for the
/// guard's lifetime. Reads of what the closer publishes must follow the
/// construction (they do: the compiler barrier, and the closer's membarrier).
class Guard {
 public:
  Guard(Counters& c, uint32_t tag) noexcept {
    Marker* m = t_marker;
    if (m != nullptr && try_mark(m, tag)) return;
    enter_slow(c, tag);
  }
  ~Guard() {
    if (marker_ != nullptr) {
      // release: the closer's acquire read of the change follows every access
      // made under the guard.
      marker_->word.store(marker_->word.load(std::memory_order_relaxed) & ~kTagMask,
                          std::memory_order_release);
    } else {
      counter_->fetch_sub(1, std::memory_order_release);
    }
  }
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;

 private:
  // Marks the thread inside `tag` with its marker m, unless it is inside a
  // guard already (nested: the caller falls back to the counters).
#if defined(__GNUC__)
  __attribute__((always_inline))
#endif
  bool try_mark(Marker* m, uint32_t tag) noexcept {
    const uint64_t w = m->word.load(std::memory_order_relaxed);
    if ((w & kTagMask) != 0) return false;
    m->word.store((w + kEntry) | tag, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    marker_ = m;
    return true;
  }

  // Out of line: keeps the hot path's code (and its registers) small.
#if defined(__GNUC__)
  __attribute__((noinline, cold))
#endif
  void enter_slow(Counters& c, uint32_t tag) noexcept {
    if (t_marker == nullptr && try_mark(take_marker(), tag)) return;
    // No membarrier, a nested guard, or the thread is exiting: the counters.
    counter_ = &c.inflight[c.epoch.load(std::memory_order_seq_cst) & 1];
    counter_->fetch_add(1, std::memory_order_seq_cst);
  }

  Marker* marker_ = nullptr;
  std::atomic<int32_t>* counter_ = nullptr;
};

/// Guard's marker path without a Guard object, for a fast path that must
/// keep no state on its stack (post.cc): marks the calling thread inside
/// `tag` and returns its marker, with *out set to the word leave() stores;
/// nullptr (nothing done) if the thread has no marker yet, is inside a guard
/// already, uses the counters, or is exiting: the caller takes a Guard then.
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
inline Marker* try_enter(uint32_t tag, uint64_t* out) noexcept {
  Marker* m = t_marker;
  if (m == nullptr) return nullptr;
  const uint64_t w = m->word.load(std::memory_order_relaxed);
  if ((w & kTagMask) != 0) return nullptr;
  *out = w + kEntry;
  m->word.store(*out | tag, std::memory_order_relaxed);
  std::atomic_signal_fence(std::memory_order_seq_cst);  // as Guard::try_mark
  return m;
}

/// Ends the section try_enter() began (release, as ~Guard).
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
inline void leave(Marker* m, uint64_t out) noexcept { m->word.store(out, std::memory_order_release); }

namespace detail {
inline void backoff(uint32_t spins) noexcept {
  if (spins < 128) {
    hr::detail::cpu_relax();
  } else {
    std::this_thread::yield();
  }
}
}  // namespace detail

/// Waits until every guard of `c` / `tag` that might have read the state as
/// it was before the caller's last seq_cst store has ended. Any thread; never
/// under a guard of the same tag.
inline void synchronize(Counters& c, uint32_t tag) noexcept {
  // seq_cst load: see take_marker.
  Marker* const first = g_markers.load(std::memory_order_seq_cst);
  if (first != nullptr) {
    if (!detail::heavy_barrier()) {
      // Registered at the first marker (mode()), so this does not fail; if
      // it ever did, waiting could not be proven safe.
      std::abort();
    }
    for (Marker* m = first; m != nullptr; m = m->next) {
      const uint64_t w = m->word.load(std::memory_order_acquire);
      if ((w & kTagMask) != tag) continue;
      for (uint32_t spins = 0; m->word.load(std::memory_order_acquire) == w; ++spins) detail::backoff(spins);
    }
  }
  for (int pass = 0; pass < 2; ++pass) {
    const uint32_t e = c.epoch.fetch_add(1, std::memory_order_seq_cst);
    std::atomic<int32_t>& n = c.inflight[e & 1];
    for (uint32_t spins = 0; n.load(std::memory_order_seq_cst) != 0; ++spins) detail::backoff(spins);
  }
}

}  // namespace inflight
}  // namespace hr_native

#endif  // HANDLE_REGISTRY_NATIVE_INFLIGHT_H_
