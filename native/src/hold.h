// hold.h: native holds that keep a registry's event loop alive while a C
// library has work pending for it (api->hold / api->unhold, hold.cc), and
// registry.ref() / unref().
#ifndef HANDLE_REGISTRY_NATIVE_HOLD_H_
#define HANDLE_REGISTRY_NATIVE_HOLD_H_

#include <node_api.h>

#include <cstdint>

namespace hr_native {

struct EnvData;

// The per-env loop handle of the holds (hold.cc); EnvData::holds.
struct HoldLoop;

// JS thread of `owner` (just claimed by `ed`): resets its hold state and ties
// it to the env's HoldLoop (an unref'd uv_async_t on this thread's loop, made
// at the env's first claim). False if that failed (holds then get
// NOT_ATTACHED).
bool open_holds(EnvData* ed, uint32_t owner) noexcept;

// Any thread, under the owner's InflightGuard with the owner admitted (post.cc):
// one more / one less hold. HR_STATUS_* value.
int32_t add_hold(uint32_t owner) noexcept;
int32_t drop_hold(uint32_t owner) noexcept;

// JS thread of `owner`: registry.ref() (true) / unref() (false).
void set_ref(uint32_t owner, bool ref) noexcept;

// From close_owner, after synchronize() (no producer can be adding holds):
// drops every hold of the owner.
void close_holds(EnvData* ed, uint32_t owner) noexcept;

// Env cleanup, after every owner of the env was closed: closes the env's
// HoldLoop (freed by the uv_close callback, counted in pending_closes).
void close_hold_loop(EnvData* ed) noexcept;

}  // namespace hr_native

#endif  // HANDLE_REGISTRY_NATIVE_HOLD_H_
