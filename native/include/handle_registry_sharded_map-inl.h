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

// ---------------------------------------------------------------------------
// ShardLock
// ---------------------------------------------------------------------------

inline ShardLock::ShardLock(std::mutex& mu) : mu_(mu) {
  // Shard critical sections are a table probe (tens of ns), far shorter than
  // a futex sleep + wake-up, so try briefly before blocking.
  if (mu_.try_lock()) return;
  for (int i = 0; i < kSpins; ++i) {
    for (int j = 0; j < (1 << (i < 3 ? i : 3)); ++j) cpu_relax();
    if (mu_.try_lock()) return;
  }
  mu_.lock();
}

// ---------------------------------------------------------------------------
// FlatTable: slots and values
// ---------------------------------------------------------------------------

template <class V, unsigned Shift>
V& FlatTable<V, Shift>::value(Slot& s) noexcept {
  if constexpr (Storage::kInline) {
    return *stored(s);
  } else {
    return **stored(s);
  }
}

template <class V, unsigned Shift>
template <class A>
void FlatTable<V, Shift>::construct(Slot& s, A&& arg) {
  if constexpr (Storage::kInline) {
    ::new (static_cast<void*>(s.raw)) V(std::forward<A>(arg));
  } else {
    V* boxed = new V(std::forward<A>(arg));
    ::new (static_cast<void*>(s.raw)) Stored(boxed);
  }
}

template <class V, unsigned Shift>
void FlatTable<V, Shift>::relocate(Slot& dst, Slot& src) noexcept {
  Stored* from = stored(src);
  ::new (static_cast<void*>(dst.raw)) Stored(std::move(*from));  // nothrow: kInline or a pointer
  from->~Stored();
  dst.key = src.key;
}

template <class V, unsigned Shift>
void FlatTable<V, Shift>::destroy(Slot& s) noexcept {
  if constexpr (Storage::kInline) {
    stored(s)->~V();
  } else {
    delete *stored(s);
  }
}

template <class V, unsigned Shift>
typename FlatTable<V, Shift>::Slot* FlatTable<V, Shift>::allocate(size_t capacity) {
  // Cache-line aligned, so that a slot of 16 or 32 bytes never straddles two
  // lines. Keys are set to empty; value bytes stay raw until constructed.
  void* raw = ::operator new(capacity * sizeof(Slot), std::align_val_t(kSlotAlign));
  Slot* slots = static_cast<Slot*>(raw);
  for (size_t i = 0; i < capacity; ++i) {
    ::new (static_cast<void*>(&slots[i])) Slot;
    slots[i].key = kEmptyKey;
  }
  return slots;
}

template <class V, unsigned Shift>
void FlatTable<V, Shift>::deallocate(Slot* slots, size_t capacity) noexcept {
  ::operator delete(static_cast<void*>(slots), capacity * sizeof(Slot),
                    std::align_val_t(kSlotAlign));
}

// ---------------------------------------------------------------------------
// FlatTable: operations
// ---------------------------------------------------------------------------

template <class V, unsigned Shift>
V* FlatTable<V, Shift>::find(Handle key, uint64_t hash) noexcept {
  if (key == kEmptyKey) return spare_ ? &*spare_ : nullptr;
  if (slots_ == nullptr) return nullptr;
  for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
    Slot& s = slots_[i];
    if (s.key == key) return &value(s);
    if (s.key == kEmptyKey) return nullptr;  // the load limit keeps one empty slot at least
  }
}

template <class V, unsigned Shift>
template <class A>
std::pair<V*, bool> FlatTable<V, Shift>::emplace(Handle key, uint64_t hash, A&& arg) {
  if (key == kEmptyKey) {
    if (spare_) return {&*spare_, false};
    spare_.emplace(std::forward<A>(arg));
    ++size_;
    return {&*spare_, true};
  }
  if (slots_ != nullptr) {
    size_t i = hash & mask_;
    for (;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.key == key) return {&value(s), false};
      if (s.key == kEmptyKey) break;
    }
    if ((in_table_ + 1) * 4 <= (mask_ + 1) * 3) {  // at most 3/4 full after it
      construct(slots_[i], std::forward<A>(arg));   // may throw: key still empty
      slots_[i].key = key;
      ++in_table_;
      ++size_;
      return {&value(slots_[i]), true};
    }
  }
  // Grow first (may throw: nothing changed yet), then take the first empty
  // slot of the new probe sequence (the key is known to be absent).
  rehash(slots_ == nullptr ? kMinCapacity : (mask_ + 1) * 2);
  size_t i = hash & mask_;
  while (slots_[i].key != kEmptyKey) i = (i + 1) & mask_;
  construct(slots_[i], std::forward<A>(arg));
  slots_[i].key = key;
  ++in_table_;
  ++size_;
  return {&value(slots_[i]), true};
}

