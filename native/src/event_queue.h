// event_queue.h: the bounded queue of the native -> JS event path
// (hr_native::EventQueue). Internal to the addon: other addons post through
// the C ABI (handle_registry_abi.h), which never exposes the queue.
//
// Header-only so that native/test/test_queue.cc tests it under ASan and TSan.
// Thread safety: try_push / try_push_many from any number of threads at once;
// drain / consume / try_pop from one consumer thread at a time.
#ifndef HANDLE_REGISTRY_NATIVE_EVENT_QUEUE_H_
#define HANDLE_REGISTRY_NATIVE_EVENT_QUEUE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include "handle_registry.h"

// try_push is the hot path of every post: inlined into it (GCC otherwise
// keeps one out-of-line copy and calls it).
#if defined(__GNUC__)
#define HR_QUEUE_INLINE __attribute__((always_inline)) inline
#else
#define HR_QUEUE_INLINE inline
#endif

namespace hr_native {

using hr::Handle;
using hr::Status;

namespace detail {
constexpr size_t round_up_pow2(size_t n) noexcept {
  size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}
}  // namespace detail

/// One event posted from native code to the registry that owns `handle`.
/// 24 bytes, trivially copyable; the same layout as the C ABI's hr_event_v1.
struct Event {
  Handle handle;    ///< target handle
  uint32_t kind;    ///< application-defined event kind
  uint32_t size;    ///< application-defined (e.g. byte length of a side buffer)
  double payload;   ///< small numeric payload: no JS allocation to deliver it
};
static_assert(sizeof(Event) == 24, "Event has hr_event_v1's layout");
static_assert(std::is_trivially_copyable<Event>::value, "Event is POD");

/// A bounded multi-producer queue with one consumer (D. Vyukov's bounded
/// MPMC ring: a sequence number per cell, one CAS per push, no locks).
///
/// - Capacity is fixed at construction (rounded up to a power of two, at
///   least 2); the ring is the only allocation, made by the constructor
///   (std::bad_alloc, or abort() without exceptions, if it fails). The ring
///   comes zeroed from calloc and the constructor does not write it: the
///   pages of a large ring cost memory (RSS) and time only once events
///   reach them.
/// - try_push never blocks and never allocates: it returns Status::kQueueFull
///   when the ring is full, and the event is not stored (the producer decides:
///   drop and count, or retry later). Pushed events are never lost.
/// - Order: events are delivered in the order their pushes claimed a cell,
///   so the events of one producer thread arrive in the order it pushed them.
///   Events of different threads interleave.
/// - drain/try_pop: one consumer thread at a time. A drain stops at the first
///   cell whose producer has claimed but not yet finished writing it; that
///   producer's own wake-up (after its push) triggers the next drain.
///
/// T must be trivially copyable and default constructible.
template <class T>
class BoundedQueue {
  static_assert(std::is_trivially_copyable<T>::value,
                "BoundedQueue<T>: T must be trivially copyable");

 public:
  /// A queue of at least `capacity` cells (rounded up to a power of two,
  /// minimum 2).
  explicit BoundedQueue(size_t capacity);

  BoundedQueue(const BoundedQueue&) = delete;
  BoundedQueue& operator=(const BoundedQueue&) = delete;

  /// Any thread. kOk if stored, kQueueFull if the ring is full (also counted
  /// in rejected()). Lock-free; never blocks, never allocates.
  [[nodiscard]] HR_QUEUE_INLINE Status try_push(const T& item) noexcept;

  /// Any thread. Stores items[0..n) in order and returns n, the longest prefix
  /// that fits (count if all do); the rest is not stored (each counted in
  /// rejected()). Claims a run of free cells with one CAS when it can, so a
  /// burst costs one read-modify-write rather than one per item. A single
  /// producer's items stay contiguous; another producer's may interleave
  /// between the runs of one call.
  size_t try_push_many(const T* items, size_t count) noexcept;

  /// Consumer thread only. Copies up to `max` items, oldest first, into
  /// out[0..n), frees their cells and returns n (0 if empty).
  size_t drain(T* out, size_t max) noexcept;

  /// Consumer thread only. Like drain, but hands each item to
  /// `sink(const T& item, size_t i)` (i = 0..n-1, oldest first) straight from
  /// its cell, which is freed once the call returns: no intermediate copy
  /// (e.g. convert into a typed array). `sink` must not throw and must not
  /// call drain/try_pop/consume on this queue. Returns n (0 if empty).
  /// A sink may return bool: false leaves that item in its cell (not taken,
  /// not counted in n; the next consume starts with it) and ends this call.
  template <class F>
  size_t consume(size_t max, F&& sink) noexcept;

