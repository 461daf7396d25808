// handle_registry_sharded_map.h: hr::ShardedMap<V, Shards>, a thread-safe
// map Handle -> V for native state keyed by handles (the C++ twin of the
// registry), usable from many threads at once (declarations; definitions in
// handle_registry_sharded_map-inl.h, included at the end).
//
// Header-only, C++17, no Node/N-API dependency. Includes handle_registry.h.
// Each shard is a flat open-addressing table (linear probing, backward-shift
// deletion): a lookup reads one cache line of slots, where a node-based
// std::unordered_map reads a bucket, the node before and the node.
//
// Thread safety (what is and is not protected):
//   - every member function is safe to call concurrently. Each call holds at
//     most one shard mutex at a time (documented per call);
//   - callbacks (find, for_each) run under that mutex: they must not call back
//     into the same map (deadlock on the same shard) and should be short;
//   - the values themselves are yours: the map only guards its own structure
//     and runs your callback under the lock;
//   - a V& handed to a callback is valid only during that call (inserts and
//     erases move entries within their shard's table).
//
//   hr::ShardedMap<std::unique_ptr<Conn>> conns;
//   conns.insert(h, std::make_unique<Conn>(...));            // any thread
//   conns.find(h, [&](std::unique_ptr<Conn>& c) { c->send(buf); });
//   auto gone = conns.take(h);                               // on release

#ifndef HANDLE_REGISTRY_SHARDED_MAP_H_
#define HANDLE_REGISTRY_SHARDED_MAP_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <type_traits>
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

/// log2 of a power of two.
constexpr unsigned log2_pow2(size_t n) noexcept {
  unsigned b = 0;
  while ((size_t{1} << b) < n) ++b;
  return b;
}

/// How a shard table stores a V. Inline in the slot (next to its key, so a
/// hit is one cache line) when V moves without throwing, is not
/// over-aligned and the slot stays within 64 bytes; otherwise boxed: the
/// slot holds a V* from `new V` (one more cache miss per hit, but probing
/// stays compact, moves of the table never move a V, and a V whose move
/// constructor may throw cannot leave a half-moved table).
template <class V>
struct ValueStorage {
  struct InlineProbe {
    Handle key;
    alignas(V) unsigned char raw[sizeof(V)];
  };
  static constexpr bool kInline = std::is_nothrow_move_constructible<V>::value &&
                                  alignof(V) <= alignof(std::max_align_t) &&
                                  sizeof(InlineProbe) <= 64;
  using Stored = std::conditional_t<kInline, V, V*>;
};

/// One shard's table: open addressing over a power-of-two array of slots
/// {key, value}, linear probing, at most 3/4 full, deletion by backward
/// shift (no tombstones: a miss stops at the first empty slot however many
/// erases came before). The empty marker is the key kEmptyKey (~0, never a
/// handle); an entry whose key IS ~0 lives in spare_ instead, so any
/// uint64_t stays a valid key. Not thread-safe: ShardedMap calls it under
/// the shard mutex. `hash` arguments are fmix64(key) >> Shift (the bits
/// above the shard index), as hash_of() computes.
template <class V, unsigned Shift>
class FlatTable {
  using Storage = ValueStorage<V>;
  using Stored = typename Storage::Stored;

 public:
  static constexpr Handle kEmptyKey = ~Handle{0};
  static constexpr size_t kMinCapacity = 16;

  struct Slot {
    Handle key;
    alignas(Stored) unsigned char raw[sizeof(Stored)];
  };

  FlatTable() = default;
  FlatTable(const FlatTable&) = delete;
  FlatTable& operator=(const FlatTable&) = delete;
  ~FlatTable() { clear(); }

  static uint64_t hash_of(Handle key) noexcept { return fmix64(key) >> Shift; }

  /// The entry's value, or nullptr.
  V* find(Handle key, uint64_t hash) noexcept;
  /// Inserts (key, V(std::forward(arg))) if absent; returns {value, true},
  /// or {existing, false} without touching arg.
  template <class A>
  std::pair<V*, bool> emplace(Handle key, uint64_t hash, A&& arg);
  /// Removes key; moves its value into *out first when out != nullptr.
  bool erase(Handle key, uint64_t hash, std::optional<V>* out);

  size_t size() const noexcept { return size_; }
  /// Destroys every entry and frees the slot array.
  void clear() noexcept;
  /// Capacity for at least n entries within the load limit.
  void reserve(size_t n);

  template <class F>
  void for_each(F& f);
  template <class F>
  void for_each(F& f) const;

  /// Bytes of the slot array (0 before the first insert).
  size_t table_bytes() const noexcept { return slots_ ? (mask_ + 1) * sizeof(Slot) : 0; }

