// handle_registry.h: public C++ header of handle-registry (declarations).
//
// Header-only, C++17, no Node/N-API dependency. Definitions live in
// handle_registry-inl.h, included at the end of this file; internals are in
// namespace hr::detail. The bit layout and the domain memory layout are fixed
// by docs/design.md; the constants below must match it (and src/layout.ts)
// exactly.
//
// What is here:
//   - hr::Handle, the layout constants, make_handle / decode / is_valid;
//   - to_user_data / from_user_data: a handle round-trips through the
//     `void* user_data` of a C callback API (64-bit pointers only). 0 is never
//     a handle, so a null user_data means "no handle";
//   - hr::Status, the status codes returned to native producers;
//   - hr::fmix64 / hr::fmix32 (MurmurHash3 finalisers);
//   - hr::DomainView, read-only access to the shared domain table (which
//     registry owns a handle, its shard, whether that registry closed);
//   - hr::ShardedMap<V, Shards>, a thread-safe map Handle -> V with one
//     mutex per shard;
//   - hr::BoundedQueue<T> and hr::Event / hr::EventQueue, a bounded
//     lock-free multi-producer queue drained by one consumer.
//
// Example: a full C-callback round trip. `lib_start(cb, user_data)` is a C
// library that later calls `cb(user_data, value)` from a thread of its own.
//
//   // JS:   const h = registry.register(obj);   // a number, 1..2^53-1
//   //       addon.start(h);
//
//   // Addon, on the JS thread:
//   Napi::Value Start(const Napi::CallbackInfo& info) {
//     hr::Handle h = static_cast<hr::Handle>(info[0].As<Napi::Number>().Int64Value());
//     if (!hr::is_valid(h)) { /* throw ERR_HANDLE_INVALID */ }
//     lib_start(&OnData, hr::to_user_data(h));     // the handle is the user_data
//     return info.Env().Undefined();
//   }
//
//   // C library callback, on a foreign thread:
//   extern "C" void OnData(void* user_data, double value) {
//     hr::Handle h = hr::from_user_data(user_data);
//     if (h == 0) return;                          // null user_data: no handle
//     hr::Event ev{h, /*kind=*/1, /*size=*/0, value};
//     hr::Status st = queue.try_push(ev);          // never blocks, never allocates
//     if (st != hr::Status::kOk) { /* kQueueFull: dropped, counted, tell the library */ }
//     // ... then wake the owning JS thread. In the finished library this is
//     // one call to the post entry point (see "JS attach / post entry
//     // points" below), which also routes the event to the registry that
//     // owns `h` and reports kStaleHandle / kRegistryClosed / kNotAttached.
//   }
//
//   // Back on the JS thread the registry drains the queue in batches, resolves
//   // each handle (a released handle is dropped, never resolved to another
//   // object) and calls the JS handler with (value, kind, payload).
//
// Thread safety (what is and is not protected):
//   - The free functions and constants are pure: safe from any thread.
//   - DomainView only reads; every block-table read is an atomic load, so it
//     is safe while other threads (or JS workers) claim and retire blocks.
//   - ShardedMap: every member function is safe to call concurrently. Each
//     call holds at most one shard mutex at a time (documented per call).
//     Callbacks run under that mutex: they must not call back into the same
//     map (deadlock on the same shard) and should be short.
//   - BoundedQueue: try_push is safe from any number of threads at once;
//     drain / try_pop must be called by one consumer thread at a time.
//   - Nothing here keeps JS values alive or touches napi_env: only integers
//     and plain native data cross threads.

#ifndef HANDLE_REGISTRY_H_
#define HANDLE_REGISTRY_H_

#if !((defined(_MSVC_LANG) && _MSVC_LANG >= 201703L) || __cplusplus >= 201703L)
#error "handle_registry.h requires C++17 or later (node-gyp's default for Node 20)"
#endif

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <functional>
#include <mutex>
#include <new>
#include <optional>
#include <type_traits>
#include <unordered_map>
#include <utility>

#if defined(_MSC_VER)
#include <intrin.h>  // _mm_pause / __yield
#endif

// Version of this header (semantic versioning; follows the npm package).
#define HANDLE_REGISTRY_VERSION_MAJOR 0
#define HANDLE_REGISTRY_VERSION_MINOR 1
#define HANDLE_REGISTRY_VERSION_PATCH 0
#define HANDLE_REGISTRY_VERSION                                   \
  (HANDLE_REGISTRY_VERSION_MAJOR * 10000 +                        \
   HANDLE_REGISTRY_VERSION_MINOR * 100 + HANDLE_REGISTRY_VERSION_PATCH)