  /// Consumer thread only. Pops one item; false if empty.
  bool try_pop(T& out) noexcept;

  /// Items pushed and not yet drained, read without synchronisation between
  /// the two counters: exact only when no push or drain is in progress.
  size_t approx_size() const noexcept;

  /// Number of cells (a power of two).
  size_t capacity() const noexcept { return mask_ + 1; }

  /// Cells claimed by pushes so far (seq_cst): every push this thread made
  /// before lies below it (producer_rings.h: where a new ring waits).
  size_t enqueue_position() const noexcept { return enqueue_pos_.load(std::memory_order_seq_cst); }
  /// Cells consumed so far (exact on the consumer thread; from another, a
  /// value it had: producer_rings.h reads it to size a new ring's room).
  size_t dequeue_position() const noexcept { return dequeue_pos_.load(std::memory_order_relaxed); }

  /// How many try_push calls returned kQueueFull so far (relaxed counter).
  uint64_t rejected() const noexcept;

 private:
  struct Cell {
    std::atomic<size_t> seq;  // relative to the cell's index (see below)
    T data;
  };
  struct FreeCells {
    void operator()(Cell* c) const noexcept { std::free(c); }
  };
  static Cell* alloc_cells(size_t n);
  // The start of the lap that `pos` falls in: pos minus its cell index.
  size_t lap_start(size_t pos) const noexcept { return pos & ~mask_; }

