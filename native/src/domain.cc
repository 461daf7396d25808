// domain.cc: the process-wide domain table, the owner slots, and routing of
// posted events (any thread). See internal.h for the close protocol.
#include <thread>

#include "internal.h"

namespace hr_native {

namespace {

using hr::Status;

// The domain words: static, zero until first use, never freed.
alignas(64) Word g_domain[dom::kDomainWords];
std::atomic<int32_t> g_domain_state;  // 0 = untouched, 1 = initialising, 2 = ready
hr_api_v1 g_api;                      // filled once, with the domain

constexpr int32_t kOk = static_cast<int32_t>(Status::kOk);
constexpr int32_t kInvalid = static_cast<int32_t>(Status::kInvalidHandle);
constexpr int32_t kStale = static_cast<int32_t>(Status::kStaleHandle);
constexpr int32_t kClosedSt = static_cast<int32_t>(Status::kRegistryClosed);
constexpr int32_t kFull = static_cast<int32_t>(Status::kQueueFull);
constexpr int32_t kTooLarge = static_cast<int32_t>(Status::kPayloadTooLarge);

static_assert(HR_ABI_VERSION == HANDLE_REGISTRY_ABI_VERSION, "C and C++ ABI versions");
static_assert(HR_STATUS_OK == kOk && HR_STATUS_INVALID_HANDLE == kInvalid &&
                  HR_STATUS_STALE_HANDLE == kStale &&
                  HR_STATUS_FOREIGN_HANDLE == static_cast<int32_t>(Status::kForeignHandle) &&
                  HR_STATUS_REGISTRY_CLOSED == kClosedSt && HR_STATUS_QUEUE_FULL == kFull &&
                  HR_STATUS_VERSION_MISMATCH == static_cast<int32_t>(Status::kVersionMismatch) &&
                  HR_STATUS_NOT_ATTACHED == static_cast<int32_t>(Status::kNotAttached) &&
                  HR_STATUS_PAYLOAD_TOO_LARGE == kTooLarge,
              "HR_STATUS_* must equal hr::Status");
static_assert(sizeof(hr_event_v1) == sizeof(hr::Event) &&
                  offsetof(hr_event_v1, payload) == offsetof(hr::Event, payload),
              "hr_event_v1 and hr::Event share a layout");

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

inline uint32_t block_of(uint64_t h) noexcept {
  return static_cast<uint32_t>(h >> hr::kOffsetBits) & hr::kBlockMask;
}
inline uint32_t owner_of_route(int32_t w0) noexcept {
  return static_cast<uint32_t>(w0) >> kPageBits;
}
// No init check on the hot path: block words are 0 until a claim, and
// claims go through domain().
inline Word& route(uint32_t b) noexcept { return g_domain[dom::block_word_index(b) + kRouteWord]; }
inline Word& meta(uint32_t b) noexcept { return g_domain[dom::block_word_index(b) + kMetaWord]; }

// Step 1: validate h and read its block's route word. kOk with *w0 set (nonzero,
// owner in 1..4095), or the final status (counted process-wide if `count`).
inline int32_t locate(uint64_t h, int32_t* w0, bool count) noexcept {
  if (!hr::is_valid(h)) {
    if (count) g_unrouted_invalid.fetch_add(1, std::memory_order_relaxed);
    return kInvalid;
  }
  const uint32_t b = block_of(h);
  const int32_t w = route(b).load(std::memory_order_acquire);
  if (w == 0) {
    // Retired blocks keep word 1 (with RETIRED) for ever; never-claimed
    // blocks have word 1 == 0 (or a claim is being published right now, in
    // which case no handle of the block can exist yet).
    const int32_t m = meta(b).load(std::memory_order_acquire);
    const bool retired = (m & dom::kRetired) != 0;
    if (count) (retired ? g_unrouted_closed : g_unrouted_invalid).fetch_add(1, std::memory_order_relaxed);
    return retired ? kClosedSt : kInvalid;
  }
  const uint32_t owner = owner_of_route(w);
  if (owner == 0 || owner > hr::kMaxOwners) {  // only if someone scribbled on the table
    if (count) g_unrouted_invalid.fetch_add(1, std::memory_order_relaxed);
    return kInvalid;
  }
  *w0 = w;
  return kOk;
}

// Step 2, under an InflightGuard of the owner: the owner is open and the
// block still belongs to it (its route word is unchanged). Else kRegistryClosed, counted to the closing
// owner when it is still that incarnation, else process-wide.
inline int32_t admit(OwnerSlot& s, uint32_t b, int32_t w0, bool count) noexcept {
  const int32_t st = s.status.load(std::memory_order_seq_cst);
  const int32_t now = route(b).load(std::memory_order_seq_cst);
  if (st == kOpen && now == w0) return kOk;
  if (count) {
    if (st == kClosed && now == w0) {
      s.dropped_closed.fetch_add(1, std::memory_order_relaxed);
    } else {
      g_unrouted_closed.fetch_add(1, std::memory_order_relaxed);
    }
  }
  return kClosedSt;
}

// Step 3, admitted: the slot's state word holds h's generation and is live
// (strong or weak). kInvalid if the slot lies outside the published region.
inline int32_t liveness(StateRegion* r, uint64_t h, int32_t w0) noexcept {
  const uint32_t local = ((static_cast<uint32_t>(w0) & kPageMask) << hr::kOffsetBits) |
                         static_cast<uint32_t>(h & hr::kOffsetMask);
  if (r == nullptr || local >= r->slots) return kInvalid;
  const uint32_t sw = static_cast<uint32_t>(hr::detail::load_relaxed(r->words() + local));
  const uint32_t gen = static_cast<uint32_t>(h >> hr::kSlotBits) & hr::kGenMax;
  return (sw | 2u) == ((gen << 2) | 3u) ? kOk : kStale;
}

inline void count_liveness_drop(OwnerSlot& s, int32_t st) noexcept {
  (st == kStale ? s.dropped_stale : s.dropped_invalid).fetch_add(1, std::memory_order_relaxed);
}

inline void wake(EventPath* p) noexcept {
  // The wake-up protocol of internal.h (EventPath). The push's claim was a
  // seq_cst CAS; this seq_cst load (a plain load on x86) either sees the
  // consumer's `false`, or the consumer's re-check after clearing it sees the
  // claim. Only a post that finds no wake-up pending writes the line.
  if (p->scheduled.load(std::memory_order_seq_cst)) return;
  if (!p->scheduled.exchange(true, std::memory_order_seq_cst)) uv_async_send(&p->async);
}

inline int32_t push(OwnerSlot& s, EventPath* p, const hr::Event& ev) noexcept {
  if (p == nullptr) {
    s.dropped_closed.fetch_add(1, std::memory_order_relaxed);
    return kClosedSt;
  }
  if (p->queue.try_push(ev) != Status::kOk) {
    s.dropped_full.fetch_add(1, std::memory_order_relaxed);
    return kFull;
  }
  return kOk;
}

void init_domain() noexcept {
  int32_t expected = 0;
  if (g_domain_state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
    g_domain[dom::kNextBlockIndex].store(1, std::memory_order_seq_cst);
    g_domain[dom::kLayoutVersionIndex].store(dom::kLayoutVersion, std::memory_order_seq_cst);
    g_domain[dom::kMagicIndex].store(dom::kMagic, std::memory_order_seq_cst);
    g_api.abi_version = HR_ABI_VERSION;
    g_api.size = sizeof(hr_api_v1);
    g_api.post = [](uint64_t h, uint32_t kind, double payload) -> int32_t {
      return hr_native::post(h, kind, payload);
    };
    g_api.is_live = [](uint64_t h) -> int32_t { return check_live(h) == kOk ? 1 : 0; };
    g_api.post_many = [](const hr_event_v1* ev, size_t n, int32_t* statuses) -> size_t {
      return hr_native::post_many(ev, n, statuses);
    };
    g_api.post_bytes = [](uint64_t h, uint32_t kind, const void* data, uint32_t size) -> int32_t {
      return hr_native::post_bytes(h, kind, data, size);
    };
    g_api.domain_words = reinterpret_cast<const int32_t*>(g_domain);
    g_api.domain_word_count = dom::kDomainWords;
    g_domain_state.store(2, std::memory_order_release);
    return;
  }
  while (g_domain_state.load(std::memory_order_acquire) != 2) std::this_thread::yield();
}

}  // namespace

OwnerSlot g_owners[dom::kOwnerWords];
std::atomic<uint64_t> g_unrouted_invalid;
std::atomic<uint64_t> g_unrouted_closed;

Word* domain() noexcept {
  if (g_domain_state.load(std::memory_order_acquire) != 2) init_domain();
  return g_domain;
}

const hr_api_v1* api_table() noexcept {
  domain();
  return &g_api;
}

void synchronize(OwnerSlot& s) noexcept {
  for (int pass = 0; pass < 2; ++pass) {
    const uint32_t e = s.epoch.fetch_add(1, std::memory_order_seq_cst);
    std::atomic<int32_t>& c = s.inflight[e & 1];
    for (uint32_t spins = 0; c.load(std::memory_order_seq_cst) != 0; ++spins) {
      if (spins < 128) {
        cpu_relax();
      } else {
        std::this_thread::yield();
      }
    }
  }
}

// The checks every entry point shares: route h to its owner, hold the
// owner's in-flight guard, admit (owner open, route unchanged), check the
// slot is live; then run `then(owner)` still under the guard. `posting`
// counts drops in the owner's stats (check_live counts nothing).
template <typename Then>
int32_t with_live_handle(uint64_t h, bool posting, Then&& then) noexcept {
  int32_t w0 = 0;
  int32_t st = locate(h, &w0, posting);
  if (st != kOk) return st;
  OwnerSlot& s = g_owners[owner_of_route(w0)];
  InflightGuard guard(s);
  st = admit(s, block_of(h), w0, posting);
  if (st != kOk) return st;
  st = liveness(s.region.load(std::memory_order_seq_cst), h, w0);
  if (st != kOk) {
    if (posting) count_liveness_drop(s, st);
    return st;
  }
  return then(s);
}

int32_t post(uint64_t h, uint32_t kind, double payload) noexcept {
  return with_live_handle(h, true, [&](OwnerSlot& s) noexcept {
    EventPath* p = s.events.load(std::memory_order_seq_cst);
    const int32_t st = push(s, p, hr::Event{h, kind, 0, payload});
    if (st == kOk) wake(p);
    return st;
  });
}

int32_t post_bytes(uint64_t h, uint32_t kind, const void* data, uint32_t size) noexcept {
  if (size == 0) return post(h, kind, 0.0);
  return with_live_handle(h, true, [&](OwnerSlot& s) noexcept {
    EventPath* p = s.events.load(std::memory_order_seq_cst);
    if (p == nullptr) {
      s.dropped_closed.fetch_add(1, std::memory_order_relaxed);
      return kClosedSt;
    }
    if (size > p->max_bytes) {
      s.dropped_too_large.fetch_add(1, std::memory_order_relaxed);
      return kTooLarge;
    }
    void* buf = std::malloc(size);
    if (buf == nullptr) {
      s.dropped_full.fetch_add(1, std::memory_order_relaxed);
      return kFull;
    }
    std::memcpy(buf, data, size);
    const int32_t st = push(s, p, hr::Event{h, kind, size, pack_bytes(buf)});
    if (st == kOk) {
      wake(p);
    } else {
      std::free(buf);  // not queued: still ours
    }
    return st;
  });
}

int32_t check_live(uint64_t h) noexcept {
  return with_live_handle(h, false, [](OwnerSlot&) noexcept { return kOk; });
}

size_t post_many(const hr_event_v1* events, size_t count, int32_t* statuses) noexcept {
  constexpr size_t kStage = 64;  // events pushed per claim of queue cells
  size_t ok = 0;
  size_t i = 0;
  // Owners whose queue was full during this call: their later events are not
  // pushed, so re-posting the failed events in order keeps the order.
  bool any_full = false;
  uint64_t full_owners[dom::kOwnerWords / 64];
  while (i < count) {
    uint64_t h = events[i].handle;
    int32_t w0 = 0;
    int32_t st = locate(h, &w0, true);
    if (st == kOk) {
      const uint32_t owner = owner_of_route(w0);
      OwnerSlot& s = g_owners[owner];
      InflightGuard guard(s);
      st = admit(s, block_of(h), w0, true);
      if (st == kOk) {
        // A run of events of this owner under one guard. A route word
        // naming `owner` read after admit() belongs to this incarnation: the
        // previous one zeroed all of its blocks' route words before the index
        // could be claimed again, and this one cannot finish closing while
        // we hold the guard.
        StateRegion* r = s.region.load(std::memory_order_seq_cst);
        EventPath* p = s.events.load(std::memory_order_seq_cst);
        bool pushed = false;
        bool full = any_full && (full_owners[owner / 64] >> (owner % 64) & 1) != 0;
        // Live events are staged and pushed kStage at a time with one claim
        // of queue cells (try_push_many); their statuses are set then.
        hr::Event staged[kStage];
        size_t staged_at[kStage];
        size_t k = 0;
        const auto flush = [&]() noexcept {
          size_t m = 0;
          if (p == nullptr) {
            s.dropped_closed.fetch_add(k, std::memory_order_relaxed);
          } else {
            m = p->queue.try_push_many(staged, k);
            if (m < k) {
              s.dropped_full.fetch_add(k - m, std::memory_order_relaxed);
              if (!any_full) {
                any_full = true;
                for (uint64_t& bits : full_owners) bits = 0;
              }
              full_owners[owner / 64] |= uint64_t{1} << (owner % 64);
              full = true;
            }
          }
          if (m > 0) {
            ok += m;
            pushed = true;
          }
          if (statuses != nullptr) {
            for (size_t j = 0; j < k; ++j) {
              statuses[staged_at[j]] = j < m ? kOk : (p == nullptr ? kClosedSt : kFull);
            }
          }
          k = 0;
        };
        for (;;) {
          st = liveness(r, h, w0);
          if (st != kOk) {
            count_liveness_drop(s, st);
            if (statuses != nullptr) statuses[i] = st;
          } else if (full) {
            s.dropped_full.fetch_add(1, std::memory_order_relaxed);
            if (statuses != nullptr) statuses[i] = kFull;
          } else {
            const hr_event_v1& e = events[i];
            staged[k] = hr::Event{h, e.kind, 0, e.payload};  // numeric: size ignored
            staged_at[k] = i;
            if (++k == kStage) flush();
          }
          if (++i == count) break;
          h = events[i].handle;
          if (!hr::is_valid(h)) break;
          w0 = route(block_of(h)).load(std::memory_order_acquire);
          if (w0 == 0 || owner_of_route(w0) != owner) break;
        }
        if (k > 0) flush();
        if (pushed) wake(p);
        continue;
      }
    }
    if (statuses != nullptr) statuses[i] = st;
    ++i;
  }
  return ok;
}

}  // namespace hr_native
