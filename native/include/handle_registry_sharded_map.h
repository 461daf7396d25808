// handle_registry_sharded_map.h: hr::ShardedMap<V, Shards>, a thread-safe
// map Handle -> V for native state keyed by handles (the C++ twin of the
// registry), usable from many threads at once (declarations; definitions in
// handle_registry_sharded_map-inl.h, included at the end).
//
// Header-only, C++17, no Node/N-API dependency. Includes handle_registry.h.
//
// Thread safety (what is and is not protected):
//   - every member function is safe to call concurrently. Each call holds at
//     most one shard mutex at a time (documented per call);
//   - callbacks (find, for_each) run under that mutex: they must not call back
//     into the same map (deadlock on the same shard) and should be short;
//   - the values themselves are yours: the map only guards its own structure
//     and runs your callback under the lock.
//
//   hr::ShardedMap<std::unique_ptr<Conn>> conns;
//   conns.insert(h, std::make_unique<Conn>(...));            // any thread
//   conns.find(h, [&](std::unique_ptr<Conn>& c) { c->send(buf); });
//   auto gone = conns.take(h);                               // on release

#ifndef HANDLE_REGISTRY_SHARDED_MAP_H_
#define HANDLE_REGISTRY_SHARDED_MAP_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "handle_registry.h"

