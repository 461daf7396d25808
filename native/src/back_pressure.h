// back_pressure.h: what a producer does when an owner's event queue is full
// (issue 9, part 4): the policy (drop, block, grow), the overflow list that
// 'grow' spills into once the ring is full, and the Room where producers wait
// for room ('block', api->post_wait). Header-only and Node-free so that
// native/test/test_back_pressure.cc runs it under ASan and TSan; the lanes
// of producer_rings.h (the event path's enqueue and consume: shared queue,
// rings, overflow) and post.cc / post_wait.cc use it.
//
// Order (the events of one producer arrive in the order it posted them):
//   - while the overflow holds anything, every push goes to the overflow
//     (never to the ring), so a producer whose event spilled keeps spilling;
//   - the consumer takes from the overflow only when, under its lock, the
//     ring is empty: a producer's earlier ring event was claimed before it
//     locked the overflow for its later one, so "ring empty" means that
//     earlier event was consumed already.
// Memory: the ring (fixed) plus the overflow's chunks and the extra bytes of
// its items (byte events' buffers), never above the cap set for 'grow' (0: no
// overflow at all).
//
// Wait/wake (no lost wake-up, no spinning):
//   producer (queue full)                 consumer (after taking n > 0 items)
//   waiters += 1          (seq_cst)       epoch += 1            (seq_cst)
//   seen = epoch          (seq_cst)       waiters != 0? (seq_cst) lock, unlock,
//   push again: ok? leave                   notify_all
//   else wait under the lock while epoch == seen, not closed, before deadline
// Either the consumer sees the waiter and notifies (the waiter re-reads epoch
// under the lock, so it is waiting or sees the change), or the waiter's read
// of epoch follows the bump and its second push sees the freed cells.
// A Room is reference-counted: a waiting producer holds a reference, so it
// may wait outside the owner's InflightGuard (close and growth never wait for
// a blocked producer) and the Room outlives the event path that made it.
#ifndef HANDLE_REGISTRY_NATIVE_BACK_PRESSURE_H_
#define HANDLE_REGISTRY_NATIVE_BACK_PRESSURE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>
#include <type_traits>
#include <utility>

#include "event_queue.h"

namespace hr_native {

/// What a post does when the queue is full (onEvent's `whenFull`).
enum class WhenFull : uint32_t {
  kDrop = 0,   ///< QUEUE_FULL at once, counted (the default)
  kBlock = 1,  ///< wait for room up to the policy's timeout, then TIMEOUT
  kGrow = 2,   ///< spill into the overflow up to the memory cap, then QUEUE_FULL
};

/// A timeout that never ends (api->post_wait's HR_WAIT_FOREVER).
inline constexpr uint32_t kWaitForever = 0xffffffffu;

/// Where producers wait for room in one queue. Reference-counted (create()
/// gives one reference); any thread.
class Room {
 public:
  enum class Woke { kRoom, kClosed, kTimeout };
  using Clock = std::chrono::steady_clock;

  /// A new Room with one reference (std::bad_alloc if out of memory).
  static Room* create() { return new Room(); }

  void ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void unref() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  /// Producer, before its second push: counts it as a waiter and returns the
  /// epoch to wait past. Pair with leave().
  uint64_t enter() noexcept {
    waiters_.fetch_add(1, std::memory_order_seq_cst);
    return epoch_.load(std::memory_order_seq_cst);
  }
  void leave() noexcept { waiters_.fetch_sub(1, std::memory_order_seq_cst); }

  /// Producer, between enter() and leave(): waits until the consumer freed
  /// room after `seen` (kRoom), the Room closed (kClosed), or `deadline`
  /// passed (kTimeout; never with `forever`).
  Woke wait(uint64_t seen, bool forever, Clock::time_point deadline) noexcept {
    std::unique_lock<std::mutex> lock(m_);
    for (;;) {
      if (closed_.load(std::memory_order_seq_cst)) return Woke::kClosed;
      if (epoch_.load(std::memory_order_seq_cst) != seen) return Woke::kRoom;
      if (forever) {
        cv_.wait(lock);
      } else if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
        if (closed_.load(std::memory_order_seq_cst)) return Woke::kClosed;
        return epoch_.load(std::memory_order_seq_cst) != seen ? Woke::kRoom : Woke::kTimeout;
      }
    }
  }

