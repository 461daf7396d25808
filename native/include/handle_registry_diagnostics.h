// handle_registry_diagnostics.h: look inside handles and the domain table,
// for diagnostics, tests and tools. Not needed to keep, pass or post handles.
//
// What is here:
//   - hr::decode / hr::make_handle: a handle's fields (generation, block,
//     offset) and back;
//   - hr::DomainView: read-only access to the process-wide domain table
//     (api->domain_words): which registry owns a handle's block, its shard,
//     whether that registry closed.
// Everything here follows the layout of handle_registry_layout.h, which is
// NOT an ABI promise: it may change in a release that bumps HR_ABI_VERSION and
// domain::kLayoutVersion (DomainView::check() and hr::attach detect that).
// Decisions an addon makes should rest on the guarantees of handle_registry.h
// and the statuses of the C ABI, not on decoded fields.
//
// Thread safety: decode/make_handle are pure. DomainView only reads; every
// read is an atomic load, safe while other threads (or JS workers) claim and
// retire blocks.

#ifndef HANDLE_REGISTRY_DIAGNOSTICS_H_
#define HANDLE_REGISTRY_DIAGNOSTICS_H_

#include <atomic>

#include "handle_registry.h"
#include "handle_registry_layout.h"

namespace hr {
inline namespace HANDLE_REGISTRY_ABI_NAMESPACE {

/// The fields of a handle. decode() does not validate: use is_valid() first.
struct Decoded {
  uint32_t slot;        ///< block << 8 | offset (28 bits)
  uint32_t block;       ///< 20 bits; 0 only for invalid handles
  uint32_t offset;      ///< 8 bits
  uint32_t generation;  ///< 25 bits
};

/// Splits h into its fields. Bits above bit 52 are ignored.
constexpr Decoded decode(Handle h) noexcept {
  return Decoded{static_cast<uint32_t>(h & layout::kSlotMask),
                 static_cast<uint32_t>((h >> layout::kOffsetBits) & layout::kBlockMask),
                 static_cast<uint32_t>(h & layout::kOffsetMask),
                 static_cast<uint32_t>((h >> layout::kSlotBits) & layout::kGenMax)};
}

/// Builds the handle of (block, offset, generation). Each field is masked to
/// its width, so the result never exceeds 2^53-1; make_handle(0, x, y) is not
/// a valid handle.
constexpr Handle make_handle(uint32_t block, uint32_t offset, uint32_t generation) noexcept {
  return (static_cast<Handle>(generation & layout::kGenMax) << layout::kSlotBits) |
         (static_cast<Handle>(block & layout::kBlockMask) << layout::kOffsetBits) |
         static_cast<Handle>(offset & layout::kOffsetMask);
}

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

}  // namespace detail

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

  /// OWNERS[owner] (acquire): 0 = free, domain::kOwnerClaimed = in use; 0
  /// if detached or owner out of range (0 or > kMaxOwners).
  int32_t owner_word(uint32_t owner) const noexcept;

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
  if (!attached() || block >= layout::kMaxBlocks) return 0;
  return detail::load_acquire(words_ + domain::block_word_index(block));
}

inline BlockInfo DomainView::block_info(Handle h) const noexcept {
  BlockInfo info{false, false, 0, 0, 0};
  if (!is_valid(h) || !attached()) return info;
  const uint32_t block = decode(h).block;
  const size_t i = domain::block_word_index(block);
  // Word 0 first (acquire): when it is non-zero, word 1, stored before it by
  // the claimer, is visible in the load below.
  const int32_t route = detail::load_acquire(words_ + i + domain::kRouteWord);
  const uint32_t meta = static_cast<uint32_t>(detail::load_acquire(words_ + i + domain::kMetaWord));
  if ((meta & static_cast<uint32_t>(domain::kClaimed)) == 0) return info;
  info.claimed = true;
  // A zero route with a claimed meta word: closed (kRetired), or a claim whose
  // route is not published yet (no handle of the block exists yet).
  info.retired = (meta & static_cast<uint32_t>(domain::kRetired)) != 0;
  info.owner = meta & domain::kOwnerMask;
  info.shard = (meta >> domain::kShardShift) & domain::kShardMask;
  info.page = info.retired ? 0 : domain::route_page(route);
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

inline int32_t DomainView::owner_word(uint32_t owner) const noexcept {
  if (!attached() || owner == 0 || owner > layout::kMaxOwners) return 0;
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

}  // inline namespace HANDLE_REGISTRY_ABI_NAMESPACE
}  // namespace hr

#endif  // HANDLE_REGISTRY_DIAGNOSTICS_H_