// Version of the binary interface between separately compiled addons and the
// registry (handle layout, domain layout, Event layout, C entry points). It is
// bumped on any incompatible change and checked when an addon attaches; a
// mismatch gives Status::kVersionMismatch.
#define HANDLE_REGISTRY_ABI_VERSION 1

// Everything is declared inside an inline namespace named after the ABI
// version, so two addons in one process that compiled different ABI versions
// of this header never share (ODR-clash on) an inline function or template.
// User code writes plain `hr::...`.
#define HANDLE_REGISTRY_ABI_NS_CAT2(a, b) a##b
#define HANDLE_REGISTRY_ABI_NS_CAT(a, b) HANDLE_REGISTRY_ABI_NS_CAT2(a, b)
#define HANDLE_REGISTRY_ABI_NAMESPACE \
  HANDLE_REGISTRY_ABI_NS_CAT(abi_v, HANDLE_REGISTRY_ABI_VERSION)

namespace hr {
inline namespace HANDLE_REGISTRY_ABI_NAMESPACE {

// ===========================================================================
// Handles
// ===========================================================================

/// A handle: 1 .. 2^53-1 (a positive safe integer in JS). 0 is never issued.
///
///   52                  28 27             8 7      0
///   +---------------------+----------------+--------+
///   |    gen (25 bits)    | block (20 bits)| offset |
///   +---------------------+----------------+--------+
///                         |<---- slot (28 bits) --->|
using Handle = uint64_t;

/// The null handle: never issued; what from_user_data(nullptr) returns.
inline constexpr Handle kNullHandle = 0;

inline constexpr uint32_t kOffsetBits = 8;   ///< slot index inside its block
inline constexpr uint32_t kBlockBits = 20;   ///< global block number
inline constexpr uint32_t kSlotBits = 28;    ///< kBlockBits + kOffsetBits
inline constexpr uint32_t kGenBits = 25;     ///< generation of the slot
static_assert(kSlotBits == kBlockBits + kOffsetBits, "slot = block:offset");
static_assert(kSlotBits + kGenBits == 53, "a handle is a JS safe integer");

inline constexpr uint32_t kSlotsPerBlock = 1u << kOffsetBits;       ///< 256
inline constexpr uint32_t kOffsetMask = kSlotsPerBlock - 1;         ///< 0xff
inline constexpr uint32_t kMaxBlocks = 1u << kBlockBits;            ///< 2^20; blocks 1..2^20-1
inline constexpr uint32_t kBlockMask = kMaxBlocks - 1;              ///< 0xfffff
inline constexpr uint32_t kSlotMask = (1u << kSlotBits) - 1;        ///< 0x0fffffff
inline constexpr uint32_t kGenMax = (1u << kGenBits) - 1;           ///< 2^25-1: slot retires here
inline constexpr Handle kMaxHandle = (Handle{1} << 53) - 1;         ///< 2^53-1
inline constexpr uint32_t kMaxOwners = 4095;  ///< open registries per domain (owner 1..4095)
inline constexpr uint32_t kMaxRegistryShards = 256;  ///< shards per JS registry (1..256)

/// The fields of a handle. decode() does not validate: use is_valid() first.
struct Decoded {
  uint32_t slot;        ///< block << 8 | offset (28 bits)
  uint32_t block;       ///< 20 bits; 0 only for invalid handles
  uint32_t offset;      ///< 8 bits
  uint32_t generation;  ///< 25 bits
};

/// True iff h could have been issued: 1 <= h <= 2^53-1 and block(h) != 0.
/// Says nothing about whether h is live: that needs its registry.
constexpr bool is_valid(Handle h) noexcept;

/// Splits h into its fields. Bits above bit 52 are ignored.
constexpr Decoded decode(Handle h) noexcept;

/// Builds gen * 2^28 + block * 2^8 + offset. Each field is masked to its
/// width (block to 20 bits, offset to 8, gen to 25), so the result never
/// exceeds 2^53-1; make_handle(0, x, y) is not a valid handle.
constexpr Handle make_handle(uint32_t block, uint32_t offset,
                             uint32_t generation) noexcept;

/// A handle as a C `void* user_data` (64-bit pointers only). The pointer is
/// never dereferenced; to_user_data(0) is nullptr.
inline void* to_user_data(Handle h) noexcept;

/// The handle carried by a user_data made by to_user_data; nullptr gives 0
/// (kNullHandle, "no handle"). Check the result with is_valid() if the
/// user_data may come from elsewhere.
inline Handle from_user_data(const void* user_data) noexcept;

// ===========================================================================
// Status codes
// ===========================================================================

/// What a native producer (or an attaching addon) is told. Stable values:
/// they cross the C ABI.
enum class Status : int32_t {
  kOk = 0,
  kInvalidHandle = 1,    ///< not a handle at all (0, block 0, > 2^53-1)
  kStaleHandle = 2,      ///< released: the slot's generation moved on
  kForeignHandle = 3,    ///< issued by another registry or domain
  kRegistryClosed = 4,   ///< the owning registry closed (or its worker ended)
  kQueueFull = 5,        ///< the bounded event queue is full; event dropped
  kVersionMismatch = 6,  ///< header/ABI or domain layout version differs
  kNotAttached = 7,      ///< no registry/domain attached yet
  kPayloadTooLarge = 8,  ///< post_bytes: more bytes than the registry takes
};

/// "ok", "invalid_handle", "stale_handle", "foreign_handle",
/// "registry_closed", "queue_full", "version_mismatch", "not_attached",
/// "payload_too_large";
/// "unknown" for any other value. Never nullptr.
constexpr const char* status_name(Status s) noexcept;

// ===========================================================================
// Hashing
// ===========================================================================

/// MurmurHash3's 64-bit finaliser. ShardedMap picks shard fmix64(h) & (N-1).
constexpr uint64_t fmix64(uint64_t k) noexcept;

/// MurmurHash3's 32-bit finaliser: the JS registry picks the shard of its
/// c-th registration as fmix32(c) & (shards - 1) (docs/design.md, "Shards").
constexpr uint32_t fmix32(uint32_t h) noexcept;

// ===========================================================================
// Domain table (docs/design.md, "Domain")
// ===========================================================================

/// Word indexes and values of the domain memory: an array of int32 shared
/// by every thread (SharedArrayBuffer or native memory).
namespace domain {
inline constexpr int32_t kMagic = 0x48524731;  ///< "HRG1"
inline constexpr int32_t kLayoutVersion = 1;

inline constexpr size_t kMagicIndex = 0;          ///< MAGIC
inline constexpr size_t kLayoutVersionIndex = 1;  ///< LAYOUT_VERSION
inline constexpr size_t kNextBlockIndex = 2;      ///< NEXT_BLOCK (starts at 1)
inline constexpr size_t kOwnerHintIndex = 3;      ///< OWNER_HINT
inline constexpr size_t kLiveOwnersIndex = 4;     ///< LIVE_OWNERS
inline constexpr size_t kHeaderWords = 16;        ///< words 5..15 reserved (0)

inline constexpr size_t kOwnersBase = 16;    ///< OWNERS[i] at kOwnersBase + i
inline constexpr size_t kOwnerWords = 4096;  ///< i = 0..4095 (owners are 1..4095)
inline constexpr size_t kBlocksBase = kOwnersBase + kOwnerWords;  ///< 4112
inline constexpr size_t kWordsPerBlock = 2;  ///< BLOCKS[b] at kBlocksBase + 2*b
/// Total words of a domain table: 4112 + 2 * 2^20 = 2,101,264 (8.4 MB).
inline constexpr size_t kDomainWords = kBlocksBase + kWordsPerBlock * kMaxBlocks;
inline constexpr size_t kDomainBytes = kDomainWords * sizeof(int32_t);

// Block word 0 (route): owner << 19 | page while the block is in use; 0 when
// unclaimed or once its registry closed. The registry's hot path reads only this.
inline constexpr uint32_t kPageBits = 19;
inline constexpr uint32_t kPageMask = (1u << kPageBits) - 1;  ///< page index inside the registry
// Block word 1 (meta): 0 = unclaimed, else kClaimed | [kRetired] | shard << 12 | owner.
// Claiming stores word 1, then word 0 (release); closing sets kRetired in
// word 1, then stores 0 to word 0.
inline constexpr int32_t kClaimed = 1 << 30;  ///< set when a registry claims the block
inline constexpr int32_t kRetired = 1 << 29;  ///< set when the owning registry closes
inline constexpr uint32_t kShardShift = 12;
/// All bits between the owner field and kRetired (bits 12..28). Registries
/// use at most 256 shards, i.e. bits 12..19.
inline constexpr uint32_t kShardMask = 0x1ffff;
inline constexpr uint32_t kOwnerMask = 0xfff;  ///< owner index 1..4095

/// Index of word 0 of block b (word 1 follows it).
constexpr size_t block_word_index(uint32_t block) noexcept {
  return kBlocksBase + kWordsPerBlock * static_cast<size_t>(block);
}
/// Index of OWNERS[owner].
constexpr size_t owner_word_index(uint32_t owner) noexcept {
  return kOwnersBase + static_cast<size_t>(owner);
}
}  // namespace domain

/// One reading of a block's two words.
struct BlockInfo {
  bool claimed;    ///< false: no registry ever claimed the block
  bool retired;    ///< its registry closed (owner index may since be reused)
  uint32_t owner;  ///< owner index recorded at claim time, 0 if unclaimed
  uint32_t shard;  ///< shard of that registry
  uint32_t page;   ///< from block word 0: page index inside that registry (0 once retired)
};

/// Read-only view of a domain table. Cheap to copy (a pointer and a size);
/// does not own the memory, which must outlive the view.
///
/// Memory ordering: block words and OWNERS[i] are read with acquire loads,
/// the header counters with relaxed loads (they are hints or statistics).
/// Writers store block word 1 (meta) before publishing word 0 (route) with a
/// release (or seq_cst, e.g. JS Atomics.store) store; a reader that sees a
/// non-zero word 0 then sees the matching word 1. Loads use __atomic_load_n with
/// GCC/Clang (C++17), std::atomic_ref otherwise when available.
///
/// Every accessor is noexcept and safe on a detached view or an invalid
/// handle: it then reports "unclaimed" (0 / false).
class DomainView {
 public:
  /// A detached view: attached() is false.
  constexpr DomainView() noexcept = default;

  /// A view over `word_count` int32 words starting at `words` (a domain
  /// table of at least domain::kDomainWords words, 4-byte aligned).
  DomainView(const int32_t* words, size_t word_count) noexcept;

  /// True iff the view has memory of at least domain::kDomainWords words.
  bool attached() const noexcept;

  /// kNotAttached if detached; kVersionMismatch if MAGIC or LAYOUT_VERSION
  /// differ from this header's; else kOk. Call once when attaching.
  Status check() const noexcept;

  /// Owner index (1..4095) recorded for h's block, 0 if h is invalid or its
  /// block unclaimed. Retired blocks still report their old owner, and owner
  /// indexes are reused after close: use owned_by() to test ownership.
  uint32_t owner_of(Handle h) const noexcept;

  /// Shard recorded for h's block (0 if invalid/unclaimed).
  uint32_t shard_of(Handle h) const noexcept;

  /// True iff h's block was claimed by some registry.
  bool is_claimed(Handle h) const noexcept;

  /// True iff h's block is claimed and its registry has closed.
  bool is_retired(Handle h) const noexcept;

  /// True iff h's block is claimed, not retired, and owned by `owner`.
  bool owned_by(Handle h, uint32_t owner) const noexcept;

  /// Page index (from block word 0) of h's block; 0 if invalid, unclaimed or retired.
  uint32_t page_of(Handle h) const noexcept;

  /// All of the above from one acquire load of each block word.
  BlockInfo block_info(Handle h) const noexcept;

  /// Raw block word 0 (route) of block b (acquire); 0 if detached or b out of range.
  int32_t block_word(uint32_t block) const noexcept;

  /// OWNERS[owner] (acquire): 0 = free, else the owner generation; 0 if
  /// detached or owner out of range (0 or > kMaxOwners).
  int32_t owner_generation(uint32_t owner) const noexcept;

  /// NEXT_BLOCK (relaxed): the next block number to be claimed.
  int32_t next_block() const noexcept;

  /// LIVE_OWNERS (relaxed): registries currently open.
  int32_t live_owners() const noexcept;

  /// The underlying words (nullptr if detached).
  const int32_t* words() const noexcept { return words_; }

 private:
  const int32_t* words_ = nullptr;
  size_t word_count_ = 0;
};

// ===========================================================================
// ShardedMap
// ===========================================================================

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

// ===========================================================================
// Events and the bounded queue
// ===========================================================================

/// One event posted from native code to the registry that owns `handle`.
/// 24 bytes, trivially copyable; the layout is part of the ABI.
struct Event {
  Handle handle;    ///< target handle
  uint32_t kind;    ///< application-defined event kind
  uint32_t size;    ///< application-defined (e.g. byte length of a side buffer)
  double payload;   ///< small numeric payload: no JS allocation to deliver it
};
static_assert(sizeof(Event) == 24, "hr::Event layout is part of the ABI");
static_assert(std::is_trivially_copyable<Event>::value, "hr::Event is POD");

/// A bounded multi-producer queue with one consumer (D. Vyukov's bounded
/// MPMC ring: a sequence number per cell, one CAS per push, no locks).
///
/// - Capacity is fixed at construction (rounded up to a power of two, at
///   least 2); the ring is the only allocation, made by the constructor.
/// - try_push never blocks and never allocates: it returns Status::kQueueFull
///   when the ring is full, and the event is not stored (the producer decides:
///   drop and count, or retry later). Pushed events are never lost.
/// - Order: events are delivered in the order their pushes claimed a cell,
///   so the events of one producer thread arrive in the order it pushed them.
///   Events of different threads interleave.
/// - drain/try_pop: one consumer thread at a time. A drain stops at the first
///   cell whose producer has claimed but not yet finished writing it; that
///   producer's own wake-up (after its push) triggers the next drain.
///
/// T must be trivially copyable and default constructible.
template <class T>
class BoundedQueue {
  static_assert(std::is_trivially_copyable<T>::value,
                "hr::BoundedQueue<T>: T must be trivially copyable");

 public:
  /// A queue of at least `capacity` cells (rounded up to a power of two,
  /// minimum 2).
  explicit BoundedQueue(size_t capacity);

  BoundedQueue(const BoundedQueue&) = delete;
  BoundedQueue& operator=(const BoundedQueue&) = delete;

  /// Any thread. kOk if stored, kQueueFull if the ring is full (also counted
  /// in rejected()). Lock-free; never blocks, never allocates.
  [[nodiscard]] Status try_push(const T& item) noexcept;

  /// Any thread. Stores items[0..n) in order and returns n, the longest prefix
  /// that fits (count if all do); the rest is not stored (each counted in
  /// rejected()). Claims a run of free cells with one CAS when it can, so a
  /// burst costs one read-modify-write rather than one per item. A single
  /// producer's items stay contiguous; another producer's may interleave
  /// between the runs of one call.
  size_t try_push_many(const T* items, size_t count) noexcept;

  /// Consumer thread only. Copies up to `max` items, oldest first, into
  /// out[0..n), frees their cells and returns n (0 if empty).
  size_t drain(T* out, size_t max) noexcept;

  /// Consumer thread only. Like drain, but hands each item to
  /// `sink(const T& item, size_t i)` (i = 0..n-1, oldest first) straight from
  /// its cell, which is freed once the call returns: no intermediate copy
  /// (e.g. convert into a typed array). `sink` must not throw and must not
  /// call drain/try_pop/consume on this queue. Returns n (0 if empty).
  /// A sink may return bool: false leaves that item in its cell (not taken,
  /// not counted in n; the next consume starts with it) and ends this call.
  template <class F>
  size_t consume(size_t max, F&& sink) noexcept;

  /// Consumer thread only. Pops one item; false if empty.
  bool try_pop(T& out) noexcept;

  /// Items pushed and not yet drained, read without synchronisation between
  /// the two counters: exact only when no push or drain is in progress.
  size_t approx_size() const noexcept;

  /// Number of cells (a power of two).
  size_t capacity() const noexcept { return mask_ + 1; }

  /// How many try_push calls returned kQueueFull so far (relaxed counter).
  uint64_t rejected() const noexcept;

 private:
  struct Cell {
    std::atomic<size_t> seq;
    T data;
  };

  const size_t mask_;
  const std::unique_ptr<Cell[]> cells_;
  alignas(64) std::atomic<size_t> enqueue_pos_{0};  // producers
  std::atomic<uint64_t> rejected_{0};
  alignas(64) std::atomic<size_t> dequeue_pos_{0};  // consumer; alignas also
                                                     // pads the object's tail
};

/// The event queue of the native -> JS path.
using EventQueue = BoundedQueue<Event>;

// ===========================================================================
// JS attach / post entry points  (RESERVED: added by the lead)
// ===========================================================================
//
// This section will declare the versioned C ABI that a separately compiled
// addon reaches from a JS registry object: attaching to a registry/domain
// (checking HANDLE_REGISTRY_ABI_VERSION, Status::kVersionMismatch on a
// mismatch) and posting events to the registry that owns a handle from any
// thread. Nothing is declared here yet on purpose; do not add stubs.
//
// ===========================================================================
// end of reserved section
// ===========================================================================

}  // inline namespace HANDLE_REGISTRY_ABI_NAMESPACE
}  // namespace hr

#include "handle_registry-inl.h"

#endif  // HANDLE_REGISTRY_H_