  /// Consumer, after it took items out of the queue (freed room). One
  /// read-modify-write per batch; the lock only when someone waits.
  void freed() noexcept {
    epoch_.fetch_add(1, std::memory_order_seq_cst);
    if (waiters_.load(std::memory_order_seq_cst) != 0) notify();
  }

  /// Wakes every waiter for good (the queue is going away): wait() returns
  /// kClosed from now on.
  void close() noexcept {
    closed_.store(true, std::memory_order_seq_cst);
    notify();
  }

  bool closed() const noexcept { return closed_.load(std::memory_order_seq_cst); }
  uint32_t waiters() const noexcept { return waiters_.load(std::memory_order_seq_cst); }

 private:
  Room() = default;
  void notify() noexcept {
    { std::lock_guard<std::mutex> lock(m_); }  // a waiter between its check and its wait gets the notify
    cv_.notify_all();
  }

  std::mutex m_;
  std::condition_variable cv_;
  std::atomic<uint64_t> epoch_{0};
  std::atomic<uint32_t> waiters_{0};
  std::atomic<uint32_t> refs_{1};
  std::atomic<bool> closed_{false};
};

/// An unbounded-by-type, capped-by-bytes FIFO under a mutex: where 'grow'
/// puts items once the ring is full. Chunks of kChunkItems items; a chunk is
/// freed as soon as it is emptied. push from any thread, consume from the one
/// consumer thread.
template <class T, size_t kChunkItems = 1024>
class Overflow {
  static_assert(std::is_trivially_copyable<T>::value, "Overflow<T>: T must be trivially copyable");

  struct Chunk {
    Chunk* next;
    size_t head;  // next item to take
    size_t tail;  // next free cell
    T items[kChunkItems];
  };

 public:
  Overflow() = default;
  Overflow(const Overflow&) = delete;
  Overflow& operator=(const Overflow&) = delete;
  ~Overflow() {
    while (Chunk* c = first_) {
      first_ = c->next;
      std::free(c);
    }
  }

  /// Bytes one chunk takes (what a first spilled item costs).
  static constexpr size_t chunk_bytes() noexcept { return sizeof(Chunk); }

  /// True while the overflow holds an item: pushes must come here (order).
  bool active() const noexcept { return count_.load(std::memory_order_seq_cst) != 0; }
  size_t size() const noexcept { return count_.load(std::memory_order_seq_cst); }
  /// Bytes held now (chunks plus extra bytes of the items).
  size_t bytes() const noexcept {
    std::lock_guard<std::mutex> lock(m_);
    return bytes_;
  }

  /// Any thread. Appends `item`, which owns `extra` bytes elsewhere, if the
  /// overflow stays within `cap` bytes; false (not stored) if not, or if out
  /// of memory.
  bool push(const T& item, size_t extra, size_t cap) noexcept {
    std::lock_guard<std::mutex> lock(m_);
    Chunk* c = last_;
    const bool need_chunk = c == nullptr || c->tail == kChunkItems;
    const size_t cost = extra + (need_chunk ? sizeof(Chunk) : 0);
    if (cost > cap || bytes_ > cap - cost) return false;
    if (need_chunk) {
      c = static_cast<Chunk*>(std::malloc(sizeof(Chunk)));
      if (c == nullptr) return false;
      c->next = nullptr;
      c->head = c->tail = 0;
      (last_ == nullptr ? first_ : last_->next) = c;
      last_ = c;
    }
    c->items[c->tail++] = item;
    bytes_ += cost;
    // seq_cst: the consumer's idle re-check (clear its flag, fence, read the
    // size) or the producer's wake-up after this push sees the other.
    count_.fetch_add(1, std::memory_order_seq_cst);
    return true;
  }

