// internal.h: process-wide state of the addon, shared by native/src/*.cc.
//
// Everything process-wide lives in static storage that is zero-initialised at
// load time and trivially destructible (arrays of std::atomic and plain
// pointers, no constructors or destructors): native threads that outlive a
// worker, or the process's exit, may still call post() and must find valid
// memory. Heap objects reachable from it (state regions, event paths) are
// freed only after the close protocol below has waited out every producer.
// The library pins itself at load (addon.cc, pin_module) so that Node's
// dlclose() of the last env that loaded it never unmaps that storage.
//
// Close protocol (per owner index):
//   producer                                  closer (the owner's JS thread)
//   ---------                                 -------------------------------
//   w0 = route word (acquire)                 status = CLOSED         (seq_cst)
//   inflight[epoch & 1] += 1       (seq_cst)  synchronize(): twice
//   status == OPEN? route == w0?   (seq_cst)      e = epoch++; wait inflight[e & 1] == 0
//   read state region, push event             retire blocks, close the event path,
//   inflight[...] -= 1             (release)  free the state region, status = FREE
// Either the producer sees CLOSED (and touches nothing), or the closer sees its
// increment and waits. Two counters flipped by an epoch (as userspace RCU does)
// make the wait finish even while producers keep posting at full speed.
#ifndef HANDLE_REGISTRY_NATIVE_INTERNAL_H_
#define HANDLE_REGISTRY_NATIVE_INTERNAL_H_

#include <node_api.h>
#include <uv.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "handle_registry.h"
#include "handle_registry_abi.h"

namespace hr_native {

namespace dom = hr::domain;

// ---------------------------------------------------------------------------
// Domain table
// ---------------------------------------------------------------------------
//
// Block words, as written by claim_block and read by src/layout.ts and
// src/domain.ts:
//   route word (word 0): owner << 19 | page  (0 while unclaimed, 0 again once retired)
//   meta word  (word 1): CLAIMED | RETIRED | shard << 12 | owner
// Producers route on the route word alone: one acquire load gives owner and
// page. Only these two constants say which word is which.
constexpr size_t kRouteWord = 0;
constexpr size_t kMetaWord = 1;
constexpr uint32_t kPageBits = 19;
constexpr uint32_t kPageMask = (1u << kPageBits) - 1;
constexpr uint32_t kMaxPages = 1u << kPageBits;
constexpr uint32_t kMaxShardIndex = 255;  // src/layout.ts B_SHARD_MASK
constexpr uint32_t kMaxStateSlots = kMaxPages * hr::kSlotsPerBlock;  // 2^27

using Word = std::atomic<int32_t>;
static_assert(sizeof(Word) == sizeof(int32_t) && Word::is_always_lock_free,
              "JS Atomics and std::atomic<int32_t> must share the words");

// The domain words (static, 8.4 MB of .bss), initialised on first use.
Word* domain() noexcept;
inline Word& route_word(uint32_t b) noexcept { return domain()[dom::block_word_index(b) + kRouteWord]; }
inline Word& meta_word(uint32_t b) noexcept { return domain()[dom::block_word_index(b) + kMetaWord]; }

// ---------------------------------------------------------------------------
// Owners
// ---------------------------------------------------------------------------

enum OwnerStatus : int32_t { kFree = 0, kOpen = 1, kClosed = 2 };

// The published slot-state words of one owner: a header then `slots` words.
struct StateRegion {
  uint32_t slots;
  uint32_t reserved[3];  // keeps words 16-byte aligned
  int32_t* words() noexcept { return reinterpret_cast<int32_t*>(this + 1); }
};
static_assert(sizeof(StateRegion) == 16, "StateRegion header");

struct EventPath;
struct EnvData;

struct alignas(64) OwnerSlot {
  // --- read and written by any thread ---
  std::atomic<int32_t> status;       // OwnerStatus
  std::atomic<uint32_t> epoch;       // which inflight counter new producers use
  std::atomic<int32_t> inflight[2];  // producers inside the close protocol
  std::atomic<StateRegion*> region;  // published state words (or null)
  std::atomic<EventPath*> events;    // open event path (or null)
  std::atomic<EnvData*> env;         // env that claimed the owner (or null)
  // Drops counted by producers (relaxed). Reset by claim_owner.
  std::atomic<uint64_t> dropped_stale;
  std::atomic<uint64_t> dropped_closed;
  std::atomic<uint64_t> dropped_full;
  std::atomic<uint64_t> dropped_invalid;
  std::atomic<uint64_t> dropped_too_large;  // post_bytes over the limit
  // Written by the owning env's JS thread only (relaxed), read by any.
  std::atomic<uint64_t> delivered;
  std::atomic<uint64_t> dropped_at_close;
  // --- the owning env's JS thread only ---
  EventPath* path;                 // same as `events` while open
  napi_ref state_ref;              // weak ref to the ArrayBuffer over `region`
  uint32_t* blocks;                // blocks claimed by this owner (malloc'd)
  uint32_t block_count;
  uint32_t block_capacity;
};
static_assert(std::is_trivially_destructible<OwnerSlot>::value,
              "process-wide state must be trivially destructible");

extern OwnerSlot g_owners[dom::kOwnerWords];  // index 1..4095

// Posts that could not be attributed to any owner (malformed handle,
// unclaimed block, block of an owner that has since gone). event_stats(0).
extern std::atomic<uint64_t> g_unrouted_invalid;
extern std::atomic<uint64_t> g_unrouted_closed;

// Holds one of an owner's inflight counters for its lifetime.
class InflightGuard {
 public:
  explicit InflightGuard(OwnerSlot& s) noexcept
      : counter_(&s.inflight[s.epoch.load(std::memory_order_seq_cst) & 1]) {
    counter_->fetch_add(1, std::memory_order_seq_cst);
  }
  ~InflightGuard() { counter_->fetch_sub(1, std::memory_order_release); }
  InflightGuard(const InflightGuard&) = delete;
  InflightGuard& operator=(const InflightGuard&) = delete;

