// post.cc: routing of posted events (any thread): post, post_wait, post_many,
// post_bytes and is_live share one guarded liveness check
// (with_live_handle), under the close protocol of owners.h; and the static
// C ABI table that hands them to other addons. Over 400 lines since api->post
// got its inlined fast path (issue 11): it shares locate/admit/liveness with
// the other entry points here, which would otherwise have to be exported.
#include "post.h"

#include "calls.h"  // api->call
#include "event_path.h"
#include "handle_registry_diagnostics.h"  // detail::load_relaxed of the state words
#include "owners.h"
#include "status_codes.h"
#include "hold.h"     // api->hold / unhold
#include "post_wait.h"  // a full queue: the owner's whenFull, api->post_wait
#include "resolve.h"  // api->resolve, appended to the table

namespace hr_native {

namespace {

using hr::Status;

using namespace status;  // kOk, kInvalid, ...: status_codes.h

static_assert(sizeof(hr_event_v1) == sizeof(Event) &&
                  offsetof(hr_event_v1, kind) == offsetof(Event, kind) &&
                  offsetof(hr_event_v1, size) == offsetof(Event, size) &&
                  offsetof(hr_event_v1, payload) == offsetof(Event, payload),
              "hr_event_v1 and Event share a layout");

inline uint32_t block_of(uint64_t h) noexcept {
  return static_cast<uint32_t>(h >> lay::kOffsetBits) & lay::kBlockMask;
}

// Step 1: validate h and read its block's route word. kOk with *w0 set (nonzero,
// owner in 1..4095), or the final status (counted process-wide if `count`).
inline int32_t locate(uint64_t h, int32_t* w0, bool count) noexcept {
  if (!hr::is_valid(h)) {
    if (count) g_unrouted_invalid.fetch_add(1, std::memory_order_relaxed);
    return kInvalid;
  }
  const uint32_t b = block_of(h);
  const int32_t w = route_word(b).load(std::memory_order_acquire);
  if (w == 0) {
    // Retired blocks keep word 1 (with RETIRED) for ever; never-claimed
    // blocks have word 1 == 0 (or a claim is being published right now, in
    // which case no handle of the block can exist yet).
    const int32_t m = meta_word(b).load(std::memory_order_acquire);
    const bool retired = (m & dom::kRetired) != 0;
    if (count) (retired ? g_unrouted_closed : g_unrouted_invalid).fetch_add(1, std::memory_order_relaxed);
    return retired ? kClosedSt : kInvalid;
  }
  const uint32_t owner = dom::route_owner(w);
  if (owner == 0 || owner > lay::kMaxOwners) {  // only if someone scribbled on the table
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
  const int32_t now = route_word(b).load(std::memory_order_seq_cst);
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
// (strong or weak). kInvalid if the slot lies outside the published region;
// kRegistryClosed if h's generation is below its block's base (a handle of an
// earlier, closed owner of the block: the base is the private one, fixed
// before the block was claimed, and stable while its owner holds it).
inline bool below_base(uint64_t h) noexcept {
  const uint32_t gen = static_cast<uint32_t>(h >> lay::kSlotBits) & lay::kGenMax;
  return gen < g_blocks[block_of(h)].base.load(std::memory_order_relaxed);
}

inline int32_t liveness(StateRegion* r, uint64_t h, int32_t w0) noexcept {
  if (below_base(h)) return kClosedSt;
  const uint32_t gen = static_cast<uint32_t>(h >> lay::kSlotBits) & lay::kGenMax;
  const uint32_t local = (dom::route_page(w0) << lay::kOffsetBits) |
                         static_cast<uint32_t>(h & lay::kOffsetMask);
  if (r == nullptr || local >= r->slots) return kInvalid;
  const uint32_t sw = static_cast<uint32_t>(hr::detail::load_relaxed(r->words() + local));
  // Live (strong or weak) with h's generation: ignore the weak bit.
  return (sw | lay::kStateWeak) == (gen << lay::kStateGenShift | lay::kStateWeak | lay::kStateLive) ? kOk : kStale;
}

inline void count_liveness_drop(OwnerSlot& s, int32_t st) noexcept {
  if (st == kClosedSt) {  // an earlier owner's handle: not this owner's drop
    g_unrouted_closed.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  (st == kStale ? s.dropped_stale : s.dropped_invalid).fetch_add(1, std::memory_order_relaxed);
}

// Queues ev on p (or the full policy decides: post_wait.h). A byte event's
// buffer stays the caller's unless the answer is kOk.
inline int32_t push(OwnerSlot& s, EventPath* p, const Event& ev, WaitTicket& t) noexcept {
  if (p == nullptr) {
    s.dropped_closed.fetch_add(1, std::memory_order_relaxed);
    return kClosedSt;
  }
  if (path_enqueue(p, ev, event_extra(ev)) == Status::kOk) return kOk;
  return queue_full(s, p, ev, t);
}

}  // namespace

namespace {
int32_t c_is_live(uint64_t h) noexcept { return is_live(h); }
int32_t c_hold(uint64_t h) noexcept;
int32_t c_unhold(uint64_t h) noexcept;
}  // namespace

const hr_api_v1* api_table() noexcept {
  // A function-local static: initialised once, thread-safely, on first use;
  // trivially destructible, so valid until the process ends.
  static const hr_api_v1 table = {
      HR_ABI_VERSION, sizeof(hr_api_v1), &post, &c_is_live, &post_many,
      reinterpret_cast<const int32_t*>(domain()), dom::kDomainWords, &post_bytes,
      &resolve,       &c_hold,   &c_unhold, &post_wait,
      &call,          &free_reply,
  };
  return &table;
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
  OwnerSlot& s = g_owners[dom::route_owner(w0)];
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

int32_t post_once(const Event& ev, WaitTicket& t) noexcept {
  return with_live_handle(ev.handle, true, [&](OwnerSlot& s) noexcept {
    EventPath* p = s.events.load(std::memory_order_seq_cst);
    if (p != nullptr && ev.size > p->max_bytes) {  // a byte event, again after a wait
      s.dropped_too_large.fetch_add(1, std::memory_order_relaxed);
      return kTooLarge;
    }
    const int32_t st = push(s, p, ev, t);
    if (st == kOk) wake(p);
    return st;
  });
}

namespace {

#if defined(__GNUC__)
#define HR_POST_NOINLINE __attribute__((noinline))
#else
#define HR_POST_NOINLINE
#endif

// Any post the fast path below does not finish: routed again from the
// start, as if the fast path had not run (it counted nothing, queued
// nothing; a ring lookup may have claimed a ring or advanced the thread's
// countdown to one: harmless).
HR_POST_NOINLINE int32_t post_slow(uint64_t h, uint32_t kind, double payload) noexcept {
  const Event ev{h, kind, 0, payload};
  // Room in the queue, or the default policy's drop. Nothing else is done
  // here (no WaitTicket): every other case is routed again by post_once,
  // with nothing counted yet.
  const int32_t st = with_live_handle(h, true, [&](OwnerSlot& s) noexcept {
    EventPath* p = s.events.load(std::memory_order_seq_cst);
    if (p == nullptr) {
      s.dropped_closed.fetch_add(1, std::memory_order_relaxed);
      return kClosedSt;
    }
    if (path_enqueue(p, ev, 0) == Status::kOk) {
      wake(p);
      return kOk;
    }
    if (p->full.policy() != WhenFull::kBlock) {
      s.dropped_full.fetch_add(1, std::memory_order_relaxed);
      return kFull;
    }
    return kMustWait;
  });
  if (st != kMustWait) return st;
  WaitTicket t;  // whenFull 'block': wait for room (post_wait.cc)
  const int32_t again = post_once(ev, t);
  return again == kMustWait ? wait_and_post(ev, t) : again;
}

// The same for api->post_wait (its `timeout_ms` after the event): routed
// again by post_wait_routed (post_wait.cc), which waits whatever the policy.
// One name for both, so the fast path's body below serves both entry points.
inline int32_t post_slow(uint64_t h, uint32_t kind, double payload, uint32_t timeout_ms) noexcept {
  return post_wait_routed(h, kind, payload, timeout_ms);
}

// The fast path's parts that call out, each entered under the guard of
// post() (marker m, left by storing `out`) and leaving it, called as post()'s
// tail calls: post() itself then keeps nothing on its stack (no Guard
// object, no spills) and saves two registers beside the frame pointer.
// `wait...` is empty for api->post and {timeout_ms} for api->post_wait: it
// only picks the post_slow above that finishes the post.

// The path is admitted but the thread's last ring is not this path's, or
// looked full: the lanes as lanes_enqueue picks them (the thread's ring,
// found or claimed, its room read again, or the shared queue), without the
// overflow (post() checked it is inactive).
template <class... Wait>
HR_POST_NOINLINE int32_t post_routed(EventPath* p, uint64_t h, uint32_t kind, double payload,
                                     inflight::Marker* m, uint64_t out, Wait... wait) noexcept {
  SpscRing<Event>* r = ring_of(p->rings, p->queue, p->full, 1);
  bool ok = false;
  if (r == nullptr) {
    ok = p->queue.try_push(Event{h, kind, 0, payload}) == Status::kOk;
    if (ok) note_shared(p->rings, p->queue, 1);
  } else if (r != exiting_ring<Event>()) {
    ok = r->try_push_with([&](Event& c) noexcept {
      c.handle = h;
      c.kind = kind;
      c.size = 0;
      c.payload = payload;
    });
  }
  if (ok) wake(p);
  inflight::leave(m, out);
  return ok ? kOk : post_slow(h, kind, payload, wait...);
}

// Pushed, and no wake-up was pending: signal the consumer (under the guard:
// the path's waker lives until the closer's synchronize()).
HR_POST_NOINLINE int32_t wake_and_leave(EventPath* p, inflight::Marker* m, uint64_t out) noexcept {
  wake(p);
  inflight::leave(m, out);
  return kOk;
}

// The path of almost every post (issue 11, item 3): a live handle of an open
// owner, posted by a thread whose last ring (rings::t_last) is this path's,
// with room in it. The same checks as with_live_handle (route, guard, admit,
// liveness), each read once; the guard is the thread's marker (try_enter),
// the ring one TLS compare (last_ring). Everything else leaves through a tail
// call (post_routed, wake_and_leave, post_slow). It counts nothing and never
// meets a full queue, so api->post and api->post_wait share it: they differ
// only in the post_slow that finishes what it does not (`wait...`).
template <class... Wait>
HR_QUEUE_INLINE int32_t post_fast(uint64_t h, uint32_t kind, double payload, Wait... wait) noexcept {
  if (!hr::is_valid(h)) return post_slow(h, kind, payload, wait...);
  const uint32_t b = block_of(h);
  const int32_t w0 = route_word(b).load(std::memory_order_acquire);
  const uint32_t owner = dom::route_owner(w0);
  // One compare for 1..kMaxOwners (a route word of 0, unclaimed, names owner 0).
  if (owner - 1 >= lay::kMaxOwners) return post_slow(h, kind, payload, wait...);
  uint64_t out = 0;
  inflight::Marker* const m = inflight::try_enter(owner, &out);
  if (m == nullptr) return post_slow(h, kind, payload, wait...);  // the thread's first guard, nested, no membarrier
  OwnerSlot& s = g_owners[owner];
  if (admit(s, b, w0, false) == kOk && liveness(s.region.load(std::memory_order_seq_cst), h, w0) == kOk) {
    EventPath* const p = s.events.load(std::memory_order_seq_cst);
    if (p != nullptr && !p->full.overflow.active()) {
      const bool pushed = lanes_try_push_last(p->rings, [&](Event& c) noexcept {
        c.handle = h;
        c.kind = kind;
        c.size = 0;
        c.payload = payload;
      });
      if (!pushed) return post_routed(p, h, kind, payload, m, out, wait...);  // another ring, none, or full
      // wake(), its common case inline: a wake-up is pending already.
      std::atomic_signal_fence(std::memory_order_seq_cst);
      const bool pending = p->scheduled.load(std::memory_order_seq_cst);
#if defined(__GNUC__)
      if (__builtin_expect(!pending, false)) return wake_and_leave(p, m, out);
#else
      if (!pending) return wake_and_leave(p, m, out);
#endif
      inflight::leave(m, out);
      return kOk;
    }
  }
  inflight::leave(m, out);
  return post_slow(h, kind, payload, wait...);
}

}  // namespace

int32_t post(uint64_t h, uint32_t kind, double payload) noexcept { return post_fast(h, kind, payload); }

// Room in the queue: as post() (same lanes, same order, nothing counted).
// Full, or anything the fast path does not finish: post_wait_routed.
int32_t post_wait(uint64_t h, uint32_t kind, double payload, uint32_t timeout_ms) noexcept {
  return post_fast(h, kind, payload, timeout_ms);
}

int32_t post_bytes(uint64_t h, uint32_t kind, const void* data, uint32_t size) noexcept {
  if (size == 0) return post(h, kind, 0.0);
  Event ev{h, kind, size, 0.0};
  WaitTicket t;
  int32_t st = with_live_handle(h, true, [&](OwnerSlot& s) noexcept {
    EventPath* p = s.events.load(std::memory_order_seq_cst);
    const int32_t admitted = admit_bytes(s, p, size);
    if (admitted != kOk) return admitted;
    void* buf = std::malloc(size);
    if (buf == nullptr) {
      s.dropped_full.fetch_add(1, std::memory_order_relaxed);
      return kFull;
    }
    std::memcpy(buf, data, size);
    ev.payload = pack_bytes(buf);
    const int32_t pushed = push(s, p, ev, t);
    if (pushed == kOk) {
      wake(p);
    } else if (pushed != kMustWait) {
      std::free(buf);  // not queued: still ours
    }
    return pushed;
  });
  if (st == kMustWait) {
    st = wait_and_post(ev, t);  // whenFull 'block'
    if (st != kOk) std::free(unpack_bytes(ev.payload));
  }
  return st;
}

int32_t call(uint64_t h, uint32_t kind, double payload, const void* data, uint32_t size,
             uint32_t timeout_ms, hr_reply_v1* reply) noexcept {
  if (reply != nullptr) *reply = hr_reply_v1{0, nullptr, 0, 0};
  CallRecord* rec = nullptr;
  const int32_t st = with_live_handle(h, true, [&](OwnerSlot& s) noexcept {
    // The JS thread that would run the handler would wait for itself.
    if (on_owner_thread(s)) return kWouldDeadlock;
    return queue_call(s, s.events.load(std::memory_order_seq_cst), h, kind, payload, data, size, &rec);
  });
  // Waits outside the guard: close() must not wait for this caller.
  return st == kOk ? await_call(rec, timeout_ms, reply) : st;
}

int32_t is_live(uint64_t h) noexcept {
  // On the owner's JS thread a collected weak target is visible before its
  // finalizer releases the slot (resolve.cc).
  return check_live(h) == kOk && !weak_target_collected(h) ? 1 : 0;
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
  // whenFull 'block': the events of a run that found the queue full end the
  // run; they are posted one by one, waiting (outside the guard), before
  // the call goes on, so the order holds.
  Event left[kStage];
  size_t left_at[kStage];
  size_t nleft = 0;
  const auto post_left = [&]() noexcept {
    for (size_t j = 0; j < nleft; ++j) {
      WaitTicket t;
      int32_t st = post_once(left[j], t);
      if (st == kMustWait) st = wait_and_post(left[j], t);
      if (st == kOk) ++ok;
      if (statuses != nullptr) statuses[left_at[j]] = st;
    }
    nleft = 0;
  };
  while (i < count) {
    if (nleft > 0) post_left();
    uint64_t h = events[i].handle;
    int32_t w0 = 0;
    int32_t st = locate(h, &w0, true);
    if (st == kOk) {
      const uint32_t owner = dom::route_owner(w0);
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
        Event staged[kStage];
        size_t staged_at[kStage];
        size_t k = 0;
        const auto flush = [&]() noexcept {
          size_t m = 0;
          if (p == nullptr) {
            s.dropped_closed.fetch_add(k, std::memory_order_relaxed);
          } else {
            m = path_enqueue_many(p, staged, k);
            if (m < k && p->full.policy() == WhenFull::kBlock) {
              for (size_t j = m; j < k; ++j) {
                left[nleft] = staged[j];
                left_at[nleft++] = staged_at[j];
              }
              k = m;  // the rest gets its status from post_left()
            } else if (m < k) {
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
            staged[k] = Event{h, e.kind, 0, e.payload};  // numeric: size ignored
            staged_at[k] = i;
            if (++k == kStage) {
              flush();
              if (nleft > 0) {  // 'block' and full: end the run, post the rest waiting
                ++i;
                break;
              }
            }
          }
          if (++i == count) break;
          h = events[i].handle;
          if (!hr::is_valid(h)) break;
          w0 = route_word(block_of(h)).load(std::memory_order_acquire);
          if (w0 == 0 || dom::route_owner(w0) != owner) break;
        }
        if (k > 0) flush();
        if (pushed) wake(p);
        continue;
      }
    }
    if (statuses != nullptr) statuses[i] = st;
    ++i;
  }
  if (nleft > 0) post_left();
  return ok;
}

// api->hold / api->unhold: routed and guarded as a post (the hold state of
// hold.cc is freed only after close_owner's synchronize()). hold needs a live
// handle; unhold only an open owner that issued it (not an earlier owner of a
// reused block: its holds went with it), so a handle JS released meanwhile
// can still give its hold back.
namespace {

int32_t c_hold(uint64_t h) noexcept {
  return with_live_handle(h, false, [](OwnerSlot& s) noexcept {
    return add_hold(static_cast<uint32_t>(&s - g_owners));
  });
}

int32_t c_unhold(uint64_t h) noexcept {
  int32_t w0 = 0;
  int32_t st = locate(h, &w0, false);
  if (st != kOk) return st;
  OwnerSlot& s = g_owners[dom::route_owner(w0)];
  InflightGuard guard(s);
  st = admit(s, block_of(h), w0, false);
  if (st != kOk) return st;
  if (below_base(h)) return kClosedSt;
  return drop_hold(dom::route_owner(w0));
}

}  // namespace

}  // namespace hr_native
