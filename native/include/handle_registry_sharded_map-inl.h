// handle_registry_sharded_map-inl.h: definitions for
// handle_registry_sharded_map.h.
//
// Do not include this file directly: include "handle_registry_sharded_map.h",
// which includes it at its end.

#ifndef HANDLE_REGISTRY_SHARDED_MAP_INL_H_
#define HANDLE_REGISTRY_SHARDED_MAP_INL_H_

#ifndef HANDLE_REGISTRY_SHARDED_MAP_H_
#error "include handle_registry_sharded_map.h, not handle_registry_sharded_map-inl.h"
#endif

namespace hr {
inline namespace HANDLE_REGISTRY_ABI_NAMESPACE {

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

}  // inline namespace HANDLE_REGISTRY_ABI_NAMESPACE
}  // namespace hr

#endif  // HANDLE_REGISTRY_SHARDED_MAP_INL_H_
