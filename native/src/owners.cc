// owners.cc: the owner lifecycle (owners.h): the domain table, claiming an
// owner index and its blocks, publishing its slot states, closing it, and the
// synchronize() step of the close protocol.
#include "owners.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "event_path.h"
#include "handle_registry_diagnostics.h"  // detail::load_relaxed of the state words
#include "hold.h"
#include "huge_alloc.h"
#include "resolve.h"

namespace hr_native {

alignas(64) Word g_domain[dom::kDomainWords];
BlockInfo g_blocks[lay::kMaxBlocks];
OwnerSlot g_owners[dom::kOwnerWords];
std::atomic<uint64_t> g_unrouted_invalid;
std::atomic<uint64_t> g_unrouted_closed;

namespace {

std::atomic<int32_t> g_domain_state;  // 0 = untouched, 1 = initialising, 2 = ready

// Native-private counters (the mirror's header words follow them).
std::atomic<uint32_t> g_next_block{1};  // next never-used block; block 0 is never claimed
std::atomic<uint32_t> g_owner_hint;
std::atomic<int32_t> g_live_owners;

// The pool of blocks returned by closed owners: a FIFO ring (oldest first, so
// reuse spreads over all blocks and generations stay small), under a spin
// lock (claims and releases are rare: one per 256 slots).
uint32_t g_pool[lay::kMaxBlocks];
uint32_t g_pool_head;  // next to pop
uint32_t g_pool_tail;  // next free cell
std::atomic<bool> g_pool_lock;

class PoolLock {
 public:
  PoolLock() noexcept {
    for (uint32_t spins = 0; g_pool_lock.exchange(true, std::memory_order_acquire); ++spins) {
      if (spins < 128) {
        hr::detail::cpu_relax();
      } else {
        std::this_thread::yield();
      }
    }
  }
  ~PoolLock() { g_pool_lock.store(false, std::memory_order_release); }
  PoolLock(const PoolLock&) = delete;
  PoolLock& operator=(const PoolLock&) = delete;
};

// Writes block b's private words to the mirror JS reads.
void mirror_block(uint32_t b) noexcept {
  const size_t i = dom::block_word_index(b);
  g_domain[i + dom::kMetaWord].store(g_blocks[b].meta.load(std::memory_order_relaxed), std::memory_order_seq_cst);
  g_domain[i + dom::kRouteWord].store(g_blocks[b].route.load(std::memory_order_relaxed), std::memory_order_seq_cst);
}

void init_domain() noexcept {
  int32_t expected = 0;
  if (g_domain_state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
    g_domain[dom::kNextBlockIndex].store(1, std::memory_order_seq_cst);  // block 0 is never claimed
    g_domain[dom::kLayoutVersionIndex].store(dom::kLayoutVersion, std::memory_order_seq_cst);
    g_domain[dom::kMagicIndex].store(dom::kMagic, std::memory_order_seq_cst);
    g_domain_state.store(2, std::memory_order_release);
    return;
  }
  while (g_domain_state.load(std::memory_order_acquire) != 2) std::this_thread::yield();
}

#ifndef NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED
void noop_finalize(napi_env, void*, void*) {}

// A zeroed region: the header, then `slots` words on huge pages when large
// (huge_alloc.h: fresh small pages are what a growing registry waits for).
StateRegion* new_region(uint32_t slots) noexcept {
  void* mem = huge::alloc_zeroed(sizeof(StateRegion), sizeof(int32_t) * size_t{slots});
  StateRegion* r = static_cast<StateRegion*>(mem);
  if (r != nullptr) r->slots = slots;
  return r;
}
// Its size comes from the header, which JS never sees (its view starts at the words).
void free_region(StateRegion* r) noexcept {
  if (r != nullptr) huge::free_zeroed(r, sizeof(StateRegion), sizeof(int32_t) * size_t{r->slots});
}
#else
// The words live in a JS-owned ArrayBuffer: the region is its header only.
StateRegion* new_region(uint32_t slots) noexcept {
  StateRegion* r = static_cast<StateRegion*>(std::calloc(1, sizeof(StateRegion)));
  if (r != nullptr) r->slots = slots;
  return r;
}
void free_region(StateRegion* r) noexcept { std::free(r); }
#endif

// Drops the ArrayBuffer over the owner's current state region: detached, so
// views JS may still hold read as empty instead of freed memory.
void drop_state_buffer(EnvData* ed, OwnerSlot& s) {
  if (s.state_ref == nullptr) return;
  if (!ed->in_cleanup) {
    napi_value ab = nullptr;
    if (napi_get_reference_value(ed->env, s.state_ref, &ab) == napi_ok && ab != nullptr) {
      napi_detach_arraybuffer(ed->env, ab);
    }
  }
  napi_delete_reference(ed->env, s.state_ref);
  s.state_ref = nullptr;
}

#ifdef NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED
// The calling env's copy of the words it just changed.
void touch(EnvData* ed, size_t first, size_t count) noexcept { sync_domain_copy(ed, first, count); }
#else
inline void touch(EnvData*, size_t, size_t) noexcept {}  // JS views the domain itself
#endif

// The first generation the next owner of block b issues, when the owner whose
// route word is `route` closes: above every generation that owner's state
// words name, and at least the old base + 1, unless every word of the block
// still holds its initial value (old base << 2): the owner issued nothing
// there (the registry only ever raises a slot's word from it; eager claims
// leave most blocks of a small registry untouched), and the block goes back
// with its base unchanged, so claiming it costs no generation. The words are
// written only through the registry's ES-private view, and the result is as
// good as they are (docs/design.md, "Threat model"); indexes are checked
// against the region's private size. Only the first `used` words (<= 256) of
// the block's page are read: the registry never writes past its bump pointer.
uint64_t next_base(uint32_t b, int32_t route, const int32_t* words, uint64_t slots, uint32_t used) noexcept {
  const uint32_t old_base = g_blocks[b].base.load(std::memory_order_relaxed);
  uint64_t base = uint64_t{old_base} + 1;
  const uint64_t first = static_cast<uint64_t>(dom::route_page(route)) << lay::kOffsetBits;
  if (first + lay::kSlotsPerBlock <= slots) {
    const int32_t initial = static_cast<int32_t>(old_base << lay::kStateGenShift);
    uint32_t top = 0;
    uint32_t touched = 0;
    for (uint64_t k = first; k < first + used; ++k) {
      const int32_t sw = words[k];
      touched |= static_cast<uint32_t>(sw != initial);
      top = std::max(top, static_cast<uint32_t>(sw) >> lay::kStateGenShift);
    }
    return touched != 0 ? std::max<uint64_t>(base, uint64_t{top} + 1) : old_base;
  }
  // A page the region covers only in part (a raw alloc_state of an odd size): every word counts.
  for (uint64_t k = first; k < slots; ++k) {
    base = std::max<uint64_t>(base, (static_cast<uint32_t>(words[k]) >> lay::kStateGenShift) + uint64_t{1});
  }
  return base;
}

// Appends blocks[0..*n) to the pool (FIFO) and empties the list.
void pool_push(uint32_t* blocks, uint32_t* n) noexcept {
  if (*n == 0) return;
  PoolLock lock;
  for (uint32_t i = 0; i < *n; ++i) g_pool[g_pool_tail++ % lay::kMaxBlocks] = blocks[i];
  *n = 0;
}

}  // namespace

#ifdef NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED
void copy_domain_words(int32_t* to, size_t begin, size_t end) noexcept {
  Word* words = domain();
  for (size_t i = begin; i < end && i < dom::kDomainWords; ++i) to[i] = words[i].load(std::memory_order_relaxed);
}

void sync_domain_copy(EnvData* ed, size_t first, size_t count) noexcept {
  if (ed == nullptr || ed->in_cleanup || ed->domain_buffer == nullptr) return;
  napi_value ab = nullptr;
  void* data = nullptr;
  size_t length = 0;
  if (napi_get_reference_value(ed->env, ed->domain_buffer, &ab) != napi_ok || ab == nullptr ||
      napi_get_arraybuffer_info(ed->env, ab, &data, &length) != napi_ok || data == nullptr ||
      length != dom::kDomainBytes) {
    return;  // detached or transferred by JS: nothing of ours to write
  }
  copy_domain_words(static_cast<int32_t*>(data), first, first + count);
}
#endif

Word* domain() noexcept {
  if (g_domain_state.load(std::memory_order_acquire) != 2) init_domain();
  return g_domain;
}

void synchronize(OwnerSlot& s) noexcept {
  inflight::synchronize(s.inflight, static_cast<uint32_t>(&s - g_owners));
}

uint32_t claim_owner(EnvData* ed, uint32_t* incarnation) noexcept {
  Word* w = domain();
  uint32_t hint = g_owner_hint.load(std::memory_order_relaxed);
  if (hint >= lay::kMaxOwners) hint = 0;
  for (uint32_t i = 0; i < lay::kMaxOwners; ++i) {
    const uint32_t owner = (hint + i) % lay::kMaxOwners + 1;
    OwnerSlot& s = g_owners[owner];
    int32_t expected = kFree;
    if (!s.status.compare_exchange_strong(expected, kClaiming, std::memory_order_seq_cst)) continue;
    // Producers that saw the previous incarnation CLOSED may still be adding
    // to its drop counters: let them finish before the reset.
    synchronize(s);
    s.dropped_stale.store(0, std::memory_order_relaxed);
    s.dropped_closed.store(0, std::memory_order_relaxed);
    s.dropped_full.store(0, std::memory_order_relaxed);
    s.dropped_invalid.store(0, std::memory_order_relaxed);
    s.dropped_too_large.store(0, std::memory_order_relaxed);
    s.dropped_timeout.store(0, std::memory_order_relaxed);
    s.delivered.store(0, std::memory_order_relaxed);
    s.dropped_at_close.store(0, std::memory_order_relaxed);
    s.path = nullptr;
    s.state_ref = nullptr;
    s.block_count = 0;
    *incarnation = s.incarnation.load(std::memory_order_relaxed) + 1;
    s.incarnation.store(*incarnation, std::memory_order_relaxed);
    s.env.store(ed, std::memory_order_seq_cst);
    s.status.store(kOpen, std::memory_order_seq_cst);
    g_owner_hint.store(owner % lay::kMaxOwners, std::memory_order_relaxed);
    const int32_t live = g_live_owners.fetch_add(1, std::memory_order_seq_cst) + 1;
    w[dom::owner_word_index(owner)].store(dom::kOwnerClaimed, std::memory_order_seq_cst);
    w[dom::kOwnerHintIndex].store(static_cast<int32_t>(owner % lay::kMaxOwners), std::memory_order_relaxed);
    w[dom::kLiveOwnersIndex].store(live, std::memory_order_relaxed);
    touch(ed, 0, dom::kHeaderWords);
    touch(ed, dom::owner_word_index(owner), 1);
    return owner;
  }
  return 0;
}

OwnerSlot* owned_slot(EnvData* ed, uint32_t owner, uint32_t incarnation) noexcept {
  if (owner == 0 || owner > lay::kMaxOwners) return nullptr;
  OwnerSlot& s = g_owners[owner];
  if (s.env.load(std::memory_order_acquire) != ed || s.status.load(std::memory_order_acquire) != kOpen ||
      s.incarnation.load(std::memory_order_relaxed) != incarnation) {
    return nullptr;
  }
  return &s;
}

uint32_t fresh_blocks() noexcept {
  const uint32_t next = g_next_block.load(std::memory_order_relaxed);
  return next >= lay::kMaxBlocks ? 0 : lay::kMaxBlocks - next;
}

uint32_t pooled_blocks() noexcept {
  PoolLock lock;
  return g_pool_tail - g_pool_head;
}

ClaimResult claim_block(uint32_t owner, uint32_t shard, uint32_t page, uint32_t* block, uint32_t* base) noexcept {
  OwnerSlot& s = g_owners[owner];
  if (s.block_count == s.block_capacity) {
    const uint32_t cap = s.block_capacity == 0 ? 64 : s.block_capacity * 2;
    void* grown = std::realloc(s.blocks, sizeof(uint32_t) * cap);
    if (grown == nullptr) return ClaimResult::kOutOfMemory;
    s.blocks = static_cast<uint32_t*>(grown);
    s.block_capacity = cap;
  }
  Word* w = domain();
  // Never-used blocks first (generation 0: small handles), then the pool.
  uint32_t b = 0;
  uint32_t next = g_next_block.load(std::memory_order_relaxed);
  while (next < lay::kMaxBlocks &&
         !g_next_block.compare_exchange_weak(next, next + 1, std::memory_order_seq_cst)) {
  }
  if (next < lay::kMaxBlocks) {
    b = next;
    w[dom::kNextBlockIndex].store(static_cast<int32_t>(next + 1), std::memory_order_relaxed);
  } else {
    PoolLock lock;
    if (g_pool_head == g_pool_tail) return ClaimResult::kExhausted;
    b = g_pool[g_pool_head++ % lay::kMaxBlocks];
  }
  *block = b;
  *base = g_blocks[b].base.load(std::memory_order_relaxed);
  s.blocks[s.block_count++] = b;
  meta_word(b).store(dom::meta_word_value(owner, shard), std::memory_order_seq_cst);
  route_word(b).store(dom::route_word_value(owner, page), std::memory_order_seq_cst);
  mirror_block(b);
  EnvData* ed = s.env.load(std::memory_order_relaxed);
  touch(ed, 0, dom::kHeaderWords);
  touch(ed, dom::block_word_index(b), dom::kWordsPerBlock);
  return ClaimResult::kOk;
}

napi_value alloc_state(EnvData* ed, uint32_t owner, uint32_t slots, bool* out_of_memory) noexcept {
  napi_env env = ed->env;
  OwnerSlot& s = g_owners[owner];
  const size_t bytes = sizeof(int32_t) * static_cast<size_t>(slots);
  StateRegion* r = new_region(slots);
  if (r == nullptr) {
    *out_of_memory = true;
    return nullptr;
  }
  napi_value ab;
#ifndef NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED
  if (napi_create_external_arraybuffer(env, r->words(), bytes, noop_finalize, nullptr, &ab) != napi_ok) {
    free_region(r);
    return nullptr;  // exception pending
  }
  const uint32_t ref_count = 0;  // weak: to detach it later
#else
  // JS-owned (zeroed; V8 backing stores do not move). The strong ref keeps it
  // alive for producers until drop_state_buffer, after synchronize().
  void* data = nullptr;
  if (napi_create_arraybuffer(env, bytes, &data, &ab) != napi_ok || (data == nullptr && bytes != 0)) {
    free_region(r);
    return nullptr;  // exception pending
  }
  r->data = static_cast<int32_t*>(data);
  const uint32_t ref_count = 1;
#endif
  StateRegion* old = s.region.load(std::memory_order_relaxed);
  if (old != nullptr) {
    std::memcpy(r->words(), old->words(), sizeof(int32_t) * std::min(old->slots, slots));
  }
  napi_ref ref = nullptr;
  if (napi_create_reference(env, ab, ref_count, &ref) != napi_ok) {
    free_region(r);  // not published: the old region stays
    *out_of_memory = true;
    return nullptr;
  }
  s.region.store(r, std::memory_order_seq_cst);
  synchronize(s);  // no producer reads `old` any more
  drop_state_buffer(ed, s);
  free_region(old);
  s.state_ref = ref;
  return ab;
}

void close_owner(EnvData* ed, uint32_t owner, const uint16_t* used, uint32_t n_used) {
  OwnerSlot& s = g_owners[owner];
  s.status.store(kClosed, std::memory_order_seq_cst);
  synchronize(s);  // producers that saw OPEN are done; the rest see CLOSED
  StateRegion* r = s.region.load(std::memory_order_seq_cst);
  // Plain reads of the state words: their only writer is this owner's JS
  // thread, which is this thread (plain loads let the scan vectorize).
  const int32_t* words = r != nullptr ? r->words() : nullptr;
  const uint64_t slots = r != nullptr ? r->slots : 0;
  // Blocks for the pool, pushed under one lock per 64 (a default registry
  // returns 16 at a time), never across a napi call (touch).
  uint32_t to_pool[64];
  uint32_t n_pool = 0;
  for (uint32_t i = 0; i < s.block_count; ++i) {
    const uint32_t b = s.blocks[i];
    if (b == 0 || b >= lay::kMaxBlocks) continue;
    const int32_t route = route_word(b).load(std::memory_order_seq_cst);
    if (route == 0 || dom::route_owner(route) != owner) continue;
    const uint32_t page = dom::route_page(route);
    const uint32_t page_used = page < n_used ? std::min<uint32_t>(used[page], lay::kSlotsPerBlock) : lay::kSlotsPerBlock;
    const uint64_t base = next_base(b, route, words, slots, page_used);
    // RETIRED before the route word goes to 0: a producer that reads 0 there
    // then finds RETIRED (registry_closed), never a bare "unclaimed".
    meta_word(b).fetch_or(dom::kRetired, std::memory_order_seq_cst);
    route_word(b).store(0, std::memory_order_seq_cst);
    mirror_block(b);
    touch(ed, dom::block_word_index(b), dom::kWordsPerBlock);
    if (base > lay::kGenMax) continue;  // retired for ever: no generation left
    g_blocks[b].base.store(static_cast<uint32_t>(base), std::memory_order_relaxed);
    to_pool[n_pool++] = b;
    if (n_pool == 64) pool_push(to_pool, &n_pool);
  }
  pool_push(to_pool, &n_pool);
  std::free(s.blocks);
  s.blocks = nullptr;
  s.block_count = s.block_capacity = 0;
  close_event_path(ed, s);
  close_resolve(owner);  // the values array and cached references (resolve.cc)
  close_holds(ed, owner);  // native holds are dropped with their registry (hold.cc)
  r = s.region.exchange(nullptr, std::memory_order_seq_cst);
  drop_state_buffer(ed, s);
  free_region(r);
  s.env.store(nullptr, std::memory_order_seq_cst);
  const int32_t live = g_live_owners.fetch_sub(1, std::memory_order_seq_cst) - 1;
  Word* w = domain();
  w[dom::owner_word_index(owner)].store(0, std::memory_order_seq_cst);
  w[dom::kLiveOwnersIndex].store(live, std::memory_order_relaxed);
  touch(ed, 0, dom::kHeaderWords);
  touch(ed, dom::owner_word_index(owner), 1);
  s.status.store(kFree, std::memory_order_seq_cst);  // last: the index may be claimed again
}

}  // namespace hr_native
