// resolve.cc: api->resolve, a handle to its JS value on the owner's JS
// thread without a JS call (resolve.h).
//
// Per owner index, in static storage (trivially destructible, like owners.h):
//   thread  the JS thread the registry lives on; the only field any thread
//           reads, so a resolve from another thread touches nothing that
//           close() frees. Set by publish_values, cleared by close_resolve.
//   env, vals, cache  read and written by that JS thread only.
// The registry's values live in chunks (`#vals` in src/registry.ts: a table of
// arrays of 2^kValueChunkBits cells, cell `local` at
// [local >> kValueChunkBits][local & mask]); JS publishes the table once, and
// growth adds chunks to it (or replaces chunk 0) in place. A resolved object or function is cached as a
// weak napi_ref keyed by the slot's state word (generation and flags), so the
// next resolve of the same handle costs one napi_get_reference_value, as the
// napi_ref-in-user_data design does; a released or reused slot has another
// state word, so a stale entry is never returned. Weak handles store their
// target there at registration (note_weak): V8 clears the reference when the
// object is collected, which resolve reports as COLLECTED.
#include "resolve.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <type_traits>

#include "handle_registry_diagnostics.h"  // detail::load_relaxed of the state words
#include "owners.h"
#include "status_codes.h"

namespace hr_native {

namespace {

using hr::Status;

using namespace status;  // kOk, kInvalid, ...: status_codes.h

// Must equal L.VALUE_CHUNK_BITS of src/layout.ts (test/resolve.test.ts
// resolves handles on both sides of a chunk boundary).
constexpr uint32_t kValueChunkBits = 16;
constexpr uint32_t kValueChunkMask = (1u << kValueChunkBits) - 1;

// A cached value: `ref` (weak) was made while the slot's state word was `key`
// (never 0 for a live slot: the live bit is set).
struct CacheEntry {
  uint32_t key;
  napi_ref ref;
};

// Who the current thread is, as one word (0 is nobody). On Linux x86-64 and
// aarch64 the thread pointer register itself (glibc and musl: the thread's
// control block, unique among live threads): one register read, where
// std::this_thread::get_id() is a call to pthread_self through the PLT on
// the hot path of every resolve. Elsewhere the address of a thread_local
// (distinct per live thread).
#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__)) && \
    (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 11))
inline uintptr_t current_thread() noexcept { return reinterpret_cast<uintptr_t>(__builtin_thread_pointer()); }
#else
inline uintptr_t current_thread() noexcept {
  static thread_local const char marker = 0;  // a distinct address per live thread
  return reinterpret_cast<uintptr_t>(&marker);
}
#endif

struct alignas(64) ResolveSlot {
  std::atomic<uintptr_t> thread;  // current_thread() of the owner's JS thread; any thread reads; 0 = nobody
  // --- the owner's JS thread only ---
  napi_env env;
  napi_ref vals;        // strong reference to the registry's table of value chunks
  CacheEntry* cache;    // indexed by local slot (page << 8 | offset)
  uint32_t cache_size;  // entries allocated
};
static_assert(std::is_trivially_destructible<ResolveSlot>::value,
              "process-wide state must be trivially destructible");


ResolveSlot g_resolve[dom::kOwnerWords];

// A live slot of this thread's registry: its owner, where h lives, and its
// state word.
struct Located {
  ResolveSlot* r;
  uint32_t owner;
  uint32_t local;
  uint32_t state;
};

// The checks resolve and note_weak share, in the documented order. kOk with
// *out set, or the status. Routing reads only native-private memory (the
// block table g_blocks, the owner's state region), never the domain mirror
// JS can write (owners.h).
inline int32_t locate_here(uint64_t h, Located* out) noexcept {
  if (!hr::is_valid(h)) return kInvalid;
  const uint32_t b = static_cast<uint32_t>(h >> lay::kOffsetBits) & lay::kBlockMask;
  const int32_t w = route_word(b).load(std::memory_order_acquire);
  if (w == 0) {
    // Retired blocks keep RETIRED in the meta word for ever (post.cc, locate).
    return (meta_word(b).load(std::memory_order_acquire) & dom::kRetired) != 0 ? kClosedSt : kInvalid;
  }
  const uint32_t owner = dom::route_owner(w);
  if (owner == 0 || owner > lay::kMaxOwners) return kInvalid;
  // Below the block's base: issued by an earlier, closed owner of a reused
  // block (post.cc, liveness). The base is fixed before the route word that
  // named the current owner was published, so any thread reads it safely.
  const uint32_t gen = static_cast<uint32_t>(h >> lay::kSlotBits) & lay::kGenMax;
  if (gen < g_blocks[b].base.load(std::memory_order_relaxed)) return kClosedSt;
  ResolveSlot& r = g_resolve[owner];
  if (r.thread.load(std::memory_order_acquire) != current_thread()) return kWrongThread;
  // The owner's JS thread from here on: nothing below can change under us.
  const StateRegion* region = g_owners[owner].region.load(std::memory_order_relaxed);
  const uint32_t local = dom::route_page(w) << lay::kOffsetBits | static_cast<uint32_t>(h & lay::kOffsetMask);
  if (region == nullptr || local >= region->slots) return kInvalid;
  const uint32_t sw = static_cast<uint32_t>(
      hr::detail::load_relaxed(const_cast<StateRegion*>(region)->words() + local));
  const uint32_t sgen = sw >> lay::kStateGenShift;
  if (sgen != gen || (sw & lay::kStateLive) == 0) {
    // As registry.get classifies it (src/registry.ts, locateRaw).
    if (gen >= sgen) return kInvalid;  // never issued
    if (gen + 1 == sgen && (sw & (lay::kStateWeak | lay::kStateLive)) == lay::kStateWeak) return kCollected;
    return kStale;
  }
  *out = Located{&r, owner, local, sw};
  return kOk;
}

// Makes r.cache cover `local` (zeroed entries). False if out of memory.
bool cache_cover(ResolveSlot& r, uint32_t local) noexcept {
  if (local < r.cache_size) return true;
  uint32_t size = r.cache_size == 0 ? 256 : r.cache_size;
  while (size <= local) size *= 2;
  void* grown = std::realloc(r.cache, sizeof(CacheEntry) * size);
  if (grown == nullptr) return false;
  r.cache = static_cast<CacheEntry*>(grown);
  std::memset(r.cache + r.cache_size, 0, sizeof(CacheEntry) * (size - r.cache_size));
  r.cache_size = size;
  return true;
}

// Caches `v` (an object or function) for slot `local` in state `key`.
bool cache_store(ResolveSlot& r, uint32_t local, uint32_t key, napi_value v) noexcept {
  if (!cache_cover(r, local)) return false;
  CacheEntry& e = r.cache[local];
  if (e.ref != nullptr) {
    napi_delete_reference(r.env, e.ref);
    e.ref = nullptr;
    e.key = 0;
  }
  napi_ref ref = nullptr;
  if (napi_create_reference(r.env, v, 0, &ref) != napi_ok) return false;  // weak
  e.key = key;
  e.ref = ref;
  return true;
}

}  // namespace

