// producer_rings.h: a single-producer ring per (producer thread, event path),
// beside the path's shared queue (issue 11, items 3 and 4). A post from a
// thread that has a ring is a plain store into the ring's cell and a release
// store of its tail: no read-modify-write, and no cache line shared with the
// other producers. Header-only and Node-free so that native/test/test_rings.cc
// runs it under ASan and TSan; the event path (event_path.h/.cc), post.cc,
// post_wait.cc and calls.cc use it. Over 400 lines on purpose: the ring, the
// set of rings, the thread's cache and tag, and the lanes' enqueue / consume /
// idle re-check are one protocol (order, capacity, wake-up, hand-over at
// thread exit); split, each part's comments would have to restate the rest.
//
// Lanes of one path: the shared queue (BoundedQueue, any thread), up to
// `max_rings` SpscRings (one per producer thread, claimed once the thread has
// made kSharedPostsPerClaim posts through the shared queue, those refused for
// a full queue included: a thread retrying hard is a busy one; kept until the
// thread exits), the 'grow' overflow. Order across threads: the shared queue
// delivers in the order of its claims, which follows happens-before (a post
// that happens before another is delivered first); rings do not: events of
// two threads with rings may be delivered in either order, even when one
// post happens before the other. The events of one producer thread keep
// their order:
//   - every push of a thread goes to its ring once it has one (post,
//     post_many, post_bytes, post_wait, call, 'block''s retries), or to the
//     overflow while that holds anything (back_pressure.h's rule);
//   - a thread that pushed to the shared queue before it got its ring (the
//     rings were at their cap, or 'grow' was the policy, and a cache entry
//     was lost since) cannot be overtaken by its ring: the ring remembers the
//     shared queue's enqueue position at its claim and the consumer takes
//     nothing from it until the shared queue was consumed up to there;
//   - a live thread never leaves its ring for the shared queue: its ring is
//     found again by the thread's id after a cache miss;
//   - thread exit: the thread's tag (never freed) stops naming it, which
//     makes its rings reclaimable, but only once empty, and only under the
//     set's mutex. Posts the thread still makes while it exits (from later
//     thread_local destructors) go to its ring under that same mutex while
//     the ring is still its own; once another thread took it over (it was
//     empty: every earlier event of the exiting thread was consumed), to the
//     shared queue, which cannot overtake anything any more.
// Memory: each ring holds `capacity` events (24 bytes each, calloc'd: pages
// cost only once reached), at most `max_rings` per path (threads beyond the
// cap keep the shared queue), reused by new threads once their thread exited
// and they are empty, freed with the path. Under 'grow' no ring is claimed,
// and the rings claimed before count against the overflow's cap.
//
// Wake-up (`scheduled`, event_path.h): a ring's producer publishes with a
// release store, which does not order its later load of `scheduled`. The
// consumer going idle pays for it (lanes_try_idle): scheduled = false,
// membarrier(PRIVATE_EXPEDITED) (inflight.h), then re-check every lane:
// either a producer's tail store came before the barrier (seen by the
// re-check), or its load of `scheduled` came after it (sees false, signals).
// Without membarrier (inflight::kCountersOnly: old kernels, not Linux,
// HANDLE_REGISTRY_NO_MEMBARRIER=1) rings publish with a seq_cst store
// instead, which pairs with the consumer's seq_cst fence as the shared
// queue's CAS does.
#ifndef HANDLE_REGISTRY_NATIVE_PRODUCER_RINGS_H_
#define HANDLE_REGISTRY_NATIVE_PRODUCER_RINGS_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>
#include <type_traits>

#include "back_pressure.h"
#include "event_queue.h"
#include "inflight.h"

namespace hr_native {

/// Rings per path by default: beyond it, threads use the shared queue.
inline constexpr uint32_t kMaxRingsPerPath = 8;

namespace rings_detail {
/// A thread's tag: `live` holds the id of the thread that took it (0 while
/// free). Never freed: a thread's exit hands it on (as inflight.h's markers),
/// so a ring can always read its holder's tag to see whether it still lives.
struct alignas(64) Tag {
  std::atomic<uint64_t> live;
  Tag* next;               // the list of all tags; fixed once published
  std::atomic<bool> taken;
};
}  // namespace rings_detail

/// A bounded single-producer single-consumer ring (Lamport's, with cached
/// indexes). Capacity fixed at construction (a power of two, at least 2).
template <class T>
class SpscRing {
  static_assert(std::is_trivially_copyable<T>::value, "SpscRing<T>: T must be trivially copyable");