namespace hr {
inline namespace HANDLE_REGISTRY_ABI_NAMESPACE {

/// MurmurHash3's 64-bit finaliser. ShardedMap picks shard fmix64(h) & (N-1),
/// so consecutive handles spread over all shards.
constexpr uint64_t fmix64(uint64_t k) noexcept {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

namespace detail {

/// Free-list pool for the map nodes of one shard. Not thread-safe: only used
/// under that shard's mutex. Every single-object allocation (n == 1) of the
/// first size it sees is served from chunks owned by the pool (the map's
/// nodes); anything else (bucket arrays, over-aligned types) goes to
/// ::operator new. A global malloc would interleave the nodes of all shards;
/// with std::unordered_map a lookup also reads the node before the bucket's
/// first node, which is then a separate cache miss. Freed nodes are reused
/// by the same shard; chunks go back to ::operator delete on clear() or
/// destruction.
class NodePool {
 public:
  NodePool() = default;
  NodePool(const NodePool&) = delete;
  NodePool& operator=(const NodePool&) = delete;
  ~NodePool();

  void* allocate(size_t bytes, size_t align, size_t n);
  void deallocate(void* p, size_t bytes, size_t align, size_t n) noexcept;
  /// Slots handed out and not yet returned.
  size_t live() const noexcept { return live_; }
  /// Frees every chunk. Only when live() == 0.
  void release() noexcept;

 private:
  struct FreeSlot {
    FreeSlot* next;
  };
  struct Chunk {
    Chunk* next;
    size_t slots;
  };
  static constexpr size_t kChunkHeader =
      (sizeof(Chunk) + alignof(std::max_align_t) - 1) /
      alignof(std::max_align_t) * alignof(std::max_align_t);
  static constexpr size_t kFirstChunkSlots = 32;
  static constexpr size_t kMaxChunkSlots = 4096;

  bool pooled(size_t bytes, size_t align, size_t n) const noexcept {
    return n == 1 && bytes == slot_size_ && align <= alignof(std::max_align_t);
  }

  size_t slot_size_ = 0;  // fixed by the first n == 1 allocation
  FreeSlot* free_ = nullptr;
  Chunk* chunks_ = nullptr;
  char* bump_ = nullptr;   // next unused slot of chunks_
  char* bump_end_ = nullptr;
  size_t next_chunk_slots_ = kFirstChunkSlots;
  size_t live_ = 0;
};

/// std::allocator-like adaptor over a NodePool (stateful; equal iff same pool).
template <class T>
class PoolAllocator {
 public:
  using value_type = T;
  using propagate_on_container_copy_assignment = std::false_type;
  using propagate_on_container_move_assignment = std::false_type;
  using propagate_on_container_swap = std::false_type;

  explicit PoolAllocator(NodePool* pool) noexcept : pool_(pool) {}
  template <class U>
  PoolAllocator(const PoolAllocator<U>& other) noexcept : pool_(other.pool()) {}

  T* allocate(size_t n) {
    return static_cast<T*>(pool_->allocate(n * sizeof(T), alignof(T), n));
  }
  void deallocate(T* p, size_t n) noexcept {
    pool_->deallocate(p, n * sizeof(T), alignof(T), n);
  }
  NodePool* pool() const noexcept { return pool_; }

  template <class U>
  bool operator==(const PoolAllocator<U>& o) const noexcept { return pool_ == o.pool(); }
  template <class U>
  bool operator!=(const PoolAllocator<U>& o) const noexcept { return pool_ != o.pool(); }

 private:
  NodePool* pool_;
};

/// RAII lock of a shard mutex: a few try_lock() attempts with a short
/// backoff, then a blocking lock(). Unlocks in the destructor.
class ShardLock {
 public:
  explicit ShardLock(std::mutex& mu);
  ~ShardLock() { mu_.unlock(); }
  ShardLock(const ShardLock&) = delete;
  ShardLock& operator=(const ShardLock&) = delete;

 private:
  static constexpr int kSpins = 16;  // about 110 pause instructions in all
  std::mutex& mu_;
};

/// One shard: its own mutex, node pool and map, on its own cache line(s) so
/// that two threads working on different shards do not false-share.
template <class V>
struct alignas(64) MapShard {
  using Map = std::unordered_map<Handle, V, std::hash<Handle>, std::equal_to<Handle>,
                                 PoolAllocator<std::pair<const Handle, V>>>;
  MapShard() : map(PoolAllocator<std::pair<const Handle, V>>(&pool)) {}

  mutable std::mutex mu;
  NodePool pool;  // declared before map: destroyed after it
  Map map;
};

}  // namespace detail

/// A thread-safe map Handle -> V: `Shards` independent std::unordered_map,
/// each guarded by its own std::mutex. The shard of h is
/// fmix64(h) & (Shards - 1), so consecutive handles spread over all shards.
///
/// Locking (parallel-hashmap style): every call locks at most ONE shard
/// mutex at a time and never calls user code while holding two. Calls that
/// take a callback (find, for_each) run it under that shard's mutex: the
/// callback must not call into the same map (it may deadlock on the same
/// shard), must not throw if built without exceptions, and should be short,
/// since it blocks every other handle of that shard.
///
/// Keys are not validated: any uint64_t works, including 0.
/// The map itself is neither copyable nor movable. Shards live in one heap
/// allocation made by the constructor.
///
/// Memory: each shard allocates its nodes from its own pool (a free list
/// over chunks of 32 growing to 4096 nodes), so one shard's entries sit
/// together in memory as one map's would (a global malloc interleaves the
/// nodes of all shards), and inserting or erasing a node calls malloc only
/// once per chunk. Memory of erased entries stays in the shard's pool for
/// its next inserts; clear() and the destructor give it back.
///
///   hr::ShardedMap<std::unique_ptr<Conn>> conns;
///   conns.insert(h, std::make_unique<Conn>(...));            // any thread
///   conns.find(h, [&](std::unique_ptr<Conn>& c) { c->send(buf); });
///   auto gone = conns.take(h);                               // on release
template <class V, size_t Shards = 16>
class ShardedMap {
  static_assert(Shards >= 1 && Shards <= 1024 && (Shards & (Shards - 1)) == 0,
                "hr::ShardedMap: Shards must be a power of two in 1..1024");

 public:
  using key_type = Handle;
  using mapped_type = V;
  static constexpr size_t kShards = Shards;

  /// An empty map.
  ShardedMap();
  /// An empty map with room for about `expected` entries (reserved evenly
  /// over the shards).
  explicit ShardedMap(size_t expected);

  ShardedMap(const ShardedMap&) = delete;
  ShardedMap& operator=(const ShardedMap&) = delete;

  /// Shard index of h: fmix64(h) & (Shards - 1). No lock.
  static constexpr size_t shard_index(Handle h) noexcept;

  /// Inserts (h, value) if h is absent; returns false (value dropped) if h
  /// is present. Lock: h's shard.
  bool insert(Handle h, V value);

  /// Inserts or overwrites; returns true if inserted, false if assigned.
  /// Lock: h's shard.
  bool insert_or_assign(Handle h, V value);

  /// If h is present calls f(V&) and returns true; else returns false and
  /// does not call f. Lock: h's shard, held while f runs.
  template <class F>
  bool find(Handle h, F&& f);
  /// As above with f(const V&). Lock: h's shard, held while f runs.
  template <class F>
  bool find(Handle h, F&& f) const;

  /// True iff h is present. Lock: h's shard.
  bool contains(Handle h) const;

  /// Removes h and returns its value (moved out), or nullopt if absent.
  /// Lock: h's shard (V's move constructor and the moved-from V's destructor
  /// run under it). Use take() when V's destructor is heavy: the returned V
  /// is destroyed by the caller, outside the lock.
  std::optional<V> take(Handle h);

  /// Removes h; returns whether it was present. Lock: h's shard (V's
  /// destructor runs under it).
  bool erase(Handle h);

  /// Number of entries: the sum over shards, each read under its own lock,
  /// one after the other. Not a snapshot: with concurrent writers the result
  /// may match no single moment. Exact when no other thread writes.
  size_t size() const;

  /// size() == 0, with the same caveat.
  bool empty() const;

  /// Calls f(Handle, V&) for every entry, one shard at a time, holding only
  /// that shard's lock. Entries inserted or erased concurrently in other
  /// shards may or may not be visited. f must not insert or erase in this
  /// map.
  template <class F>
  void for_each(F&& f);
  /// As above with f(Handle, const V&).
  template <class F>
  void for_each(F&& f) const;

  /// Removes every entry and frees the shards' node pools, one shard at a
  /// time under that shard's lock (V's destructors run under it).
  void clear();

  /// Reserves room for about `expected` entries in total, one shard at a
  /// time under that shard's lock.
  void reserve(size_t expected);

 private:
  detail::MapShard<V>& shard_for(Handle h) const noexcept;

  std::unique_ptr<detail::MapShard<V>[]> shards_;
};

}  // inline namespace HANDLE_REGISTRY_ABI_NAMESPACE
}  // namespace hr

#include "handle_registry_sharded_map-inl.h"

#endif  // HANDLE_REGISTRY_SHARDED_MAP_H_
