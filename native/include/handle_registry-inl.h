// handle_registry-inl.h: definitions for handle_registry.h.
//
// Do not include this file directly: include "handle_registry.h", which
// includes it at its end.

#ifndef HANDLE_REGISTRY_INL_H_
#define HANDLE_REGISTRY_INL_H_

#ifndef HANDLE_REGISTRY_H_
#error "include handle_registry.h, not handle_registry-inl.h"
#endif

#if defined(_MSC_VER)
#include <intrin.h>  // _mm_pause / __yield
#endif

namespace hr {
inline namespace HANDLE_REGISTRY_ABI_NAMESPACE {

// Handle bits: the first entries of the layout table (handle_registry_layout.h
// holds the rest). Not an ABI promise: addons rely on the guarantees only.
namespace layout {
//   52                  28 27             8 7      0
//   +---------------------+----------------+--------+
//   |    gen (25 bits)    | block (20 bits)| offset |
//   +---------------------+----------------+--------+
//                         |<---- slot (28 bits) --->|
inline constexpr uint32_t kOffsetBits = 8;   ///< slot index inside its block
inline constexpr uint32_t kBlockBits = 20;   ///< global block number (0: never a handle)
inline constexpr uint32_t kSlotBits = kBlockBits + kOffsetBits;  ///< 28
inline constexpr uint32_t kGenBits = 25;     ///< generation of the slot
static_assert(kSlotBits + kGenBits == 53, "a handle is a JS safe integer");
inline constexpr uint32_t kSlotsPerBlock = 1u << kOffsetBits;  ///< 256
inline constexpr uint32_t kOffsetMask = kSlotsPerBlock - 1;    ///< 0xff
inline constexpr uint32_t kMaxBlocks = 1u << kBlockBits;       ///< blocks 1..2^20-1
inline constexpr uint32_t kBlockMask = kMaxBlocks - 1;         ///< 0xfffff
inline constexpr uint32_t kSlotMask = (1u << kSlotBits) - 1;   ///< 0x0fffffff
inline constexpr uint32_t kGenMax = (1u << kGenBits) - 1;      ///< a slot retires here
}  // namespace layout

namespace detail {

/// One pause of a spin-wait loop: the CPU's spin hint where there is one,
/// else nothing. Every caller bounds its spinning (ShardedMap's shard lock then
/// blocks, the addon's synchronize() then yields), so the fallback only
/// costs a few more cycles of busy waiting.
inline void cpu_relax() noexcept {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  __builtin_ia32_pause();
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
  __asm__ __volatile__("yield");
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
  _mm_pause();
#elif defined(_MSC_VER) && defined(_M_ARM64)
  __yield();
#endif
}

}  // namespace detail

constexpr bool is_valid(Handle h) noexcept {
  // Block 0 is never claimed, so its handles are never issued.
  return h >= 1 && h <= kMaxHandle && ((h >> layout::kOffsetBits) & layout::kBlockMask) != 0;
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

constexpr const char* status_name(Status s) noexcept {
  switch (static_cast<int32_t>(s)) {
    HR_STATUS_LIST(HR_STATUS_NAME_CASE_)
    default:
      return "unknown";
  }
}

}  // inline namespace HANDLE_REGISTRY_ABI_NAMESPACE
}  // namespace hr

#endif  // HANDLE_REGISTRY_INL_H_
