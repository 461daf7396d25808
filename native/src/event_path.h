// event_path.h: the event path of one owner, from native producers to its JS
// thread (event_path.cc): a bounded queue and a uv_async_t on the owner's
// event loop.
#ifndef HANDLE_REGISTRY_NATIVE_EVENT_PATH_H_
#define HANDLE_REGISTRY_NATIVE_EVENT_PATH_H_

#include <node_api.h>
#include <uv.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "back_pressure.h"  // the full policy (FullState) of the queue
#include "calls.h"
#include "event_queue.h"
#include "handle_registry_abi.h"  // HR_MAX_BYTES
#include "owners.h"
#include "producer_rings.h"  // the per-producer rings beside `queue`

namespace hr_native {

// Byte events in an owner's queue: an Event with size > 0 owns a malloc'd
// buffer of `size` bytes whose address is stored in the bits of `payload`
// (size == 0: a numeric event, payload is the number). Whoever takes such an
// event out of the queue frees the buffer: on_async after copying it into the
// arena, close_event_path when dropping it. post_many always queues size 0,
// so only post_bytes creates byte events.
inline double pack_bytes(void* buf) noexcept {
  const uint64_t bits = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(buf));
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}
inline void* unpack_bytes(double payload) noexcept {
  uint64_t bits;
  std::memcpy(&bits, &payload, sizeof bits);
  return reinterpret_cast<void*>(static_cast<uintptr_t>(bits));
}
// A call (size kCallMark, calls.h) carries its CallRecord the same way; taken
// out of the queue at close, it is completed with REGISTRY_CLOSED.
inline void free_event(const Event& e) noexcept {
  if (e.size == kCallMark) {
    drop_queued_call(e);
  } else if (e.size != 0) {
    std::free(unpack_bytes(e.payload));
  }
}
// The bytes an event owns beyond its cell (a byte event's buffer, a call's
// record with its request bytes): what it costs against the 'grow' cap in the
// overflow.
inline size_t event_extra(const Event& e) noexcept {
  if (e.size == kCallMark) return sizeof(CallRecord) + static_cast<CallRecord*>(unpack_bytes(e.payload))->size();
  return e.size;
}

// Wake-up protocol (`scheduled`): true from the first post that finds it false
// until the wake-up it triggered has drained the queue.
//   producer (wake, after a push)        consumer (on_async, JS thread)
//   ------------------------------       -----------------------------------
//   claim a cell (seq_cst CAS), or       drain batches; `scheduled` stays true,
//     store a ring's tail (release)      so producers do not signal meanwhile
//   scheduled? (seq_cst load)            lanes empty: scheduled = false (seq_cst),
//     true: done (a drain will see it)     seq_cst fence, membarrier if the path
//     false: exchange(true); if it was     has rings, then re-check every lane:
//       false, uv_async_send               events? exchange(true), signal if false
// Either the consumer's re-check sees the push, or the producer's load sees
// `false` and signals (for rings, the membarrier stands in for the fence the
// producer's release store lacks: producer_rings.h). A plain load on the hot path: while a wake-up is
// pending, posts only read the flag's cache line (shared, never bounced).
// The uv_async_t of an event path, in its own small allocation: the path
// itself (its queue ring, about 2 MiB at the default capacity) is freed at
// once by close_event_path, while its Waker is kept, initialised, for the
// next path opened on the same thread (up to kMaxSpareWakers), or uv_closed
// and freed in a later loop turn (on_closed). Before, N onEvent() + close()
// cycles in one synchronous loop held N rings until the loop turned (issue
// 10, item 5).
struct CallTable;

struct Waker {
  uv_async_t async;            // first member: async.data points to the Waker
  EventPath* path = nullptr;   // null while closed (and the path freed) or spare
  uint64_t opened = 0;         // paths opened on it: a new path at a freed one's address differs
  EnvData* env_data = nullptr;
  Waker* next_spare = nullptr;
};