#if defined(__GNUC__) || defined(__clang__)
#define HR_NOINLINE __attribute__((noinline))
#elif defined(_MSC_VER)
#define HR_NOINLINE __declspec(noinline)
#else
#define HR_NOINLINE
#endif

namespace {

// resolve() past a cache miss: read the values array, cache objects and
// functions. Out of line so the hit path stays small.
HR_NOINLINE int32_t resolve_miss(const Located& at, napi_value* value_out) noexcept {
  ResolveSlot& r = *at.r;
  // A weak handle always has its entry (note_weak), unless storing it failed.
  if ((at.state & lay::kStateWeak) != 0) return kNapiFailed;
  napi_value table = nullptr;
  napi_value chunk = nullptr;
  napi_value v = nullptr;
  // napi_get_element on anything but an object fails (kNapiFailed), never
  // reads out of bounds: a table JS could not reach anyway.
  if (r.vals == nullptr || napi_get_reference_value(r.env, r.vals, &table) != napi_ok || table == nullptr ||
      napi_get_element(r.env, table, at.local >> kValueChunkBits, &chunk) != napi_ok ||
      napi_get_element(r.env, chunk, at.local & kValueChunkMask, &v) != napi_ok) {
    return kNapiFailed;
  }
  napi_valuetype type = napi_undefined;
  if (napi_typeof(r.env, v, &type) == napi_ok && (type == napi_object || type == napi_function)) {
    cache_store(r, at.local, at.state, v);  // best effort: a miss next time otherwise
  }
  *value_out = v;
  return kOk;
}

}  // namespace

namespace {

// The full resolve: every check in the documented order, then the cache or
// the values array. Out of line: resolve() below takes it only when its
// optimistic path cannot answer OK.
HR_NOINLINE int32_t resolve_checked(uint64_t h, napi_value* value_out) noexcept {
  Located at;
  const int32_t st = locate_here(h, &at);
  if (st != kOk) return st;
  const ResolveSlot& r = *at.r;
  if (at.local < r.cache_size) {
    const CacheEntry& e = r.cache[at.local];
    if (e.key == at.state && e.ref != nullptr) {
      napi_value v = nullptr;
      if (napi_get_reference_value(r.env, e.ref, &v) != napi_ok) return kNapiFailed;
      if (v != nullptr) {
        *value_out = v;
        return kOk;
      }
      // Cleared: a weak handle's object was collected (strong values are
      // held by the values array, so theirs cannot be).
      if ((at.state & lay::kStateWeak) != 0) return kCollected;
    }
  }
  return resolve_miss(at, value_out);
}

}  // namespace

