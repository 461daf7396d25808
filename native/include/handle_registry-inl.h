// handle_registry-inl.h: definitions for handle_registry.h.
//
// Do not include this file directly: include "handle_registry.h", which
// includes it at its end.

#ifndef HANDLE_REGISTRY_INL_H_
#define HANDLE_REGISTRY_INL_H_

#ifndef HANDLE_REGISTRY_H_
#error "include handle_registry.h, not handle_registry-inl.h"
#endif

namespace hr {
inline namespace HANDLE_REGISTRY_ABI_NAMESPACE {

namespace detail {

// Atomic loads of words that other threads (or JS Atomics) write. The domain
// table is plain int32 memory, not std::atomic<int32_t> objects, so we use the
// GCC/Clang builtins (C++17), std::atomic_ref where it exists (C++20, e.g.
// MSVC), and as a last resort a volatile load plus a fence (MSVC C++17 on
// x86/x64, where aligned 32-bit loads are atomic; untested here).
inline int32_t load_i32(const int32_t* p, std::memory_order order) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  return order == std::memory_order_relaxed ? __atomic_load_n(p, __ATOMIC_RELAXED)
                                            : __atomic_load_n(p, __ATOMIC_ACQUIRE);
#elif defined(__cpp_lib_atomic_ref)
  return std::atomic_ref<int32_t>(*const_cast<int32_t*>(p)).load(order);
#else
  int32_t v = *static_cast<const volatile int32_t*>(p);
  std::atomic_thread_fence(order == std::memory_order_relaxed
                               ? std::memory_order_relaxed
                               : std::memory_order_acquire);
  return v;
#endif
}

inline int32_t load_acquire(const int32_t* p) noexcept {
  return load_i32(p, std::memory_order_acquire);
}

inline int32_t load_relaxed(const int32_t* p) noexcept {
  return load_i32(p, std::memory_order_relaxed);
}

constexpr size_t round_up_pow2(size_t n) noexcept {
  size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

}  // namespace detail

// ---------------------------------------------------------------------------
// Handles
// ---------------------------------------------------------------------------

constexpr bool is_valid(Handle h) noexcept {
  return h >= 1 && h <= kMaxHandle && ((h >> kOffsetBits) & kBlockMask) != 0;
}

constexpr Decoded decode(Handle h) noexcept {
  return Decoded{static_cast<uint32_t>(h & kSlotMask),
                 static_cast<uint32_t>((h >> kOffsetBits) & kBlockMask),
                 static_cast<uint32_t>(h & kOffsetMask),
                 static_cast<uint32_t>((h >> kSlotBits) & kGenMax)};
}

constexpr Handle make_handle(uint32_t block, uint32_t offset,
                             uint32_t generation) noexcept {
  return (static_cast<Handle>(generation & kGenMax) << kSlotBits) |
         (static_cast<Handle>(block & kBlockMask) << kOffsetBits) |
         static_cast<Handle>(offset & kOffsetMask);
}

inline void* to_user_data(Handle h) noexcept {
  static_assert(sizeof(void*) == sizeof(Handle) &&
                    sizeof(uintptr_t) == sizeof(Handle),
                "hr::to_user_data: handles round-trip through void* only "
                "with 64-bit pointers");
  return reinterpret_cast<void*>(static_cast<uintptr_t>(h));
}

inline Handle from_user_data(const void* user_data) noexcept {
  static_assert(sizeof(void*) == sizeof(Handle) &&
                    sizeof(uintptr_t) == sizeof(Handle),
                "hr::from_user_data: handles round-trip through void* only "
                "with 64-bit pointers");
  return static_cast<Handle>(reinterpret_cast<uintptr_t>(user_data));
}

// ---------------------------------------------------------------------------
// Status, hashing
// ---------------------------------------------------------------------------

constexpr const char* status_name(Status s) noexcept {
  switch (s) {
    case Status::kOk: return "ok";
    case Status::kInvalidHandle: return "invalid_handle";
    case Status::kStaleHandle: return "stale_handle";
    case Status::kForeignHandle: return "foreign_handle";
    case Status::kRegistryClosed: return "registry_closed";
    case Status::kQueueFull: return "queue_full";
    case Status::kVersionMismatch: return "version_mismatch";
    case Status::kNotAttached: return "not_attached";
    case Status::kPayloadTooLarge: return "payload_too_large";
  }
  return "unknown";
}

constexpr uint64_t fmix64(uint64_t k) noexcept {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

constexpr uint32_t fmix32(uint32_t h) noexcept {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

// ---------------------------------------------------------------------------
// DomainView
// ---------------------------------------------------------------------------

inline DomainView::DomainView(const int32_t* words, size_t word_count) noexcept
    : words_(words), word_count_(words != nullptr ? word_count : 0) {}

inline bool DomainView::attached() const noexcept {
  return words_ != nullptr && word_count_ >= domain::kDomainWords;
}

inline Status DomainView::check() const noexcept {
  if (!attached()) return Status::kNotAttached;
  if (detail::load_acquire(words_ + domain::kMagicIndex) != domain::kMagic ||
      detail::load_acquire(words_ + domain::kLayoutVersionIndex) !=
          domain::kLayoutVersion) {
    return Status::kVersionMismatch;
  }
  return Status::kOk;
}

inline int32_t DomainView::block_word(uint32_t block) const noexcept {
  if (!attached() || block >= kMaxBlocks) return 0;
  return detail::load_acquire(words_ + domain::block_word_index(block));
}

inline BlockInfo DomainView::block_info(Handle h) const noexcept {
  BlockInfo info{false, false, 0, 0, 0};
  if (!is_valid(h) || !attached()) return info;
  const uint32_t block = decode(h).block;
  const size_t i = domain::block_word_index(block);
  // Word 0 first (acquire): when it is non-zero, word 1, stored before it by
  // the claimer, is visible in the load below.
  const uint32_t route = static_cast<uint32_t>(detail::load_acquire(words_ + i));
  const uint32_t meta = static_cast<uint32_t>(detail::load_acquire(words_ + i + 1));
  if ((meta & static_cast<uint32_t>(domain::kClaimed)) == 0) return info;
  info.claimed = true;
  // A zero route with a claimed meta word: closed (kRetired), or a claim whose
  // route is not published yet (no handle of the block exists yet).
  info.retired = (meta & static_cast<uint32_t>(domain::kRetired)) != 0;
  info.owner = meta & domain::kOwnerMask;
  info.shard = (meta >> domain::kShardShift) & domain::kShardMask;
  info.page = info.retired ? 0 : route & domain::kPageMask;
  return info;
}

inline uint32_t DomainView::owner_of(Handle h) const noexcept {
  return block_info(h).owner;
}

inline uint32_t DomainView::shard_of(Handle h) const noexcept {
  return block_info(h).shard;
}

inline bool DomainView::is_claimed(Handle h) const noexcept {
  return block_info(h).claimed;
}

inline bool DomainView::is_retired(Handle h) const noexcept {
  return block_info(h).retired;
}

inline bool DomainView::owned_by(Handle h, uint32_t owner) const noexcept {
  const BlockInfo info = block_info(h);
  return info.claimed && !info.retired && owner != 0 && info.owner == owner;
}

inline uint32_t DomainView::page_of(Handle h) const noexcept {
  return block_info(h).page;
}

inline int32_t DomainView::owner_generation(uint32_t owner) const noexcept {
  if (!attached() || owner == 0 || owner > kMaxOwners) return 0;
  return detail::load_acquire(words_ + domain::owner_word_index(owner));
}

inline int32_t DomainView::next_block() const noexcept {
  if (!attached()) return 0;
  return detail::load_relaxed(words_ + domain::kNextBlockIndex);
}

inline int32_t DomainView::live_owners() const noexcept {
  if (!attached()) return 0;
  return detail::load_relaxed(words_ + domain::kLiveOwnersIndex);
}

// ---------------------------------------------------------------------------
// NodePool
// ---------------------------------------------------------------------------

namespace detail {

// Out of line on purpose: if GCC inlines the fallback ::operator delete into
// a caller that also sees a pooled pointer, -Wfree-nonheap-object can fire
// (a false positive, the pooled check keeps them apart) and break -Werror
// builds of addons.
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noinline))
#elif defined(_MSC_VER)
__declspec(noinline)
#endif
inline void free_unpooled(void* p, size_t align) noexcept {
  if (align > alignof(std::max_align_t)) {
    ::operator delete(p, std::align_val_t(align));
  } else {
    ::operator delete(p);
  }
}

inline NodePool::~NodePool() { release(); }

inline void* NodePool::allocate(size_t bytes, size_t align, size_t n) {
  if (slot_size_ == 0 && n == 1 && align <= alignof(std::max_align_t) &&
      bytes >= sizeof(FreeSlot)) {
    // The first single-object allocation fixes the slot size. Round it up so
    // every slot stays aligned for any type of that size.
    const size_t a = align < alignof(FreeSlot) ? alignof(FreeSlot) : align;
    slot_size_ = (bytes + a - 1) / a * a;
    if (slot_size_ != bytes) slot_size_ = 0;  // padded type: do not pool
  }
  if (!pooled(bytes, align, n)) {
    if (align > alignof(std::max_align_t)) {
      return ::operator new(bytes, std::align_val_t(align));
    }
    return ::operator new(bytes);
  }
  ++live_;
  if (free_ != nullptr) {
    FreeSlot* slot = free_;
    free_ = slot->next;
    return slot;
  }
  if (bump_ == bump_end_) {
    const size_t slots = next_chunk_slots_;
    if (next_chunk_slots_ < kMaxChunkSlots) next_chunk_slots_ *= 2;
    char* raw = static_cast<char*>(::operator new(kChunkHeader + slots * slot_size_));
    Chunk* chunk = reinterpret_cast<Chunk*>(raw);
    chunk->next = chunks_;
    chunk->slots = slots;
    chunks_ = chunk;
    bump_ = raw + kChunkHeader;
    bump_end_ = bump_ + slots * slot_size_;
  }
  void* p = bump_;
  bump_ += slot_size_;
  return p;
}

inline void NodePool::deallocate(void* p, size_t bytes, size_t align,
                                 size_t n) noexcept {
  if (p == nullptr) return;
  if (!pooled(bytes, align, n)) {
    free_unpooled(p, align);
    return;
  }
  --live_;
  FreeSlot* slot = static_cast<FreeSlot*>(p);
  slot->next = free_;
  free_ = slot;
}

inline void NodePool::release() noexcept {
  if (live_ != 0) return;
  while (chunks_ != nullptr) {
    Chunk* next = chunks_->next;
    ::operator delete(static_cast<void*>(chunks_));
    chunks_ = next;
  }
  free_ = nullptr;
  bump_ = bump_end_ = nullptr;
  next_chunk_slots_ = kFirstChunkSlots;
}

}  // namespace detail

// ---------------------------------------------------------------------------
// ShardLock
// ---------------------------------------------------------------------------

namespace detail {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
  __asm__ __volatile__("yield");
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
  _mm_pause();
#elif defined(_MSC_VER) && defined(_M_ARM64)
  __yield();
#endif
}

inline ShardLock::ShardLock(std::mutex& mu) : mu_(mu) {
  // Shard critical sections are a hash lookup (~100 ns), far shorter than a
  // futex sleep + wake-up, so try briefly before blocking.
  if (mu_.try_lock()) return;
  for (int i = 0; i < kSpins; ++i) {
    for (int j = 0; j < (1 << (i < 3 ? i : 3)); ++j) cpu_relax();
    if (mu_.try_lock()) return;
  }
  mu_.lock();
}

}  // namespace detail

// ---------------------------------------------------------------------------
// ShardedMap
// ---------------------------------------------------------------------------

template <class V, size_t Shards>
ShardedMap<V, Shards>::ShardedMap()
    : shards_(new detail::MapShard<V>[Shards]) {}

template <class V, size_t Shards>
ShardedMap<V, Shards>::ShardedMap(size_t expected) : ShardedMap() {
  reserve(expected);
}

template <class V, size_t Shards>
constexpr size_t ShardedMap<V, Shards>::shard_index(Handle h) noexcept {
  return static_cast<size_t>(fmix64(h)) & (Shards - 1);
}

template <class V, size_t Shards>
detail::MapShard<V>& ShardedMap<V, Shards>::shard_for(Handle h) const noexcept {
  return shards_[shard_index(h)];
}

template <class V, size_t Shards>
bool ShardedMap<V, Shards>::insert(Handle h, V value) {
  detail::MapShard<V>& s = shard_for(h);
  detail::ShardLock lock(s.mu);  // h's shard
  return s.map.try_emplace(h, std::move(value)).second;
}

template <class V, size_t Shards>
bool ShardedMap<V, Shards>::insert_or_assign(Handle h, V value) {
  detail::MapShard<V>& s = shard_for(h);
  detail::ShardLock lock(s.mu);  // h's shard
  return s.map.insert_or_assign(h, std::move(value)).second;
}

template <class V, size_t Shards>
template <class F>
bool ShardedMap<V, Shards>::find(Handle h, F&& f) {
  detail::MapShard<V>& s = shard_for(h);
  detail::ShardLock lock(s.mu);  // h's shard, held while f runs
  auto it = s.map.find(h);
  if (it == s.map.end()) return false;
  std::forward<F>(f)(it->second);
  return true;
}

template <class V, size_t Shards>
template <class F>
bool ShardedMap<V, Shards>::find(Handle h, F&& f) const {
  const detail::MapShard<V>& s = shard_for(h);
  detail::ShardLock lock(s.mu);  // h's shard, held while f runs
  auto it = s.map.find(h);
  if (it == s.map.end()) return false;
  std::forward<F>(f)(static_cast<const V&>(it->second));
  return true;
}

template <class V, size_t Shards>
bool ShardedMap<V, Shards>::contains(Handle h) const {
  const detail::MapShard<V>& s = shard_for(h);
  detail::ShardLock lock(s.mu);  // h's shard
  return s.map.find(h) != s.map.end();
}

template <class V, size_t Shards>
std::optional<V> ShardedMap<V, Shards>::take(Handle h) {
  detail::MapShard<V>& s = shard_for(h);
  detail::ShardLock lock(s.mu);  // h's shard
  auto it = s.map.find(h);
  if (it == s.map.end()) return std::nullopt;
  std::optional<V> out(std::move(it->second));
  s.map.erase(it);
  return out;
}

template <class V, size_t Shards>
bool ShardedMap<V, Shards>::erase(Handle h) {
  detail::MapShard<V>& s = shard_for(h);
  detail::ShardLock lock(s.mu);  // h's shard
  return s.map.erase(h) != 0;
}

template <class V, size_t Shards>
size_t ShardedMap<V, Shards>::size() const {
  size_t n = 0;
  for (size_t i = 0; i < Shards; ++i) {
    detail::ShardLock lock(shards_[i].mu);  // shard i only
    n += shards_[i].map.size();
  }
  return n;
}

template <class V, size_t Shards>
bool ShardedMap<V, Shards>::empty() const {
  for (size_t i = 0; i < Shards; ++i) {
    detail::ShardLock lock(shards_[i].mu);  // shard i only
    if (!shards_[i].map.empty()) return false;
  }
  return true;
}

template <class V, size_t Shards>
template <class F>
void ShardedMap<V, Shards>::for_each(F&& f) {
  for (size_t i = 0; i < Shards; ++i) {
    detail::ShardLock lock(shards_[i].mu);  // shard i, held while f runs
    for (auto& kv : shards_[i].map) f(kv.first, kv.second);
  }
}

template <class V, size_t Shards>
template <class F>
void ShardedMap<V, Shards>::for_each(F&& f) const {
  for (size_t i = 0; i < Shards; ++i) {
    detail::ShardLock lock(shards_[i].mu);  // shard i, held while f runs
    for (const auto& kv : shards_[i].map) {
      f(kv.first, static_cast<const V&>(kv.second));
    }
  }
}

template <class V, size_t Shards>
void ShardedMap<V, Shards>::clear() {
  for (size_t i = 0; i < Shards; ++i) {
    detail::ShardLock lock(shards_[i].mu);  // shard i only
    shards_[i].map.clear();
    shards_[i].pool.release();  // no-op unless every node came back
  }
}

template <class V, size_t Shards>
void ShardedMap<V, Shards>::reserve(size_t expected) {
  const size_t per_shard = (expected + Shards - 1) / Shards;
  for (size_t i = 0; i < Shards; ++i) {
    detail::ShardLock lock(shards_[i].mu);  // shard i only
    shards_[i].map.reserve(per_shard);
  }
}

// ---------------------------------------------------------------------------
// BoundedQueue (Vyukov bounded MPMC ring, used with a single consumer)
// ---------------------------------------------------------------------------
//
// Cell i starts with seq = i. A producer that reads pos with
// cells[pos & mask].seq == pos owns the cell once its CAS advances
// enqueue_pos_; it writes data and publishes seq = pos + 1 (release). The
// consumer at pos waits for seq == pos + 1, reads data, and frees the cell
// for the next lap with seq = pos + capacity (release).

template <class T>
BoundedQueue<T>::BoundedQueue(size_t capacity)
    : mask_(detail::round_up_pow2(capacity < 2 ? 2 : capacity) - 1),
      cells_(new Cell[mask_ + 1]()) {
  for (size_t i = 0; i <= mask_; ++i) {
    cells_[i].seq.store(i, std::memory_order_relaxed);
  }
}

template <class T>
Status BoundedQueue<T>::try_push(const T& item) noexcept {
  size_t pos = enqueue_pos_.load(std::memory_order_relaxed);
  Cell* cell;
  for (;;) {
    cell = &cells_[pos & mask_];
    const size_t seq = cell->seq.load(std::memory_order_acquire);
    const intptr_t dif = static_cast<intptr_t>(seq) - static_cast<intptr_t>(pos);
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
  cell->seq.store(pos + 1, std::memory_order_release);
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
      if (cells_[last & mask_].seq.load(std::memory_order_acquire) == last) {
        // seq_cst for the same reason as in try_push.
        if (!enqueue_pos_.compare_exchange_weak(pos, pos + m, std::memory_order_seq_cst,
                                                std::memory_order_relaxed)) {
          continue;  // another producer moved enqueue_pos_: re-estimate
        }
        for (size_t j = 0; j < m; ++j) {
          Cell& cell = cells_[(pos + j) & mask_];
          cell.data = items[done + j];
          cell.seq.store(pos + j + 1, std::memory_order_release);
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
    if (static_cast<intptr_t>(seq) - static_cast<intptr_t>(pos + 1) < 0) {
      break;  // empty, or its producer is still writing it
    }
    if constexpr (std::is_same<decltype(sink(std::declval<const T&>(), n)), bool>::value) {
      if (!sink(static_cast<const T&>(cell.data), n)) break;  // left in its cell
    } else {
      sink(static_cast<const T&>(cell.data), n);
    }
    ++n;
    cell.seq.store(pos + lap, std::memory_order_release);
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
  const size_t deq = dequeue_pos_.load(std::memory_order_relaxed);
  const size_t enq = enqueue_pos_.load(std::memory_order_relaxed);
  const size_t n = enq >= deq ? enq - deq : 0;
  return n > capacity() ? capacity() : n;
}

template <class T>
uint64_t BoundedQueue<T>::rejected() const noexcept {
  return rejected_.load(std::memory_order_relaxed);
}

}  // inline namespace HANDLE_REGISTRY_ABI_NAMESPACE
}  // namespace hr

#endif  // HANDLE_REGISTRY_INL_H_
