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

#include "handle_registry_layout.h"

namespace hr {
inline namespace HANDLE_REGISTRY_ABI_NAMESPACE {

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