// The hit path of a handle resolved before: the same checks as locate_here
// (valid, routed, not below its block's base, this thread, live with h's
// generation) with nothing but loads and compares, then the cached weak ref.
// Any check that does not pass hands over to resolve_checked, which redoes
// them in the documented order to pick the status: this path only ever
// answers OK, so the order of statuses is resolve_checked's.
int32_t resolve(uint64_t h, napi_value* value_out) noexcept {
  if (!hr::is_valid(h)) return resolve_checked(h, value_out);
  const uint32_t b = static_cast<uint32_t>(h >> lay::kOffsetBits) & lay::kBlockMask;
  const int32_t w = route_word(b).load(std::memory_order_acquire);
  const uint32_t owner = dom::route_owner(w);
  const uint32_t gen = static_cast<uint32_t>(h >> lay::kSlotBits) & lay::kGenMax;
  if (w == 0 || owner - 1 >= lay::kMaxOwners || gen < g_blocks[b].base.load(std::memory_order_relaxed)) {
    return resolve_checked(h, value_out);
  }
  const ResolveSlot& r = g_resolve[owner];
  if (r.thread.load(std::memory_order_acquire) != current_thread()) return resolve_checked(h, value_out);
  const StateRegion* region = g_owners[owner].region.load(std::memory_order_relaxed);
  const uint32_t local = dom::route_page(w) << lay::kOffsetBits | static_cast<uint32_t>(h & lay::kOffsetMask);
  if (region == nullptr || local >= region->slots || local >= r.cache_size) return resolve_checked(h, value_out);
  const uint32_t sw = static_cast<uint32_t>(
      hr::detail::load_relaxed(const_cast<StateRegion*>(region)->words() + local));
  const CacheEntry& e = r.cache[local];
  if ((sw >> lay::kStateGenShift) != gen || (sw & lay::kStateLive) == 0 || e.key != sw || e.ref == nullptr) {
    return resolve_checked(h, value_out);
  }
  napi_value v = nullptr;
  if (napi_get_reference_value(r.env, e.ref, &v) != napi_ok || v == nullptr) return resolve_checked(h, value_out);
  *value_out = v;
  return kOk;
}

bool weak_target_collected(uint64_t h) noexcept {
  Located at;
  if (locate_here(h, &at) != kOk || (at.state & lay::kStateWeak) == 0) return false;
  const ResolveSlot& r = *at.r;
  if (at.local >= r.cache_size) return false;
  const CacheEntry& e = r.cache[at.local];
  if (e.key != at.state || e.ref == nullptr) return false;  // no target noted: nothing known
  napi_value v = nullptr;
  return napi_get_reference_value(r.env, e.ref, &v) == napi_ok && v == nullptr;
}

napi_status publish_values(EnvData* ed, uint32_t owner, napi_value vals) noexcept {
  ResolveSlot& r = g_resolve[owner];
  napi_ref ref = nullptr;
  const napi_status st = napi_create_reference(ed->env, vals, 1, &ref);
  if (st != napi_ok) return st;
  if (r.vals != nullptr) napi_delete_reference(r.env, r.vals);
  r.env = ed->env;
  r.vals = ref;
  r.thread.store(current_thread(), std::memory_order_release);
  return napi_ok;
}

int32_t note_weak(uint32_t owner, uint64_t h, napi_value target) noexcept {
  Located at;
  const int32_t st = locate_here(h, &at);
  if (st != kOk) return st;
  if (at.owner != owner) return kInvalid;  // another registry's handle (same thread)
  if ((at.state & lay::kStateWeak) == 0) return kInvalid;
  return cache_store(*at.r, at.local, at.state, target) ? kOk : kNapiFailed;
}

void close_resolve(uint32_t owner) noexcept {
  ResolveSlot& r = g_resolve[owner];
  r.thread.store(0, std::memory_order_release);
  for (uint32_t i = 0; i < r.cache_size; ++i) {
    if (r.cache[i].ref != nullptr) napi_delete_reference(r.env, r.cache[i].ref);
  }
  std::free(r.cache);
  r.cache = nullptr;
  r.cache_size = 0;
  if (r.vals != nullptr) napi_delete_reference(r.env, r.vals);
  r.vals = nullptr;
  r.env = nullptr;
}

}  // namespace hr_native