 public:
  /// A ring of `capacity` cells (rounded up to a power of two) for thread
  /// `thread`, or nullptr if out of memory. `after_shared`: see RingSet.
  static SpscRing* create(size_t capacity, bool fenced) noexcept {
    const size_t cap = detail::round_up_pow2(capacity < 2 ? 2 : capacity);
    T* cells = static_cast<T*>(std::calloc(cap, sizeof(T)));
    if (cells == nullptr) return nullptr;
    SpscRing* r = new (std::nothrow) SpscRing(cells, cap - 1, fenced);
    if (r == nullptr) std::free(cells);
    return r;
  }
  ~SpscRing() { std::free(cells_); }
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  /// What a push does when the ring looks full by the producer's last view
  /// of the consumer (head_seen_): kRefresh reads head_ again (a call to
  /// refresh_room), kLastView answers false at once, so that a caller's fast
  /// path makes no call and needs no stack frame (it retries through a
  /// kRefresh push on its slow path).
  enum class WhenLooksFull { kRefresh, kLastView };

  /// Producer thread only. False if full (nothing stored).
  HR_QUEUE_INLINE bool try_push(const T& item) noexcept {
    return try_push_with([&item](T& cell) noexcept { cell = item; });
  }

  /// Producer thread only. As try_push, but fill(T& cell) writes the item
  /// straight into its cell (no copy through memory: a caller's item built
  /// field by field on the stack and copied whole costs a failed store
  /// forwarding, about 4 ns on the post path).
  template <WhenLooksFull kFull = WhenLooksFull::kRefresh, class Fill>
  HR_QUEUE_INLINE bool try_push_with(Fill&& fill) noexcept {
    const size_t t = tail_.load(std::memory_order_relaxed);
    if (t - head_seen_ >= limit_ && (kFull == WhenLooksFull::kLastView || refresh_room(t) == 0)) return false;
    prefetch_for_write(t);
    fill(cells_[t & mask_]);
    publish(t + 1);
    return true;
  }

  /// Producer thread only. Stores the longest prefix of items[0..n) that
  /// fits, published with one store; returns its length.
  size_t try_push_many(const T* items, size_t n) noexcept {
    const size_t t = tail_.load(std::memory_order_relaxed);
    size_t room = limit_ - (t - head_seen_);
    if (room < n) room = refresh_room(t);
    const size_t m = n < room ? n : room;
    for (size_t j = 0; j < m; ++j) {
      prefetch_for_write(t + j);
      cells_[(t + j) & mask_] = items[j];
    }
    if (m > 0) publish(t + m);
    return m;
  }

  /// Consumer thread only. Hands up to `max` items, oldest first, to
  /// sink(item, offset + i) straight from their cells (a sink returning false
  /// leaves that item and ends the call); frees their cells; returns how
  /// many were taken. Takes nothing while `shared_consumed` (the shared
  /// queue's dequeue position) is below after_shared().
  template <class F>
  size_t consume(size_t max, size_t offset, size_t shared_consumed, F&& sink) noexcept {
    const size_t h = head_.load(std::memory_order_relaxed);
    const size_t t = tail_.load(std::memory_order_acquire);  // after the producer's cell writes
    if (t == h) return 0;
    // Read after the tail: a new holder sets it before its first push.
    if (static_cast<intptr_t>(shared_consumed - after_shared()) < 0) return 0;
    size_t n = 0;
    while (n < max && h + n != t) {
      const T& item = cells_[(h + n) & mask_];
      if constexpr (std::is_same<decltype(sink(item, offset)), bool>::value) {
        if (!sink(item, offset + n)) break;
      } else {
        sink(item, offset + n);
      }
      ++n;
    }
    if (n > 0) head_.store(h + n, std::memory_order_release);
    return n;
  }

