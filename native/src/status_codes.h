// status_codes.h: hr::Status as the int32 the C ABI returns, one list for the
// files that answer C ABI calls (post.cc, resolve.cc, hold.cc).
#ifndef HANDLE_REGISTRY_NATIVE_STATUS_CODES_H_
#define HANDLE_REGISTRY_NATIVE_STATUS_CODES_H_

#include <cstdint>

#include "handle_registry.h"

namespace hr_native {
namespace status {

constexpr int32_t code(hr::Status s) noexcept { return static_cast<int32_t>(s); }

inline constexpr int32_t kOk = code(hr::Status::kOk);
inline constexpr int32_t kInvalid = code(hr::Status::kInvalidHandle);
inline constexpr int32_t kStale = code(hr::Status::kStaleHandle);
inline constexpr int32_t kClosedSt = code(hr::Status::kRegistryClosed);
inline constexpr int32_t kFull = code(hr::Status::kQueueFull);
inline constexpr int32_t kTooLarge = code(hr::Status::kPayloadTooLarge);
inline constexpr int32_t kWrongThread = code(hr::Status::kWrongThread);
inline constexpr int32_t kCollected = code(hr::Status::kCollected);
inline constexpr int32_t kNapiFailed = code(hr::Status::kNapiFailed);
inline constexpr int32_t kTimeoutSt = code(hr::Status::kTimeout);
inline constexpr int32_t kWouldDeadlock = code(hr::Status::kWouldDeadlock);
inline constexpr int32_t kThrew = code(hr::Status::kThrew);

}  // namespace status
}  // namespace hr_native

#endif  // HANDLE_REGISTRY_NATIVE_STATUS_CODES_H_