  const size_t mask_;
  const std::unique_ptr<Cell[], FreeCells> cells_;
  alignas(64) std::atomic<size_t> enqueue_pos_{0};  // producers
  std::atomic<uint64_t> rejected_{0};
  alignas(64) std::atomic<size_t> dequeue_pos_{0};  // consumer; alignas also
                                                     // pads the object's tail
};

/// The event queue of the native -> JS path.
using EventQueue = BoundedQueue<Event>;

// ---------------------------------------------------------------------------
// BoundedQueue (Vyukov bounded MPMC ring, used with a single consumer)
// ---------------------------------------------------------------------------
//
// Vyukov's sequence number of cell i starts at i; a producer that reads pos
// with seq == pos owns the cell once its CAS advances enqueue_pos_; it writes
// data and publishes seq = pos + 1 (release). The consumer at pos waits for
// seq == pos + 1, reads data, and frees the cell for the next lap with
// seq = pos + capacity (release). Each cell stores its sequence number minus
// its own index i (= pos - lap_start(pos)): the same comparisons, but the
// starting values are all 0, which calloc's zeroed pages already hold.

template <class T>
typename BoundedQueue<T>::Cell* BoundedQueue<T>::alloc_cells(size_t n) {
  // Cell is trivially default constructible and destructible (an atomic
  // integer and a trivially copyable T): zeroed storage is a valid ring.
  void* mem = std::calloc(n, sizeof(Cell));
  if (mem == nullptr) {
#if defined(__cpp_exceptions)
    throw std::bad_alloc();
#else
    std::abort();
#endif
  }
  return static_cast<Cell*>(mem);
}

template <class T>
BoundedQueue<T>::BoundedQueue(size_t capacity)
    : mask_(detail::round_up_pow2(capacity < 2 ? 2 : capacity) - 1),
      cells_(alloc_cells(mask_ + 1)) {}

template <class T>
Status BoundedQueue<T>::try_push(const T& item) noexcept {
  size_t pos = enqueue_pos_.load(std::memory_order_relaxed);
  Cell* cell;
  for (;;) {
    cell = &cells_[pos & mask_];
    const size_t seq = cell->seq.load(std::memory_order_acquire);
    const intptr_t dif = static_cast<intptr_t>(seq) - static_cast<intptr_t>(lap_start(pos));
    if (dif == 0) {
      // seq_cst (on x86 the same locked instruction as relaxed): a consumer
      // that clears its wake-up flag, then issues a seq_cst fence and reads
      // the queue's size, either sees this claim or the producer's seq_cst
      // load of the flag after the push sees it cleared (no lost wake-up).
      if (enqueue_pos_.compare_exchange_weak(pos, pos + 1,
                                             std::memory_order_seq_cst,
                                             std::memory_order_relaxed)) {
        break;
      }
      // CAS failure reloaded pos; retry.
    } else if (dif < 0) {
      // The cell still holds an item from the previous lap: full.
      rejected_.fetch_add(1, std::memory_order_relaxed);
      return Status::kQueueFull;
    } else {
      pos = enqueue_pos_.load(std::memory_order_relaxed);
    }
  }
  cell->data = item;
  cell->seq.store(lap_start(pos) + 1, std::memory_order_release);
  return Status::kOk;
}

template <class T>
size_t BoundedQueue<T>::try_push_many(const T* items, size_t count) noexcept {
  const size_t cap = mask_ + 1;
  size_t done = 0;
  while (done < count) {
    size_t pos = enqueue_pos_.load(std::memory_order_relaxed);
    // Free cells ahead of pos, by the consumer's counter (a stale estimate
    // only costs a retry: the sequence number below decides).
    const size_t deq = dequeue_pos_.load(std::memory_order_relaxed);
    const size_t used = pos >= deq ? pos - deq : 0;
    const size_t room = used < cap ? cap - used : 0;
    const size_t m = count - done < room ? count - done : room;
    if (m > 1) {
      // The consumer frees cells in order: if the run's last cell is free for
      // this lap (acquire: after the consumer's reads of it and of every cell
      // before it), so is the whole run, and none is claimed while
      // enqueue_pos_ is still pos.
      const size_t last = pos + m - 1;
      if (cells_[last & mask_].seq.load(std::memory_order_acquire) == lap_start(last)) {
        // seq_cst for the same reason as in try_push.
        if (!enqueue_pos_.compare_exchange_weak(pos, pos + m, std::memory_order_seq_cst,
                                                std::memory_order_relaxed)) {
          continue;  // another producer moved enqueue_pos_: re-estimate
        }
        for (size_t j = 0; j < m; ++j) {
          Cell& cell = cells_[(pos + j) & mask_];
          cell.data = items[done + j];
          cell.seq.store(lap_start(pos + j) + 1, std::memory_order_release);
        }
        done += m;
        continue;
      }
    }
    // One item, or the estimate was off: the single-cell path decides (full?).
    if (try_push(items[done]) != Status::kOk) {
      // try_push counted this item; count the rest of the call too.
      if (count - done > 1) rejected_.fetch_add(count - done - 1, std::memory_order_relaxed);
      break;
    }
    ++done;
  }
  return done;
}

template <class T>
size_t BoundedQueue<T>::drain(T* out, size_t max) noexcept {
  return consume(max, [out](const T& item, size_t i) noexcept { out[i] = item; });
}

template <class T>
template <class F>
size_t BoundedQueue<T>::consume(size_t max, F&& sink) noexcept {
  size_t pos = dequeue_pos_.load(std::memory_order_relaxed);
  const size_t lap = mask_ + 1;
  Cell* const cells = cells_.get();
  size_t n = 0;
  while (n < max) {
    Cell& cell = cells[pos & mask_];
    const size_t seq = cell.seq.load(std::memory_order_acquire);
    if (static_cast<intptr_t>(seq) - static_cast<intptr_t>(lap_start(pos) + 1) < 0) {
      break;  // empty, or its producer is still writing it
    }
    if constexpr (std::is_same<decltype(sink(std::declval<const T&>(), n)), bool>::value) {
      if (!sink(static_cast<const T&>(cell.data), n)) break;  // left in its cell
    } else {
      sink(static_cast<const T&>(cell.data), n);
    }
    ++n;
    cell.seq.store(lap_start(pos) + lap, std::memory_order_release);
    ++pos;
  }
  dequeue_pos_.store(pos, std::memory_order_relaxed);
  return n;
}

template <class T>
bool BoundedQueue<T>::try_pop(T& out) noexcept {
  return drain(&out, 1) == 1;
}

template <class T>
size_t BoundedQueue<T>::approx_size() const noexcept {
  // Read the consumer's counter first: both only grow, so enq >= deq here.
  // seq_cst (a plain load on x86): the consumer's idle re-check
  // (producer_rings.h, lanes_try_idle) is a seq_cst store of its flag, then
  // seq_cst loads, against the producers' seq_cst claims: no fence needed.
  const size_t deq = dequeue_pos_.load(std::memory_order_relaxed);
  const size_t enq = enqueue_pos_.load(std::memory_order_seq_cst);
  const size_t n = enq >= deq ? enq - deq : 0;
  return n > capacity() ? capacity() : n;
}

template <class T>
uint64_t BoundedQueue<T>::rejected() const noexcept {
  return rejected_.load(std::memory_order_relaxed);
}

}  // namespace hr_native

#endif  // HANDLE_REGISTRY_NATIVE_EVENT_QUEUE_H_