  /// Items in the ring (any thread; exact when neither side is at work).
  /// seq_cst: the consumer's idle re-check (lanes_try_idle).
  size_t size() const noexcept {
    const size_t h = head_.load(std::memory_order_seq_cst);
    const size_t t = tail_.load(std::memory_order_seq_cst);
    return t - h;
  }
  size_t capacity() const noexcept { return mask_ + 1; }
  /// The id of the thread the ring was last given to (it may have exited).
  uint64_t holder() const noexcept { return holder_id_.load(std::memory_order_relaxed); }
  /// True once the holder's thread exited (its tag names another thread or none).
  bool orphaned() const noexcept {
    const rings_detail::Tag* tag = holder_tag_.load(std::memory_order_relaxed);
    return tag->live.load(std::memory_order_acquire) != holder();  // acquire: after its last push
  }
  size_t after_shared() const noexcept { return after_shared_.load(std::memory_order_acquire); }
  /// Gives the ring to thread `id` (tag `tag`), whose earlier shared-queue
  /// events lie below `after_shared`. Under the set's mutex; the ring is new,
  /// or orphaned and empty.
  /// The calling thread becomes the producer: its `own` last events in
  /// `shared` (up to position `shared_end`) count against this ring's room
  /// until consumed, so one thread never has more than capacity() events
  /// queued in all.
  void give(const rings_detail::Tag* tag, uint64_t id, size_t after_shared, const BoundedQueue<T>* shared,
            size_t shared_end, size_t own) noexcept {
    after_shared_.store(after_shared, std::memory_order_release);
    holder_tag_.store(tag, std::memory_order_relaxed);
    holder_id_.store(id, std::memory_order_relaxed);
    head_seen_ = head_.load(std::memory_order_acquire);
    shared_ = shared;
    shared_end_ = shared_end;
    own_ = own;
    limit_ = own == 0 ? capacity() : 0;
    if (own != 0) refresh_room(tail_.load(std::memory_order_relaxed));
  }
  /// Memory the ring takes (its cells and this object).
  size_t bytes() const noexcept { return sizeof(*this) + capacity() * sizeof(T); }

 private:
  SpscRing(T* cells, size_t mask, bool fenced) noexcept : cells_(cells), mask_(mask), fenced_(fenced) {}

  // Producer: the ring looks full (t - head_seen_ >= limit_): reads head_
  // again and, while the thread's events in the shared queue are not all
  // consumed, how many may still be there (at most own_, at most the cells
  // between the consumer and shared_end_). Returns the free cells.
#if defined(__GNUC__)
  __attribute__((noinline))
#endif
  size_t refresh_room(size_t t) noexcept {
    head_seen_ = head_.load(std::memory_order_acquire);  // after the consumer's reads of the cells
    if (limit_ <= mask_) {
      const size_t deq = shared_->dequeue_position();
      const size_t pending = shared_end_ > deq ? shared_end_ - deq : 0;
      const size_t reserve = pending < own_ ? pending : own_;
      limit_ = mask_ + 1 - (reserve < mask_ + 1 ? reserve : mask_ + 1);  // only grows
    }
    const size_t used = t - head_seen_;
    return used < limit_ ? limit_ - used : 0;
  }

  // Producer: asks for the cell kPrefetchCells ahead of `t` in writable
  // state now, so that its cache line is here when the producer gets to it.
  // The consumer read it on its own core a lap ago; a plain store would then
  // wait for the line to come over. Measured (bench/events/chunks.js, the
  // producer pinned to the other core than the JS thread): 18-21 ns per post
  // against 8.3-8.8 on the same core (docs/benchmark-log.md). A hint only: a
  // cell ahead that the consumer still reads (the ring nearly full) is just
  // fetched early. PREFETCHW on x86-64 (a no-op on CPUs without it).
#ifndef HR_RING_PREFETCH_CELLS
#define HR_RING_PREFETCH_CELLS 64
#endif
  static constexpr size_t kPrefetchCells = HR_RING_PREFETCH_CELLS;
  HR_QUEUE_INLINE void prefetch_for_write(size_t t) const noexcept {
#if defined(__x86_64__) && defined(__GNUC__)
    __asm__ volatile("prefetchw %0" : : "m"(*reinterpret_cast<const char*>(&cells_[(t + kPrefetchCells) & mask_])));
#elif defined(__GNUC__)
    __builtin_prefetch(&cells_[(t + kPrefetchCells) & mask_], 1, 3);
#else
    (void)t;
#endif
  }