template <class V, unsigned Shift>
bool FlatTable<V, Shift>::erase(Handle key, uint64_t hash, std::optional<V>* out) {
  if (key == kEmptyKey) {
    if (!spare_) return false;
    if (out != nullptr) out->emplace(std::move(*spare_));
    spare_.reset();
    --size_;
    return true;
  }
  if (slots_ == nullptr) return false;
  size_t i = hash & mask_;
  for (;; i = (i + 1) & mask_) {
    if (slots_[i].key == key) break;
    if (slots_[i].key == kEmptyKey) return false;
  }
  if (out != nullptr) out->emplace(std::move(value(slots_[i])));  // may throw: nothing changed yet
  destroy(slots_[i]);
  // Backward shift: walk the run after the hole; an entry whose home slot is
  // not cyclically within (hole, j] can move back into the hole, which then
  // moves to j. The run ends at the first empty slot.
  size_t hole = i;
  for (size_t j = (i + 1) & mask_; slots_[j].key != kEmptyKey; j = (j + 1) & mask_) {
    const size_t home = hash_of(slots_[j].key) & mask_;
    if (((j - home) & mask_) >= ((j - hole) & mask_)) {
      relocate(slots_[hole], slots_[j]);
      hole = j;
    }
  }
  slots_[hole].key = kEmptyKey;
  --in_table_;
  --size_;
  return true;
}

template <class V, unsigned Shift>
void FlatTable<V, Shift>::rehash(size_t capacity) {
  Slot* fresh = allocate(capacity);  // may throw: nothing changed yet
  const size_t mask = capacity - 1;
  if (slots_ != nullptr) {
    for (size_t k = 0; k <= mask_; ++k) {
      Slot& s = slots_[k];
      if (s.key == kEmptyKey) continue;
      size_t i = hash_of(s.key) & mask;
      while (fresh[i].key != kEmptyKey) i = (i + 1) & mask;
      relocate(fresh[i], s);
    }
    deallocate(slots_, mask_ + 1);
  }
  slots_ = fresh;
  mask_ = mask;
}

template <class V, unsigned Shift>
void FlatTable<V, Shift>::reserve(size_t n) {
  size_t capacity = kMinCapacity;
  while (capacity * 3 < n * 4) capacity *= 2;  // n <= 3/4 of capacity
  if (slots_ == nullptr || capacity > mask_ + 1) rehash(capacity);
}

template <class V, unsigned Shift>
void FlatTable<V, Shift>::clear() noexcept {
  if (slots_ != nullptr) {
    for (size_t k = 0; k <= mask_; ++k) {
      if (slots_[k].key != kEmptyKey) destroy(slots_[k]);
    }
    deallocate(slots_, mask_ + 1);
    slots_ = nullptr;
    mask_ = 0;
  }
  spare_.reset();
  in_table_ = 0;
  size_ = 0;
}

template <class V, unsigned Shift>
template <class F>
void FlatTable<V, Shift>::for_each(F& f) {
  if (slots_ != nullptr) {
    for (size_t k = 0; k <= mask_; ++k) {
      if (slots_[k].key != kEmptyKey) f(slots_[k].key, value(slots_[k]));
    }
  }
  if (spare_) f(kEmptyKey, *spare_);
}

template <class V, unsigned Shift>
template <class F>
void FlatTable<V, Shift>::for_each(F& f) const {
  if (slots_ != nullptr) {
    for (size_t k = 0; k <= mask_; ++k) {
      if (slots_[k].key != kEmptyKey) f(slots_[k].key, value(slots_[k]));
    }
  }
  if (spare_) f(kEmptyKey, static_cast<const V&>(*spare_));
}

}  // namespace detail

// ---------------------------------------------------------------------------
// ShardedMap
// ---------------------------------------------------------------------------

template <class V, size_t Shards>
ShardedMap<V, Shards>::ShardedMap() : shards_(new Shard[Shards]) {}

template <class V, size_t Shards>
ShardedMap<V, Shards>::ShardedMap(size_t expected) : ShardedMap() {
  reserve(expected);
}

template <class V, size_t Shards>
constexpr size_t ShardedMap<V, Shards>::shard_index(Handle h) noexcept {
  return static_cast<size_t>(fmix64(h)) & (Shards - 1);
}

template <class V, size_t Shards>
bool ShardedMap<V, Shards>::insert(Handle h, V value) {
  const uint64_t hash = fmix64(h);
  Shard& s = shard_for(hash);
  detail::ShardLock lock(s.mu);  // h's shard
  return s.table.emplace(h, hash >> kShardBits, std::move(value)).second;
}