 private:
  std::atomic<int32_t>* counter_;
};

// Waits (spinning, then yielding) until every producer that might have seen
// the owner's previous status / region / event path has left. Call after
// publishing the change with a seq_cst store. Any thread; never from a
// producer holding an InflightGuard of the same owner.
void synchronize(OwnerSlot& s) noexcept;

// ---------------------------------------------------------------------------
// Routing (any thread)
// ---------------------------------------------------------------------------

// post: hr::Status as int32. Counts drops in the owner's stats.
int32_t post(uint64_t h, uint32_t kind, double payload) noexcept;
// kOk if live, else the status post would return before queueing (no counts).
int32_t check_live(uint64_t h) noexcept;
size_t post_many(const hr_event_v1* events, size_t count, int32_t* statuses) noexcept;
// post_bytes: see hr_api_v1::post_bytes.
int32_t post_bytes(uint64_t h, uint32_t kind, const void* data, uint32_t size) noexcept;

// Byte events in an owner's queue: an hr::Event with size > 0 owns a
// malloc'd buffer of `size` bytes whose address is stored in the bits of
// `payload` (size == 0: a numeric event, payload is the number). Whoever
// takes such an event out of the queue frees the buffer: on_async after
// copying it into the arena, close_event_path when dropping it. post_many
// always queues size 0, so only post_bytes creates byte events.
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
inline void free_event(const hr::Event& e) noexcept {
  if (e.size != 0) std::free(unpack_bytes(e.payload));
}

const hr_api_v1* api_table() noexcept;

// ---------------------------------------------------------------------------
// Event path (events.cc)
// ---------------------------------------------------------------------------

// Wake-up protocol (`scheduled`): true from the first post that finds it false
// until the wake-up it triggered has drained the queue.
//   producer (wake, after a push)        consumer (on_async, JS thread)
//   ------------------------------       -----------------------------------
//   claim a cell (seq_cst CAS)           drain batches; `scheduled` stays true,
//   scheduled? (seq_cst load)            so producers do not signal meanwhile
//     true: done (a drain will see it)   queue empty: scheduled = false (seq_cst),
//     false: exchange(true); if it was     seq_cst fence, then re-check the size:
//       false, uv_async_send               events? exchange(true), signal if false
// Either the consumer's re-check sees the claim, or the producer's load sees
// `false` and signals. A plain load on the hot path: while a wake-up is
// pending, posts only read the flag's cache line (shared, never bounced).
struct EventPath {
  uv_async_t async;  // first member: async.data also points here
  hr::EventQueue queue;
  // Most bytes a post_bytes event may carry on this path: min(HR_MAX_BYTES,
  // arena length), 0 without an arena. Set before the path is published.
  uint32_t max_bytes = 0;
  alignas(64) std::atomic<bool> scheduled{false};  // a wake-up is pending or running
  // --- the JS thread only (own cache line: producers never write near it) ---
  alignas(64) uint32_t owner = 0;
  EnvData* env_data = nullptr;
  napi_ref callback = nullptr;
  napi_ref batch = nullptr;
  napi_ref arena = nullptr;  // Uint8Array the bytes of byte events are copied to (or null)
  napi_async_context context = nullptr;
  size_t batch_max = 0;
  bool closing = false;

  explicit EventPath(size_t capacity) : queue(capacity) {}
};

// Per-env data (napi instance data), created at module init.
struct EnvData {
  napi_env env = nullptr;
  napi_ref domain_buffer = nullptr;
  napi_async_cleanup_hook_handle cleanup = nullptr;  // set while cleaning up
  bool in_cleanup = false;
  uint32_t pending_closes = 0;  // uv_close callbacks still to run
};

// Creates and publishes an event path. Returns nullptr and sets *why on error.
EventPath* open_event_path(EnvData* ed, uint32_t owner, size_t capacity,
                           napi_value batch, size_t batch_max,
                           napi_value callback, napi_value arena, size_t arena_length,
                           const char** why);
// Unpublishes, waits out producers, drops (and counts) queued events, and
// uv_closes the async handle; the path is freed by its close callback.
void close_event_path(EnvData* ed, OwnerSlot& s);
// Called from each uv close callback when env cleanup is waiting.
void maybe_finish_cleanup(EnvData* ed);

// Releases an owner on its env's JS thread (release_owner, env cleanup):
// the close protocol of internal.h. `extra` are block numbers JS passed in,
// retired too when they belong to the owner. In cleanup, JS objects are not
// touched (the state ArrayBuffer is not detached).
void close_owner(EnvData* ed, uint32_t owner, const int32_t* extra, size_t extra_count);
// Adds n to a counter written only by this thread.
inline void bump(std::atomic<uint64_t>& c, uint64_t n) noexcept {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

}  // namespace hr_native

#endif  // HANDLE_REGISTRY_NATIVE_INTERNAL_H_