  HR_QUEUE_INLINE void publish(size_t t) noexcept {
#if defined(__GNUC__)
    if (__builtin_expect(fenced_, false)) {  // the hot path falls through to the plain store
#else
    if (fenced_) {
#endif
      tail_.store(t, std::memory_order_seq_cst);  // no membarrier: orders the load of `scheduled`
    } else {
      tail_.store(t, std::memory_order_release);
    }
  }

  // Read-only after construction (both sides).
  T* const cells_;
  const size_t mask_;
  const bool fenced_;
  // Written under the set's mutex when the ring changes hands.
  std::atomic<const rings_detail::Tag*> holder_tag_{nullptr};
  std::atomic<uint64_t> holder_id_{0};
  std::atomic<size_t> after_shared_{0};
  // The producer's line.
  alignas(64) std::atomic<size_t> tail_{0};
  size_t head_seen_ = 0;  // the producer's last view of head_
  size_t limit_ = 0;      // cells the producer may fill now: capacity() once its shared events are consumed
  const BoundedQueue<T>* shared_ = nullptr;  // the path's shared queue
  size_t shared_end_ = 0;  // the shared queue's enqueue position after the thread's last push there
  size_t own_ = 0;         // the thread's pushes to the shared queue before this ring
  // The consumer's line; alignas also pads the object's tail.
  alignas(64) std::atomic<size_t> head_{0};
};

namespace rings {

// --- the calling thread's identity and its cache of rings --------------------
// Thread ids are never reused (64-bit counter), so a ring names its producer
// for good. The cache maps a RingSet's serial (process-wide, never reused) to
// the thread's ring there (or nullptr: the shared queue); a stale entry of a
// freed path never matches again. Both pointers are initial-exec TLS (one
// load from the thread pointer on the hot path; inflight.h explains the
// model); the cache itself is heap memory freed at the thread's exit, after
// which t_cache points at g_exited (never hits, never written) and the
// thread finds its rings by id again.
inline constexpr uint32_t kCacheEntries = 4;
/// Events a thread posts through the shared queue before it claims a ring:
/// short-lived threads that post a few events each (a C library's callback
/// threads) keep the shared queue, whose single order also follows their
/// happens-before order. After a failed attempt (all rings taken) the gap
/// doubles, up to kMaxClaimGap: a thread beyond the cap pays the claim's
/// mutex about once per 65,536 events.
inline constexpr int64_t kSharedPostsPerClaim = 64;
inline constexpr int64_t kMaxClaimGap = 65536;
struct CacheEntry {
  uint64_t serial;      // 0: empty
  void* ring;           // SpscRing<T>* of that set, or nullptr: the shared queue
  int64_t until_claim;  // ring == nullptr: events left before the next claim attempt
  int64_t gap;          // ring == nullptr: the countdown after the next failed attempt
  size_t shared_end;    // the shared queue's enqueue position after the thread's last push there
  size_t shared_own;    // the thread's pushes to the shared queue
};
struct ThreadCache {
  CacheEntry e[kCacheEntries];
};
using rings_detail::Tag;
inline std::atomic<uint64_t> g_next_thread{0};
inline std::atomic<uint64_t> g_next_serial{0};
inline std::atomic<Tag*> g_tags{nullptr};
inline ThreadCache g_exited{};
inline thread_local ThreadCache* t_cache HR_INFLIGHT_TLS_MODEL = nullptr;
// The thread's last ring (issue 11, item 3): the cache entry ring_of() last
// answered with a ring, kept in TLS itself so that post()'s fast path finds it
// with one compare (the set's serial) and no pointer chase. Only rings: a
// thread on the shared queue keeps {0, nullptr}. Valid for the thread's life
// (a live thread never leaves its ring; a destroyed set's serial never comes
// back); cleared when the thread starts exiting, before its tag lets the ring
// be handed on (ThreadExit). Initial-exec, as t_cache: 16 bytes.
struct LastRing {
  uint64_t serial;  // 0: none
  void* ring;       // SpscRing<T>* of the set with that serial
};
inline thread_local LastRing t_last HR_INFLIGHT_TLS_MODEL = {0, nullptr};
// Slow paths only (default TLS model).
inline thread_local uint64_t t_thread = 0;
inline thread_local Tag* t_tag = nullptr;

// At the thread's exit: later lookups miss (g_exited), the tag stops naming
// the thread (its rings become reclaimable once empty) and is handed on.
struct ThreadExit {
  ThreadCache* cache = nullptr;
  ~ThreadExit() {
    t_last = LastRing{0, nullptr};  // before the tag below lets the ring go
    t_cache = &g_exited;
    delete cache;
    if (Tag* tag = t_tag) {
      tag->live.store(0, std::memory_order_seq_cst);  // after every push of this thread
      tag->taken.store(false, std::memory_order_release);
    }
  }
};
inline thread_local ThreadExit t_exit;

/// The calling thread's id (nonzero, unique in the process).
inline uint64_t thread_id() noexcept {
  uint64_t id = t_thread;
  if (id == 0) id = t_thread = g_next_thread.fetch_add(1, std::memory_order_relaxed) + 1;
  return id;
}

/// True while the calling thread exits (its thread_local destructors run).
inline bool exiting() noexcept { return t_cache == &g_exited; }

/// The calling thread's tag, naming it (nullptr if out of memory). Not
/// while exiting.
inline const Tag* thread_tag() noexcept {
  if (t_tag != nullptr) return t_tag;
  const uint64_t id = thread_id();
  // release push: a thread walking the list (acquire) sees the new tag whole.
  Tag* tag = take_record(g_tags, std::memory_order_release);
  if (tag == nullptr) return nullptr;
  tag->live.store(id, std::memory_order_release);
  t_tag = tag;
  t_exit.cache = t_cache;  // the first use registers the exit hook
  return tag;
}

}  // namespace rings

/// The rings of one path. Producers: ring_of() (any thread). Consumer:
/// consume / size (one thread). The destructor frees every ring: call it only
/// once no producer can reach the set (the close protocol's synchronize()).
template <class T>
class RingSet {
 public:
  explicit RingSet(size_t capacity, uint32_t max_rings = kMaxRingsPerPath) noexcept
      : serial_(rings::g_next_serial.fetch_add(1, std::memory_order_relaxed) + 1),
        capacity_(capacity),
        max_rings_(max_rings < kMaxRingsPerPath ? max_rings : kMaxRingsPerPath) {}
  ~RingSet() {
    for (auto& r : rings_) delete r.load(std::memory_order_relaxed);
  }
  RingSet(const RingSet&) = delete;
  RingSet& operator=(const RingSet&) = delete;