struct EventPath {
  Waker* waker = nullptr;  // producers signal waker->async
  EventQueue queue;        // the shared queue: threads without a ring
  RingSet<Event> rings;    // a ring per producer thread (producer_rings.h)
  // Most bytes a post_bytes event may carry on this path: min(HR_MAX_BYTES,
  // arena length), 0 without an arena. Set before the path is published.
  uint32_t max_bytes = 0;
  // What a post does when `queue` is full (back_pressure.h): the policy,
  // 'grow''s overflow, and the Room 'block' and post_wait wait in.
  alignas(64) FullState<Event> full;
  alignas(64) std::atomic<bool> scheduled{false};  // a wake-up is pending or running
  // --- the JS thread only (own cache line: producers never write near it) ---
  alignas(64) uint32_t owner = 0;
  EnvData* env_data = nullptr;
  napi_ref callback = nullptr;
  napi_ref batch = nullptr;
  napi_ref arena = nullptr;  // Uint8Array the bytes of byte events are copied to (or null)
  napi_async_context context = nullptr;
  size_t batch_max = 0;
  CallTable* calls = nullptr;  // calls handed to JS, not answered yet (calls.cc)
  EventPath* next_open = nullptr;  // the paths open on this thread (event_path.cc)
  // The env can no longer run JS (stop_event_path): closed for producers,
  // freed only by close_event_path. Wake-ups signalled before return at once.
  bool stopped = false;

  explicit EventPath(size_t capacity) : queue(capacity), rings(capacity) {}
};

// A byte event (post_bytes) or a call of `size` bytes for owner `s`, whose
// open path is `p`: kOk, or REGISTRY_CLOSED (no path) / PAYLOAD_TOO_LARGE
// (more than the path takes), counted to the owner.
inline int32_t admit_bytes(OwnerSlot& s, const EventPath* p, uint32_t size) noexcept {
  if (p == nullptr) {
    s.dropped_closed.fetch_add(1, std::memory_order_relaxed);
    return static_cast<int32_t>(hr::Status::kRegistryClosed);
  }
  if (size > p->max_bytes) {
    s.dropped_too_large.fetch_add(1, std::memory_order_relaxed);
    return static_cast<int32_t>(hr::Status::kPayloadTooLarge);
  }
  return static_cast<int32_t>(hr::Status::kOk);
}

// Wakes the owner's JS thread after a push (any thread; the protocol above).
inline void wake(EventPath* p) noexcept {
  // A push to the shared queue claimed its cell with a seq_cst CAS; a ring's
  // push published with a release store, ordered against this load by the
  // consumer's membarrier (or a seq_cst store without it): producer_rings.h.
  // This seq_cst load (a plain load on x86) either sees the consumer's
  // `false`, or the consumer's re-check after clearing it sees the push. Only
  // a post that finds no wake-up pending writes the line.
  if (needs_signal(p->scheduled)) uv_async_send(&p->waker->async);
}

// Any thread, under the owner's guard: queues ev (owning `extra` bytes) in
// the calling thread's ring, the shared queue or the overflow (the order
// rules of producer_rings.h and back_pressure.h). kQueueFull if full.
HR_QUEUE_INLINE hr::Status path_enqueue(EventPath* p, const Event& ev, size_t extra) noexcept {
  return lanes_enqueue(p->queue, p->rings, p->full, ev, extra);
}
inline size_t path_enqueue_many(EventPath* p, const Event* evs, size_t n) noexcept {
  return lanes_enqueue_many(p->queue, p->rings, p->full, evs, n);
}
// Events queued on the path, every lane (exact only when nothing is in progress).
inline size_t path_queued(const EventPath* p) noexcept { return lanes_queued(p->queue, p->rings, p->full); }

// Creates and publishes an event path. Returns nullptr and sets *why on error.
EventPath* open_event_path(EnvData* ed, uint32_t owner, size_t capacity,
                           napi_value batch, size_t batch_max,
                           napi_value callback, napi_value arena, size_t arena_length,
                           const char** why);
// Unpublishes, waits out producers, drops (and counts) queued events, frees
// the path, and uv_closes its Waker (freed by the close callback).
void close_event_path(EnvData* ed, OwnerSlot& s);
// The first half of close_event_path, for a path whose env can no longer run
// JS (a terminating worker) but whose cleanup hook has not closed it yet:
// unpublishes it (posts and calls get REGISTRY_CLOSED, counted droppedClosed),
// waits out producers, wakes the producers waiting for room, drops (and
// counts droppedAtClose) what is queued, and answers the calls handed to JS
// REGISTRY_CLOSED. Frees nothing: close_event_path still does that later.
void stop_event_path(OwnerSlot& s);
// Called from each uv close callback when env cleanup is waiting, and once by
// the env cleanup hook: closes this thread's spare Wakers, and ends the
// cleanup once every uv close callback ran.
void maybe_finish_cleanup(EnvData* ed);

}  // namespace hr_native

#endif  // HANDLE_REGISTRY_NATIVE_EVENT_PATH_H_