  /// Consumer thread. If `ready()` holds (checked under the lock: nothing
  /// may be taken before it), hands up to `max` items, oldest first, to
  /// sink(item, offset + i); a sink returning false leaves that item (and the
  /// rest) queued and ends the call. extra(item) is the item's extra bytes.
  /// Returns how many items were taken. The sink runs without the lock (on
  /// the items of the first chunk present when it was taken: producers only
  /// append behind them, and only the consumer frees a chunk), so producers
  /// spilling meanwhile are not held up by the consumer's work.
  template <class Ready, class F, class Extra>
  size_t consume(size_t max, size_t offset, Ready&& ready, F&& sink, Extra&& extra) noexcept {
    size_t n = 0;
    while (n < max) {
      Chunk* c;
      size_t head, end;
      {
        std::lock_guard<std::mutex> lock(m_);
        // Checked again for each chunk: items pushed while the lock was free
        // may follow a producer's event the ring got meanwhile.
        if (first_ == nullptr || !ready()) break;
        c = first_;
        head = c->head;
        end = c->tail;  // items [head, end) were published under the lock
      }
      size_t taken = 0;
      size_t freed_bytes = 0;
      bool stopped = false;
      for (size_t i = head; i < end && n + taken < max; ++i) {
        const T& item = c->items[i];
        if constexpr (std::is_same<decltype(sink(item, offset)), bool>::value) {
          if (!sink(item, offset + n + taken)) {
            stopped = true;
            break;
          }
        } else {
          sink(item, offset + n + taken);
        }
        freed_bytes += extra(item);
        ++taken;
      }
      {
        std::lock_guard<std::mutex> lock(m_);
        c->head = head + taken;
        bytes_ -= freed_bytes;
        // Emptied, and no producer can append to it any more (full, or the
        // last chunk: drop it, the next push makes a new one).
        if (c->head == c->tail && (c->tail == kChunkItems || c == last_)) {
          first_ = c->next;
          if (first_ == nullptr) last_ = nullptr;
          bytes_ -= sizeof(Chunk);
          std::free(c);
        }
        count_.fetch_sub(taken, std::memory_order_seq_cst);
      }
      n += taken;
      if (stopped || taken == 0) break;
    }
    return n;
  }

 private:
  mutable std::mutex m_;
  Chunk* first_ = nullptr;
  Chunk* last_ = nullptr;
  size_t bytes_ = 0;
  std::atomic<size_t> count_{0};
};

/// The full policy of one queue and what it needs: read by every producer
/// that finds the ring full (and, for `overflow.active()`, by every push).
template <class T>
struct FullState {
  std::atomic<uint32_t> when_full{static_cast<uint32_t>(WhenFull::kDrop)};
  std::atomic<uint32_t> timeout_ms{5000};  // 'block': how long a post waits
  std::atomic<size_t> overflow_cap{0};     // 'grow': bytes the overflow may hold
  Overflow<T> overflow;
  Room* const room;  // one reference, dropped (after close) by the destructor

  FullState() : room(Room::create()) {}
  FullState(const FullState&) = delete;
  FullState& operator=(const FullState&) = delete;
  ~FullState() {
    room->close();
    room->unref();
  }
  WhenFull policy() const noexcept { return static_cast<WhenFull>(when_full.load(std::memory_order_relaxed)); }
};

/// The consume loops' view of a caller's sink(item, i), which may return
/// bool (false: leave this item and stop) or nothing: a sink that always
/// returns bool, and sets `stopped` when the caller's said stop.
template <class T, class F>
inline auto stopping_sink(F& sink, bool& stopped) noexcept {
  return [&sink, &stopped](const T& item, size_t i) noexcept -> bool {
    if constexpr (std::is_same<decltype(sink(item, i)), bool>::value) {
      if (!sink(item, i)) {
        stopped = true;
        return false;
      }
    } else {
      sink(item, i);
    }
    return true;
  };
}

}  // namespace hr_native

#endif  // HANDLE_REGISTRY_NATIVE_BACK_PRESSURE_H_
