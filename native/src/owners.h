// owners.h: the owner lifecycle of the addon, in one place: the process-wide
// domain table, the owner slots, and claim / block claim / state allocation /
// close / synchronize (owners.cc). Routing a post through it: post.cc.
//
// Trust: every decision that protects memory or routes a post is made from
// NATIVE-PRIVATE memory here (owner status, the block table g_blocks, the
// block pool). The domain words JS can see (g_domain, an ArrayBuffer that any
// thread may scribble on) are a MIRROR native writes at claim and release for
// JS diagnostics (describe(), stats()) and as a routing hint that registries
// verify against their own private memory; native code never reads it.
// State regions (slot-state words shown to JS) are read only at indexes
// bounds-checked against the region's private header, and freed only by the
// close protocol, after the JS view is detached.
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
//   enter the owner's InflightGuard           synchronize(): membarrier, then
//   status == OPEN? route == w0?   (seq_cst)    wait for every thread marked
//   read state region, push event               inside this owner to leave
//   leave the guard                (release)  retire blocks, close the event path,
//                                             free the state region, status = FREE
// Either the producer sees CLOSED (and touches nothing), or the closer sees it
// inside and waits. The guard is a plain store to the thread's own marker on
// entry and on exit; the closer's membarrier is the other half of the fence
// (inflight.h, which also keeps the old shared counters as its fallback).
#ifndef HANDLE_REGISTRY_NATIVE_OWNERS_H_
#define HANDLE_REGISTRY_NATIVE_OWNERS_H_

#include <node_api.h>

#include <atomic>
#include <thread>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "handle_registry.h"
#include "handle_registry_layout.h"
#include "inflight.h"

