// handle_registry.h: handles of handle-registry, for addons that keep one in
// a C callback's `void* user_data` (declarations; definitions in
// handle_registry-inl.h, included at the end).
//
// Header-only, C++17, no Node/N-API dependency. What is here: hr::Handle and
// its guarantees, is_valid, to_user_data / from_user_data, hr::Status and
// status_name, and the version macros. Other headers, by audience:
//   handle_registry_napi.h          hr::attach: reach the registry addon's C ABI
//   handle_registry_abi.h           the C ABI table (post, post_many, ...), plain C
//   handle_registry_sharded_map.h   hr::ShardedMap: native state keyed by handle
//   handle_registry_diagnostics.h   decode a handle, read the domain table
//
// Example: the whole round trip. A C library `lib_start(cb, user_data)` calls
// `cb(user_data, value)` later, from a thread of its own; the JS object must
// receive the value, and a late callback must never reach a freed object.
//
//   // JS: const h = registry.register(obj)      // a number, 1..2^53-1
//   //     registry.onEvent((obj, kind, value) => { ... })
//   //     addon.attach(registry); addon.start(h)
//
//   static const hr_api_v1* api;                  // hr::attach(env, registry)
//
//   Napi::Value Start(const Napi::CallbackInfo& info) {   // JS thread
//     const double d = info[0].As<Napi::Number>().DoubleValue();
//     const hr::Handle h = static_cast<hr::Handle>(d);
//     if (d != static_cast<double>(h) || !hr::is_valid(h)) { /* throw */ }
//     lib_start(&OnData, hr::to_user_data(h));    // the handle is the user_data
//     return info.Env().Undefined();
//   }
//
//   extern "C" void OnData(void* user_data, double value) {  // any thread
//     const hr::Handle h = hr::from_user_data(user_data);
//     const int32_t st = api->post(h, /*kind=*/1, value);
//     if (st != HR_STATUS_OK) lib_stop(user_data);  // e.g. "stale_handle":
//   }                                               // JS released the object
//
// The registry's thread receives the events in batches, resolves each handle
// and calls the handler with the registered object. A handle JS released is
// never resolved to another object: post() returns HR_STATUS_STALE_HANDLE
// (or REGISTRY_CLOSED once the registry closed or its worker ended), and
// nothing is touched. No pointer to a JS object ever crosses a thread.
//
// Guarantees (the whole contract; the bit layout is not part of it):
//   - 0 (kNullHandle) is never issued: a null user_data means "no handle";
//   - every handle is in 1 .. 2^53-1 (kMaxHandle): exact as a JS number;
//   - to_user_data / from_user_data round-trip every handle (64-bit pointers);
//   - every misuse (0, a released handle, a handle of a closed registry or of
//     another domain, anything never issued) gets its own hr::Status, never a
//     crash and never another registry's object.
//
// Thread safety: everything here is pure (constexpr or inline arithmetic):
// safe from any thread. Nothing here keeps JS values alive or touches napi_env.

#ifndef HANDLE_REGISTRY_H_
#define HANDLE_REGISTRY_H_

#if !((defined(_MSVC_LANG) && _MSVC_LANG >= 201703L) || __cplusplus >= 201703L)
#error "handle_registry.h requires C++17 or later (node-gyp's default for Node 20)"
#endif

#include <cstddef>
#include <cstdint>

#include "handle_registry_status.h"

// Version of these headers (semantic versioning; follows the npm package).
#define HANDLE_REGISTRY_VERSION_MAJOR 0
#define HANDLE_REGISTRY_VERSION_MINOR 1
#define HANDLE_REGISTRY_VERSION_PATCH 0
#define HANDLE_REGISTRY_VERSION                                   \
  (HANDLE_REGISTRY_VERSION_MAJOR * 10000 +                        \
   HANDLE_REGISTRY_VERSION_MINOR * 100 + HANDLE_REGISTRY_VERSION_PATCH)

// Version of the binary interface between separately compiled addons and the
// registry (HR_ABI_VERSION of handle_registry_status.h). Checked when an addon
// attaches; a mismatch gives Status::kVersionMismatch.
#define HANDLE_REGISTRY_ABI_VERSION HR_ABI_VERSION

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

/// A handle: an integer that stands for one registered JS value of one
/// registry, 1 .. 2^53-1 (a positive safe integer in JS). 0 is never issued.
using Handle = uint64_t;

/// The null handle: never issued; what from_user_data(nullptr) returns.
inline constexpr Handle kNullHandle = 0;

/// The largest value a handle can have: 2^53-1 (Number.MAX_SAFE_INTEGER).
inline constexpr Handle kMaxHandle = (Handle{1} << 53) - 1;

/// True iff h could have been issued by some registry: in 1 .. 2^53-1 and not
/// in a range no registry issues. Says nothing about whether h is live: only
/// its registry knows (api->is_live, or post()'s status).
constexpr bool is_valid(Handle h) noexcept;

/// A handle as a C `void* user_data` (64-bit pointers only). The pointer is
/// never dereferenced; to_user_data(0) is nullptr.
inline void* to_user_data(Handle h) noexcept;

/// The handle carried by a user_data made by to_user_data; nullptr gives 0
/// (kNullHandle, "no handle"). Check the result with is_valid() if the
/// user_data may come from elsewhere.
inline Handle from_user_data(const void* user_data) noexcept;

/// What a native producer (or an attaching addon) is told. Same values as
/// HR_STATUS_* of the C ABI (one table: handle_registry_status.h).
enum class Status : int32_t {
  kOk = HR_STATUS_OK,
  kInvalidHandle = HR_STATUS_INVALID_HANDLE,      ///< 0, > 2^53-1, never issued
  kStaleHandle = HR_STATUS_STALE_HANDLE,          ///< released: the slot moved on
  kForeignHandle = HR_STATUS_FOREIGN_HANDLE,      ///< another registry or domain
  kRegistryClosed = HR_STATUS_REGISTRY_CLOSED,    ///< closed, or its worker ended
  kQueueFull = HR_STATUS_QUEUE_FULL,              ///< bounded event queue full: dropped
  kVersionMismatch = HR_STATUS_VERSION_MISMATCH,  ///< header/ABI or layout differs
  kNotAttached = HR_STATUS_NOT_ATTACHED,          ///< nothing attached yet
  kPayloadTooLarge = HR_STATUS_PAYLOAD_TOO_LARGE, ///< post_bytes over the limit
  kWrongThread = HR_STATUS_WRONG_THREAD,          ///< resolve off the owner's JS thread
  kCollected = HR_STATUS_COLLECTED,               ///< weak value garbage-collected
  kNapiFailed = HR_STATUS_NAPI_FAILED,            ///< N-API refused (exception pending)
  kTimeout = HR_STATUS_TIMEOUT,                   ///< a blocking entry waited its limit
  kWouldDeadlock = HR_STATUS_WOULD_DEADLOCK,      ///< blocking entry on the owner's JS thread
  kThrew = HR_STATUS_THREW,                       ///< the JS call handler threw
};

/// "ok", "invalid_handle", "stale_handle", "foreign_handle",
/// "registry_closed", "queue_full", "version_mismatch", "not_attached",
/// "payload_too_large", "wrong_thread", "collected", "napi_failed",
/// "timeout", "would_deadlock", "threw";
/// "unknown" for any other value. Never nullptr.
constexpr const char* status_name(Status s) noexcept;

}  // inline namespace HANDLE_REGISTRY_ABI_NAMESPACE
}  // namespace hr

#include "handle_registry-inl.h"

#endif  // HANDLE_REGISTRY_H_
