// handle_registry_layout.h: the one C++ table of handle-registry's memory
// layout: how a handle's bits split, the domain table's words, the block and
// slot-state words. For maintainers and diagnostics, NOT an ABI promise.
//
// Addons rely on the guarantees of handle_registry.h (0 is never a handle, at
// most 2^53-1, round-trips through void*, a status for every misuse), never on
// these positions: they may change in any release that bumps HR_ABI_VERSION
// (and domain::kLayoutVersion), which hr::attach checks. The TypeScript side
// (src/layout.ts) must agree with this file; native/test/layout_dump prints
// these values as JSON so that a test compares the two. docs/design.md
// ("Handles", "Domain") explains them.
//
// Included by handle_registry_diagnostics.h and the addon's sources; no
// need to include it directly.
#ifndef HANDLE_REGISTRY_LAYOUT_H_
#define HANDLE_REGISTRY_LAYOUT_H_

#include <cstddef>
#include <cstdint>

#ifndef HANDLE_REGISTRY_H_
#error "include handle_registry.h before handle_registry_layout.h"
#endif

namespace hr {
inline namespace HANDLE_REGISTRY_ABI_NAMESPACE {
namespace layout {

// Handle bits (kOffsetBits .. kGenMax): in handle_registry-inl.h, which
// is_valid() needs; the core header must not pull in the rest of this table.

// ---------------------------------------------------------------------------
// Owners, shards, pages
// ---------------------------------------------------------------------------
inline constexpr uint32_t kMaxOwners = 4095;          ///< open registries per domain (1..4095)
inline constexpr uint32_t kMaxRegistryShards = 256;   ///< shards per JS registry (1..256)
inline constexpr uint32_t kPageBits = 19;             ///< page of a block inside its registry
inline constexpr uint32_t kPageMask = (1u << kPageBits) - 1;
inline constexpr uint32_t kMaxPages = 1u << kPageBits;
/// Slot-state words a registry can publish: one per slot of every page.
inline constexpr uint32_t kMaxStateSlots = kMaxPages * kSlotsPerBlock;  ///< 2^27

// ---------------------------------------------------------------------------
// Slot-state word (one int32 per slot, published by the owning registry):
//   gen << kStateGenShift | kStateWeak? | kStateLive?
// ---------------------------------------------------------------------------
inline constexpr uint32_t kStateLive = 1;      ///< the slot holds a value
inline constexpr uint32_t kStateWeak = 2;      ///< ... held weakly
inline constexpr uint32_t kStateGenShift = 2;  ///< generation above the two flags

}  // namespace layout

// ---------------------------------------------------------------------------
// Domain table: int32 words shared by every thread (SharedArrayBuffer or the
// addon's static memory), advanced with Atomics / std::atomic.
// ---------------------------------------------------------------------------
namespace domain {
inline constexpr int32_t kMagic = 0x48524731;  ///< "HRG1"
inline constexpr int32_t kLayoutVersion = 1;   ///< bumped with any change in this file

inline constexpr size_t kMagicIndex = 0;          ///< MAGIC
inline constexpr size_t kLayoutVersionIndex = 1;  ///< LAYOUT_VERSION
inline constexpr size_t kNextBlockIndex = 2;      ///< NEXT_BLOCK (starts at 1)
inline constexpr size_t kOwnerHintIndex = 3;      ///< OWNER_HINT: where the next owner search starts
inline constexpr size_t kLiveOwnersIndex = 4;     ///< LIVE_OWNERS
inline constexpr size_t kHeaderWords = 16;        ///< words 5..15 reserved (0)

/// OWNERS[i] at kOwnersBase + i: 0 = index free, 1 = claimed by a registry.
inline constexpr size_t kOwnersBase = kHeaderWords;
inline constexpr size_t kOwnerWords = 4096;  ///< i = 0..4095 (owners are 1..kMaxOwners)
static_assert(kOwnerWords == layout::kMaxOwners + 1, "one word per owner index");
inline constexpr int32_t kOwnerClaimed = 1;
inline constexpr size_t kBlocksBase = kOwnersBase + kOwnerWords;  ///< 4112
inline constexpr size_t kWordsPerBlock = 2;  ///< BLOCKS[b] at kBlocksBase + 2*b
/// Total words: 4112 + 2 * 2^20 = 2,101,264 (8.4 MB).
inline constexpr size_t kDomainWords = kBlocksBase + kWordsPerBlock * layout::kMaxBlocks;
inline constexpr size_t kDomainBytes = kDomainWords * sizeof(int32_t);

/// Block word 0, the route word: owner << kPageBits | page while the block is
/// in use; 0 when unclaimed or once its registry closed. Producers route on it
/// alone (one acquire load gives owner and page).
inline constexpr size_t kRouteWord = 0;
/// Block word 1, the meta word: 0 = unclaimed, else
/// kClaimed | [kRetired] | shard << kShardShift | owner. Claiming stores the
/// meta word, then the route word (release); closing sets kRetired in the
/// meta word, then stores 0 to the route word.
inline constexpr size_t kMetaWord = 1;
inline constexpr int32_t kClaimed = 1 << 30;  ///< set when a registry claims the block
inline constexpr int32_t kRetired = 1 << 29;  ///< set when the owning registry closes
inline constexpr uint32_t kShardShift = 12;
/// The shard field (bits 12..19): registries have at most 256 shards. Bits
/// 20..28 are 0.
inline constexpr uint32_t kShardMask = layout::kMaxRegistryShards - 1;  ///< 0xff
inline constexpr uint32_t kOwnerMask = 0xfff;  ///< owner index 1..4095
static_assert(kOwnerMask >= layout::kMaxOwners, "owner fits the meta word");
static_assert((layout::kMaxOwners << layout::kPageBits | layout::kPageMask) <= 0x7fffffffu,
              "the route word is a positive int32");

/// Index of the route word of block b (the meta word follows it).
constexpr size_t block_word_index(uint32_t block) noexcept {
  return kBlocksBase + kWordsPerBlock * static_cast<size_t>(block);
}
/// Index of OWNERS[owner].
constexpr size_t owner_word_index(uint32_t owner) noexcept {
  return kOwnersBase + static_cast<size_t>(owner);
}
/// The route word of a claimed block.
constexpr int32_t route_word_value(uint32_t owner, uint32_t page) noexcept {
  return static_cast<int32_t>(owner << layout::kPageBits | (page & layout::kPageMask));
}
/// The owner named by a route word.
constexpr uint32_t route_owner(int32_t route) noexcept {
  return static_cast<uint32_t>(route) >> layout::kPageBits;
}
/// The page named by a route word.
constexpr uint32_t route_page(int32_t route) noexcept {
  return static_cast<uint32_t>(route) & layout::kPageMask;
}
/// The meta word of a block claimed by `owner` for `shard`.
constexpr int32_t meta_word_value(uint32_t owner, uint32_t shard) noexcept {
  return kClaimed | static_cast<int32_t>((shard & kShardMask) << kShardShift) |
         static_cast<int32_t>(owner & kOwnerMask);
}
}  // namespace domain

}  // inline namespace HANDLE_REGISTRY_ABI_NAMESPACE
}  // namespace hr

#endif  // HANDLE_REGISTRY_LAYOUT_H_