  uint64_t serial() const noexcept { return serial_; }
  /// Rings claimed so far (they stay until the set is destroyed).
  uint32_t count() const noexcept { return count_.load(std::memory_order_seq_cst); }
  SpscRing<T>* at(uint32_t i) const noexcept { return rings_[i].load(std::memory_order_acquire); }
  /// Memory all rings take.
  size_t bytes() const noexcept { return bytes_.load(std::memory_order_relaxed); }

  /// Producer: the ring of thread `id`, or nullptr. Ids are never reused,
  /// and a ring changes hands only once its holder exited.
  SpscRing<T>* find(uint64_t id) const noexcept {
    const uint32_t n = count();
    for (uint32_t i = 0; i < n; ++i) {
      SpscRing<T>* r = at(i);
      if (r->holder() == id) return r;
    }
    return nullptr;
  }

  /// Producer, live: a ring for the calling thread (`id`, `tag`; it has
  /// none here): a new one below the cap, else one whose thread exited and
  /// that is empty; nullptr if neither (or out of memory). `after_shared`:
  /// the shared queue's enqueue position now (nothing is taken from the ring
  /// before the shared queue was consumed up to there).
  SpscRing<T>* claim(const rings_detail::Tag* tag, uint64_t id, size_t after_shared, const BoundedQueue<T>* shared,
                     size_t shared_end, size_t own) noexcept {
    std::lock_guard<std::mutex> lock(claim_mu_);
    const uint32_t n = count_.load(std::memory_order_relaxed);
    // A ring left by an exited thread first: its pages are already mapped
    // (a fresh ring's first lap costs a page fault per 170 events).
    for (uint32_t i = 0; i < n; ++i) {
      SpscRing<T>* r = at(i);
      // Empty (seq_cst reads of both ends, after the holder's last push:
      // orphaned() acquired its tag's change): every event the old holder
      // pushed was consumed; it pushes here only under this mutex.
      if (r->orphaned() && r->size() == 0) {
        r->give(tag, id, after_shared, shared, shared_end, own);
        return r;
      }
    }
    if (n >= max_rings_) return nullptr;
    const bool fenced = inflight::mode() != inflight::kAsymmetric;
    SpscRing<T>* r = SpscRing<T>::create(capacity_, fenced);
    if (r == nullptr) return nullptr;
    r->give(tag, id, after_shared, shared, shared_end, own);
    bytes_.fetch_add(r->bytes(), std::memory_order_relaxed);
    rings_[n].store(r, std::memory_order_release);
    // seq_cst: a consumer going idle that reads the old count (and so skips
    // the membarrier) did so before this claim, so the producer's later load
    // of `scheduled` sees its `false` (lanes_try_idle).
    count_.store(n + 1, std::memory_order_seq_cst);
    return r;
  }