template <class V, size_t Shards>
bool ShardedMap<V, Shards>::insert_or_assign(Handle h, V value) {
  const uint64_t hash = fmix64(h);
  Shard& s = shard_for(hash);
  detail::ShardLock lock(s.mu);  // h's shard
  V* existing = s.table.find(h, hash >> kShardBits);
  if (existing != nullptr) {
    *existing = std::move(value);
    return false;
  }
  s.table.emplace(h, hash >> kShardBits, std::move(value));
  return true;
}

template <class V, size_t Shards>
template <class F>
bool ShardedMap<V, Shards>::find(Handle h, F&& f) {
  const uint64_t hash = fmix64(h);
  Shard& s = shard_for(hash);
  detail::ShardLock lock(s.mu);  // h's shard, held while f runs
  V* v = s.table.find(h, hash >> kShardBits);
  if (v == nullptr) return false;
  std::forward<F>(f)(*v);
  return true;
}

template <class V, size_t Shards>
template <class F>
bool ShardedMap<V, Shards>::find(Handle h, F&& f) const {
  const uint64_t hash = fmix64(h);
  Shard& s = shard_for(hash);
  detail::ShardLock lock(s.mu);  // h's shard, held while f runs
  const V* v = s.table.find(h, hash >> kShardBits);
  if (v == nullptr) return false;
  std::forward<F>(f)(*v);
  return true;
}

template <class V, size_t Shards>
bool ShardedMap<V, Shards>::contains(Handle h) const {
  const uint64_t hash = fmix64(h);
  Shard& s = shard_for(hash);
  detail::ShardLock lock(s.mu);  // h's shard
  return s.table.find(h, hash >> kShardBits) != nullptr;
}

template <class V, size_t Shards>
std::optional<V> ShardedMap<V, Shards>::take(Handle h) {
  const uint64_t hash = fmix64(h);
  Shard& s = shard_for(hash);
  std::optional<V> out;
  detail::ShardLock lock(s.mu);  // h's shard
  s.table.erase(h, hash >> kShardBits, &out);
  return out;
}

template <class V, size_t Shards>
bool ShardedMap<V, Shards>::erase(Handle h) {
  const uint64_t hash = fmix64(h);
  Shard& s = shard_for(hash);
  detail::ShardLock lock(s.mu);  // h's shard
  return s.table.erase(h, hash >> kShardBits, nullptr);
}

template <class V, size_t Shards>
size_t ShardedMap<V, Shards>::size() const {
  size_t n = 0;
  for (size_t i = 0; i < Shards; ++i) {
    detail::ShardLock lock(shards_[i].mu);  // shard i only
    n += shards_[i].table.size();
  }
  return n;
}

template <class V, size_t Shards>
bool ShardedMap<V, Shards>::empty() const {
  for (size_t i = 0; i < Shards; ++i) {
    detail::ShardLock lock(shards_[i].mu);  // shard i only
    if (shards_[i].table.size() != 0) return false;
  }
  return true;
}

template <class V, size_t Shards>
template <class F>
void ShardedMap<V, Shards>::for_each(F&& f) {
  for (size_t i = 0; i < Shards; ++i) {
    detail::ShardLock lock(shards_[i].mu);  // shard i, held while f runs
    shards_[i].table.for_each(f);
  }
}

template <class V, size_t Shards>
template <class F>
void ShardedMap<V, Shards>::for_each(F&& f) const {
  for (size_t i = 0; i < Shards; ++i) {
    detail::ShardLock lock(shards_[i].mu);  // shard i, held while f runs
    static_cast<const detail::FlatTable<V, kShardBits>&>(shards_[i].table).for_each(f);
  }
}

template <class V, size_t Shards>
void ShardedMap<V, Shards>::clear() {
  for (size_t i = 0; i < Shards; ++i) {
    detail::ShardLock lock(shards_[i].mu);  // shard i only
    shards_[i].table.clear();
  }
}

template <class V, size_t Shards>
void ShardedMap<V, Shards>::reserve(size_t expected) {
  const size_t per_shard = (expected + Shards - 1) / Shards;
  for (size_t i = 0; i < Shards; ++i) {
    detail::ShardLock lock(shards_[i].mu);  // shard i only
    shards_[i].table.reserve(per_shard);
  }
}

template <class V, size_t Shards>
size_t ShardedMap<V, Shards>::table_bytes() const {
  size_t n = 0;
  for (size_t i = 0; i < Shards; ++i) {
    detail::ShardLock lock(shards_[i].mu);  // shard i only
    n += shards_[i].table.table_bytes();
  }
  return n;
}

}  // inline namespace HANDLE_REGISTRY_ABI_NAMESPACE
}  // namespace hr

#endif  // HANDLE_REGISTRY_SHARDED_MAP_INL_H_