 private:
  static Stored* stored(Slot& s) noexcept { return std::launder(reinterpret_cast<Stored*>(s.raw)); }
  static V& value(Slot& s) noexcept;
  static const V& value(const Slot& s) noexcept {
    return value(const_cast<Slot&>(s));
  }
  /// Moves the stored value of src into the raw bytes of dst (never throws)
  /// and ends src's.
  static void relocate(Slot& dst, Slot& src) noexcept;
  static void destroy(Slot& s) noexcept;
  template <class A>
  static void construct(Slot& s, A&& arg);

  static Slot* allocate(size_t capacity);
  static void deallocate(Slot* slots, size_t capacity) noexcept;
  static constexpr size_t kSlotAlign = alignof(Slot) > 64 ? alignof(Slot) : 64;
  /// Moves every entry to a new array of `capacity` slots.
  void rehash(size_t capacity);

  Slot* slots_ = nullptr;
  size_t mask_ = 0;      // capacity - 1 (0 while slots_ is null)
  size_t size_ = 0;      // entries, spare included
  size_t in_table_ = 0;  // entries in slots_ (size_ minus the spare)
  std::optional<V> spare_;  // the entry of key kEmptyKey, if any
};

/// One shard: its own mutex and table, on its own cache line(s) so that two
/// threads working on different shards do not false-share.
template <class V, unsigned Shift>
struct alignas(64) MapShard {
  mutable std::mutex mu;
  FlatTable<V, Shift> table;  // guarded by mu
};

}  // namespace detail

/// A thread-safe map Handle -> V: `Shards` independent open-addressing hash
/// tables, each guarded by its own std::mutex. The shard of h is
/// fmix64(h) & (Shards - 1), so consecutive handles spread over all shards;
/// inside the shard the bits above the shard index pick the home slot.
///
/// Locking (parallel-hashmap style): every call locks at most ONE shard
/// mutex at a time and never calls user code while holding two. Calls that
/// take a callback (find, for_each) run it under that shard's mutex: the
/// callback must not call into the same map (it may deadlock on the same
/// shard), must not throw if built without exceptions, and should be short,
/// since it blocks every other handle of that shard. The reference a
/// callback gets is valid only during that call: inserts and erases move
/// entries inside a shard.
///
/// Keys are not validated: any uint64_t works, including 0 (and ~0, kept
/// beside its shard's table, since ~0 marks empty slots).
/// The map itself is neither copyable nor movable. Shards live in one heap
/// allocation made by the constructor.
///
/// Memory: a shard is a flat array of slots {Handle, V} (V inline when it
/// moves without throwing, is not over-aligned and the slot fits 64 bytes;
/// else a V* to a `new V`), a power of two in size, at most 3/4 full, so
/// 1.33 to 2.67 slots per entry after growth (doubling). With V =
/// uint64_t a slot is 16 bytes: 21 to 43 bytes per entry. Erasing never
/// shrinks a table; clear() and the destructor free them.
///
///   hr::ShardedMap<std::unique_ptr<Conn>> conns;
///   conns.insert(h, std::make_unique<Conn>(...));            // any thread
///   conns.find(h, [&](std::unique_ptr<Conn>& c) { c->send(buf); });
///   auto gone = conns.take(h);                               // on release
template <class V, size_t Shards = 16>
class ShardedMap {
  static_assert(Shards >= 1 && Shards <= 1024 && (Shards & (Shards - 1)) == 0,
                "hr::ShardedMap: Shards must be a power of two in 1..1024");
  static constexpr unsigned kShardBits = detail::log2_pow2(Shards);
  using Shard = detail::MapShard<V, kShardBits>;

 public:
  using key_type = Handle;
  using mapped_type = V;
  static constexpr size_t kShards = Shards;
  /// True when V is stored inside the table's slots (see Memory above).
  static constexpr bool kValuesInline = detail::ValueStorage<V>::kInline;
  /// Bytes of one table slot.
  static constexpr size_t kSlotBytes = sizeof(typename detail::FlatTable<V, kShardBits>::Slot);

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

  /// Removes every entry and frees the shards' tables, one shard at a
  /// time under that shard's lock (V's destructors run under it).
  void clear();

  /// Reserves room for about `expected` entries in total, one shard at a
  /// time under that shard's lock.
  void reserve(size_t expected);

  /// Bytes held by the shards' tables (boxed values not included), summed
  /// shard by shard under each lock, like size().
  size_t table_bytes() const;

 private:
  Shard& shard_for(uint64_t hash) const noexcept { return shards_[hash & (Shards - 1)]; }

  std::unique_ptr<Shard[]> shards_;
};

}  // inline namespace HANDLE_REGISTRY_ABI_NAMESPACE
}  // namespace hr

#include "handle_registry_sharded_map-inl.h"

#endif  // HANDLE_REGISTRY_SHARDED_MAP_H_