  /// Producer, exiting: pushes items[0..n) to the calling thread's ring if it
  /// still has one (under the mutex: claim() cannot hand it on meanwhile),
  /// else to the shared queue `q`. Returns the prefix stored.
  size_t push_exiting(BoundedQueue<T>& q, const T* items, size_t n) noexcept {
    std::lock_guard<std::mutex> lock(claim_mu_);
    if (SpscRing<T>* r = find(rings::thread_id())) return r->try_push_many(items, n);
    if (n == 1) return q.try_push(items[0]) == Status::kOk ? 1 : 0;
    return q.try_push_many(items, n);
  }

  /// Consumer: up to `max` items from the rings (rotating the starting ring
  /// per call, so one busy producer cannot hold back the others), each to
  /// sink(item, offset + i). A ring whose after_shared() is beyond
  /// `shared_consumed` (the shared queue's dequeue position) is skipped.
  /// A sink returning false ends the call (*stopped = true).
  template <class F>
  size_t consume(size_t max, size_t offset, size_t shared_consumed, F&& sink, bool* stopped) noexcept {
    const uint32_t n = count();
    if (n == 0) return 0;
    size_t got = 0;
    const uint32_t start = cursor_++ % n;
    for (uint32_t k = 0; k < n && got < max; ++k) {
      SpscRing<T>* r = at((start + k) % n);
      bool ring_stopped = false;
      const auto take = [&](const T& item, size_t i) noexcept -> bool {
        if constexpr (std::is_same<decltype(sink(item, i)), bool>::value) {
          if (!sink(item, i)) {
            ring_stopped = true;
            return false;
          }
          return true;
        } else {
          sink(item, i);
          return true;
        }
      };
      got += r->consume(max - got, offset + got, shared_consumed, take);
      if (ring_stopped) {
        *stopped = true;
        break;
      }
    }
    return got;
  }

  /// Items in all rings (exact when nobody is at work; seq_cst reads).
  size_t size() const noexcept {
    size_t s = 0;
    const uint32_t n = count();
    for (uint32_t i = 0; i < n; ++i) s += at(i)->size();
    return s;
  }