namespace hr_native {

namespace dom = hr::domain;
namespace lay = hr::layout;

// ---------------------------------------------------------------------------
// Domain table (layout: handle_registry_layout.h)
// ---------------------------------------------------------------------------

using Word = std::atomic<int32_t>;
static_assert(sizeof(Word) == sizeof(int32_t) && Word::is_always_lock_free,
              "JS Atomics and std::atomic<int32_t> must share the words");

// The domain words JS sees (static, 8.4 MB of .bss), initialised on first
// use: a mirror, written by native, never read by native for a decision.
Word* domain() noexcept;
extern Word g_domain[dom::kDomainWords];

// The native-private block table: what post() routes on. route and meta have
// the values of the mirror's block words (handle_registry_layout.h); base is
// the first generation the block's current (or next) owner issues: 1 + the
// highest generation any earlier owner of the block could have issued, so a
// handle of an earlier owner never matches a slot of a later one.
struct BlockInfo {
  Word route;
  Word meta;
  std::atomic<uint32_t> base;
};
extern BlockInfo g_blocks[lay::kMaxBlocks];
inline Word& route_word(uint32_t b) noexcept { return g_blocks[b].route; }
inline Word& meta_word(uint32_t b) noexcept { return g_blocks[b].meta; }

// ---------------------------------------------------------------------------
// Owner slots
// ---------------------------------------------------------------------------

enum OwnerStatus : int32_t { kFree = 0, kOpen = 1, kClosed = 2, kClaiming = 3 };

// The published slot-state words of one owner: a header then `slots` words.
#ifndef NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED
struct StateRegion {
  uint32_t slots;
  uint32_t reserved[3];  // keeps words 16-byte aligned
  int32_t* words() noexcept { return reinterpret_cast<int32_t*>(this + 1); }
};
static_assert(sizeof(StateRegion) == 16, "StateRegion header");
#else
// No external ArrayBuffers (Electron): the words are the backing store of a
// JS-owned ArrayBuffer the owner holds with a strong ref (state_ref) until the
// close protocol has waited out producers; the header stays native-private.
struct StateRegion {
  uint32_t slots;
  int32_t* data;
  int32_t* words() noexcept { return data; }
};
#endif

struct EventPath;
struct EnvData;
struct HoldLoop;

struct alignas(64) OwnerSlot {
  // --- read and written by any thread ---
  std::atomic<int32_t> status;       // OwnerStatus
  inflight::Counters inflight;       // producers inside the close protocol (fallback counters)
  std::atomic<StateRegion*> region;  // published state words (or null)
  std::atomic<EventPath*> events;    // open event path (or null)
  std::atomic<EnvData*> env;         // env that claimed the owner (or null)
  std::atomic<uint32_t> incarnation; // bumped by each claim: tokens of earlier claims fail
  // Drops counted by producers (relaxed). Reset by claim_owner.
  std::atomic<uint64_t> dropped_stale;
  std::atomic<uint64_t> dropped_closed;
  std::atomic<uint64_t> dropped_full;
  std::atomic<uint64_t> dropped_invalid;
  std::atomic<uint64_t> dropped_too_large;  // post_bytes over the limit
  std::atomic<uint64_t> dropped_timeout;    // 'block' / post_wait waited their limit
  // Written by the owning env's JS thread only (relaxed), read by any.
  std::atomic<uint64_t> delivered;
  std::atomic<uint64_t> dropped_at_close;
  // --- the owning env's JS thread only ---
  EventPath* path;                 // same as `events` while open
  napi_ref state_ref;              // ref to the ArrayBuffer over `region` (strong without external buffers)
  uint32_t* blocks;                // blocks claimed by this owner (malloc'd)
  uint32_t block_count;
  uint32_t block_capacity;
};
static_assert(std::is_trivially_destructible<OwnerSlot>::value,
              "process-wide state must be trivially destructible");

extern OwnerSlot g_owners[dom::kOwnerWords];  // index 1..kMaxOwners

// True on the JS thread of the env that claimed `s` (a blocking entry there
// would wait for itself). Call under an InflightGuard of `s` after admit():
// the env outlives every owner it claimed, so s.env is safe to read.
inline bool on_owner_thread(const OwnerSlot& s) noexcept;

// Posts that could not be attributed to any owner (malformed handle,
// unclaimed block, block of an owner that has since gone). event_stats(0).
extern std::atomic<uint64_t> g_unrouted_invalid;
extern std::atomic<uint64_t> g_unrouted_closed;

// Marks the calling thread inside the close protocol of an owner for its
// lifetime (inflight.h: a plain store to the thread's marker, or the
// owner's counters). Tagged with the owner index.
class InflightGuard : inflight::Guard {
 public:
  explicit InflightGuard(OwnerSlot& s) noexcept
      : inflight::Guard(s.inflight, static_cast<uint32_t>(&s - g_owners)) {}
};
static_assert(lay::kMaxOwners <= inflight::kMaxTag, "owner indexes are inflight tags");

// Waits (spinning, then yielding) until every producer that might have seen
// the owner's previous status / region / event path has left. Call after
// publishing the change with a seq_cst store. Any thread; never from a
// producer holding an InflightGuard of the same owner.
void synchronize(OwnerSlot& s) noexcept;

// Adds n to a counter written only by this thread.
inline void bump(std::atomic<uint64_t>& c, uint64_t n) noexcept {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// Per-env data (napi instance data), created at module init.
struct EnvData {
  napi_env env = nullptr;
  // The JS thread of this env, fixed at module init: blocking entries (call,
  // post_wait) refuse with WOULD_DEADLOCK on the thread they would wait for.
  std::thread::id thread = std::this_thread::get_id();
  napi_ref domain_buffer = nullptr;
  napi_ref native_api = nullptr;  // the tagged external of native_api()
  napi_async_cleanup_hook_handle cleanup = nullptr;  // set while cleaning up
  bool in_cleanup = false;
  uint32_t pending_closes = 0;  // uv_close callbacks still to run
  HoldLoop* holds = nullptr;  // api->hold's loop handle (hold.cc), from the first claim
};

inline bool on_owner_thread(const OwnerSlot& s) noexcept {
  const EnvData* ed = s.env.load(std::memory_order_acquire);
  return ed != nullptr && ed->thread == std::this_thread::get_id();
}

#ifdef NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED
// No external ArrayBuffers (Electron): each env sees a JS-owned copy of the
// domain (EnvData::domain_buffer), written only on that env's JS thread: by
// the lifecycle functions below for the words they change, and on request
// (domain_sync) for words other threads changed. A copy JS detached or
// transferred is never written (its pointer is looked up at each write).

// Copies domain words [begin, end) into `to`.
void copy_domain_words(int32_t* to, size_t begin, size_t end) noexcept;
// Copies domain words [first, first + count) into ed's copy, if it has one
// attached; on ed's JS thread, outside env cleanup.
void sync_domain_copy(EnvData* ed, size_t first, size_t count) noexcept;
#endif

// ---------------------------------------------------------------------------
// Lifecycle (owners.cc). All on the JS thread of `ed`.
// ---------------------------------------------------------------------------

// Claims a free owner index for this env (CAS on the private status, kFree ->
// kClaiming -> kOpen; the mirror's OWNERS word follows) and opens it; 0 if all
// kMaxOwners are in use. *incarnation: the claim's number (for its token).
uint32_t claim_owner(EnvData* ed, uint32_t* incarnation) noexcept;

// The slot of `owner` if it is open, was claimed by `ed`, and `incarnation`
// is that claim's, else nullptr.
OwnerSlot* owned_slot(EnvData* ed, uint32_t owner, uint32_t incarnation) noexcept;

enum class ClaimResult { kOk, kExhausted, kOutOfMemory };
// Claims a block for `owner` (open, of this env), as its page `page` in shard
// `shard`: a never-used block while there are any, else the oldest block
// returned to the pool. Publishes the meta word, then the route word (and
// mirrors both). *base: the first generation the owner may issue in it.
ClaimResult claim_block(uint32_t owner, uint32_t shard, uint32_t page, uint32_t* block, uint32_t* base) noexcept;

// Publishes a zeroed state region of `slots` words (keeping the old region's
// words), waits out producers that read the old one, frees it, and returns an
// external ArrayBuffer over the new words (nullptr with an exception pending,
// or with *out_of_memory set).
napi_value alloc_state(EnvData* ed, uint32_t owner, uint32_t slots, bool* out_of_memory) noexcept;

// Releases an owner (release_owner, env cleanup): the close protocol above.
// Its blocks (from the private list) go back to the pool with base = 1 + the
// highest generation its state words name (never below old base + 1); a block
// whose base would pass kGenMax is retired for ever. In cleanup, JS objects
// are not touched (the state ArrayBuffer is not detached). `used` (optional,
// from the registry's private bump pointers): per page, how many of its first
// slots were ever issued; the rest still hold their initial word, so the scan
// stops there (pages past n_used, or without `used`, are scanned whole).
void close_owner(EnvData* ed, uint32_t owner, const uint16_t* used = nullptr, uint32_t n_used = 0);

// Blocks never claimed, and blocks waiting in the pool (for stats).
uint32_t fresh_blocks() noexcept;
uint32_t pooled_blocks() noexcept;

}  // namespace hr_native

#endif  // HANDLE_REGISTRY_NATIVE_OWNERS_H_