 private:
  const uint64_t serial_;
  const size_t capacity_;
  const uint32_t max_rings_;
  std::atomic<SpscRing<T>*> rings_[kMaxRingsPerPath] = {};
  std::atomic<uint32_t> count_{0};
  std::atomic<size_t> bytes_{0};
  std::mutex claim_mu_;
  uint32_t cursor_ = 0;  // consumer only
};

/// Producer, slow path of ring_of: finds the calling thread's ring in `set`,
/// or claims one if `claim` (its countdown ran out), and caches the answer
/// (nullptr: the shared queue), for a post of `n` events.
/// What ring_of answers for a thread that is exiting: push through
/// RingSet::push_exiting.
template <class T>
inline SpscRing<T>* exiting_ring() noexcept {
  alignas(SpscRing<T>) static char mark;
  return reinterpret_cast<SpscRing<T>*>(&mark);
}

template <class T>
#if defined(__GNUC__)
__attribute__((noinline))
#endif
SpscRing<T>* ring_of_slow(RingSet<T>& set, const BoundedQueue<T>& shared, const FullState<T>& f, bool claim,
                          size_t n) noexcept {
  if (rings::exiting()) return exiting_ring<T>();
  const rings::Tag* tag = rings::thread_tag();
  if (tag == nullptr) return nullptr;  // out of memory: the shared queue
  const uint64_t id = rings::thread_id();
  SpscRing<T>* r = set.find(id);
  rings::ThreadCache* c = rings::t_cache;
  // No ring under 'grow': its memory would not be bounded by the overflow's cap.
  if (r == nullptr && claim && c != nullptr && f.policy() != WhenFull::kGrow) {
    const rings::CacheEntry& e = c->e[set.serial() % rings::kCacheEntries];
    r = set.claim(tag, id, shared.enqueue_position(), &shared, e.shared_end, e.shared_own);
  }
  if (c == nullptr) {
    c = new (std::nothrow) rings::ThreadCache{};
    if (c == nullptr) return r;
    rings::t_cache = c;
    rings::t_exit.cache = c;
  }
  rings::CacheEntry& e = c->e[set.serial() % rings::kCacheEntries];
  if (claim && e.serial == set.serial()) {  // an attempt that failed: wait longer
    e.until_claim = e.gap;
    e.gap = e.gap < rings::kMaxClaimGap ? 2 * e.gap : rings::kMaxClaimGap;
  } else if (e.serial != set.serial()) {
    e.until_claim = rings::kSharedPostsPerClaim - static_cast<int64_t>(n);
    e.gap = 2 * rings::kSharedPostsPerClaim;
    e.shared_end = 0;
    e.shared_own = 0;
  }
  e.serial = set.serial();
  e.ring = r;
  if (r != nullptr) rings::t_last = rings::LastRing{set.serial(), r};
  return r;
}

/// Producer (any thread), about to post `n` events: the calling thread's ring
/// in `set`, nullptr if it uses the shared queue, or exiting_ring<T>(). A
/// cache hit is three loads.
template <class T>
HR_QUEUE_INLINE SpscRing<T>* ring_of(RingSet<T>& set, const BoundedQueue<T>& shared, const FullState<T>& f,
                                     size_t n) noexcept {
  rings::ThreadCache* c = rings::t_cache;
  const uint64_t serial = set.serial();
  if (c != nullptr) {
    rings::CacheEntry& e = c->e[serial % rings::kCacheEntries];
    if (e.serial == serial) {
      if (e.ring != nullptr) {
        rings::t_last = rings::LastRing{serial, e.ring};
        return static_cast<SpscRing<T>*>(e.ring);
      }
      e.until_claim -= static_cast<int64_t>(n);
      if (e.until_claim > 0) return nullptr;
      return ring_of_slow(set, shared, f, true, n);
    }
  }
  return ring_of_slow(set, shared, f, false, n);
}

/// Producer (any thread): the calling thread's ring in `set` if it is the
/// ring ring_of() last answered (rings::t_last), else nullptr (ask ring_of).
/// One TLS compare; never a ring of another set or of an exited thread.
template <class T>
HR_QUEUE_INLINE SpscRing<T>* last_ring(const RingSet<T>& set) noexcept {
  const rings::LastRing& l = rings::t_last;
  return l.serial == set.serial() ? static_cast<SpscRing<T>*>(l.ring) : nullptr;
}

/// Producer (any thread), the overflow found inactive: pushes one item
/// through the calling thread's last ring if that ring is `rs`'s and has
/// room by the producer's last view (fill(T&) writes the cell). False, with
/// nothing done, otherwise: lanes_enqueue (or its like) decides then. The
/// fast path of post() (post.cc); the caller wakes the consumer after true.
template <class T, class Fill>
HR_QUEUE_INLINE bool lanes_try_push_last(RingSet<T>& rs, Fill&& fill) noexcept {
  // A matching serial names a ring (t_last holds {0, nullptr} otherwise, and
  // no set has serial 0): no null test.
  const rings::LastRing& l = rings::t_last;
  return l.serial == rs.serial() && static_cast<SpscRing<T>*>(l.ring)->template try_push_with<SpscRing<T>::WhenLooksFull::kLastView>(fill);
}

/// Producer, after it pushed `n` events to the shared queue `q` of `set`:
/// remembers where they went (a ring claimed later leaves room for them).
template <class T>
inline void note_shared(const RingSet<T>& set, const BoundedQueue<T>& q, size_t n) noexcept {
  rings::ThreadCache* c = rings::t_cache;
  if (c == nullptr) return;
  rings::CacheEntry& e = c->e[set.serial() % rings::kCacheEntries];
  if (e.serial != set.serial() || e.ring != nullptr) return;
  e.shared_end = q.enqueue_position();  // at or after this thread's last cell
  e.shared_own += n;
}

// --- the lanes of a path together (the event path's enqueue / consume) ------

/// Overflow cap left for 'grow' after the rings claimed before it.
template <class T>
inline size_t overflow_cap(const RingSet<T>& rs, const FullState<T>& f) noexcept {
  const size_t cap = f.overflow_cap.load(std::memory_order_relaxed);
  const size_t used = rs.bytes();
  return cap > used ? cap - used : 0;
}

/// Any thread: queues `item` (which owns `extra` bytes) in the overflow while
/// it is active, else in the thread's ring or the shared queue, else ('grow')
/// in the overflow. kQueueFull if none takes it.
template <class T>
HR_QUEUE_INLINE Status lanes_enqueue(BoundedQueue<T>& q, RingSet<T>& rs, FullState<T>& f, const T& item,
                                     size_t extra) noexcept {
  if (!f.overflow.active()) {
    SpscRing<T>* r = ring_of(rs, q, f, 1);
    if (r == exiting_ring<T>()) {
      if (rs.push_exiting(q, &item, 1) == 1) return Status::kOk;
    } else if (r != nullptr) {
      if (r->try_push(item)) return Status::kOk;
    } else if (q.try_push(item) == Status::kOk) {
      note_shared(rs, q, 1);
      return Status::kOk;
    }
    if (f.policy() != WhenFull::kGrow) return Status::kQueueFull;
  }
  return f.overflow.push(item, extra, overflow_cap(rs, f)) ? Status::kOk : Status::kQueueFull;
}

/// Any thread: queues items[0..n) in order (numeric items: no extra bytes);
/// returns the length of the prefix queued.
template <class T>
inline size_t lanes_enqueue_many(BoundedQueue<T>& q, RingSet<T>& rs, FullState<T>& f, const T* items,
                                 size_t n) noexcept {
  size_t m = 0;
  if (!f.overflow.active()) {
    SpscRing<T>* r = ring_of(rs, q, f, n);
    if (r == exiting_ring<T>()) {
      m = rs.push_exiting(q, items, n);
    } else {
      if (r != nullptr) {
        m = r->try_push_many(items, n);
      } else {
        m = q.try_push_many(items, n);
        if (m > 0) note_shared(rs, q, m);
      }
    }
    if (m == n || f.policy() != WhenFull::kGrow) return m;
  }
  const size_t cap = overflow_cap(rs, f);
  while (m < n && f.overflow.push(items[m], 0, cap)) ++m;
  return m;
}

/// Items queued in every lane (exact only when nothing is in progress).
template <class T>
inline size_t lanes_queued(const BoundedQueue<T>& q, const RingSet<T>& rs, const FullState<T>& f) noexcept {
  return q.approx_size() + rs.size() + f.overflow.size();
}

/// Consumer thread: up to `max` items into sink(item, i), as
/// BoundedQueue::consume: the shared queue, then the rings, then (once every
/// queue and ring is empty) the overflow; wakes producers waiting for room.
template <class T, class F, class Extra>
inline size_t lanes_consume(BoundedQueue<T>& q, RingSet<T>& rs, FullState<T>& f, size_t max, F&& sink,
                            Extra&& extra) noexcept {
  bool stopped = false;
  const auto take = stopping_sink<T>(sink, stopped);
  size_t n = q.consume(max, take);
  if (n < max && !stopped) n += rs.consume(max - n, n, q.dequeue_position(), take, &stopped);
  if (n < max && !stopped && f.overflow.active()) {
    // A producer's earlier ring or queue event was published before it
    // locked the overflow for its later one: every lane empty under the lock
    // means that earlier event was consumed already.
    n += f.overflow.consume(
        max - n, n, [&q, &rs]() noexcept { return q.approx_size() == 0 && rs.size() == 0; }, take, extra);
  }
  if (n > 0) f.room->freed();
  return n;
}

/// Consumer thread, its lanes found empty: clears `scheduled`, then re-checks
/// (the wake-up protocol above and in event_path.h). True if every lane is
/// empty and the path idle: the next push signals. False if events arrived
/// (or are being written): `scheduled` is true again.
template <class T>
inline bool lanes_try_idle(std::atomic<bool>& scheduled, const BoundedQueue<T>& q, const RingSet<T>& rs,
                           const FullState<T>& f) noexcept {
  // seq_cst store, then seq_cst loads of every lane's fill (the shared
  // queue's enqueue position, the rings' ends, the overflow's count): in the
  // single order of seq_cst operations either a producer's seq_cst push comes
  // before the re-check (seen), or its seq_cst load of `scheduled` comes
  // after this store (sees false). A ring's release store is not seq_cst:
  // the membarrier covers it.
  scheduled.store(false, std::memory_order_seq_cst);
  if (rs.count() > 0 && inflight::mode() == inflight::kAsymmetric && !inflight::detail::heavy_barrier()) {
    // Registered when the mode was decided, so this does not fail; if it
    // ever did, a ring's producer could miss the idle state.
    std::abort();
  }
  if (lanes_queued(q, rs, f) == 0) return true;
  scheduled.store(true, std::memory_order_seq_cst);
  return false;
}

/// Producer, after a push: true if it must signal the consumer (it found no
/// wake-up pending and set `scheduled`). The compiler barrier keeps the load
/// after the ring's release store (the membarrier orders them on the CPU).
inline bool needs_signal(std::atomic<bool>& scheduled) noexcept {
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (scheduled.load(std::memory_order_seq_cst)) return false;
  return !scheduled.exchange(true, std::memory_order_seq_cst);
}

}  // namespace hr_native

#endif  // HANDLE_REGISTRY_NATIVE_PRODUCER_RINGS_H_
