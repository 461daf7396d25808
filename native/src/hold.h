// hold.h: native holds that keep a registry's event loop alive while a C
// library has work pending for it (api->hold / api->unhold, hold.cc), and
// registry.ref() / unref().
#ifndef HANDLE_REGISTRY_NATIVE_HOLD_H_
#define HANDLE_REGISTRY_NATIVE_HOLD_H_

#include <node_api.h>

#include <cstdint>

namespace hr_native {

struct EnvData;

// JS thread of `owner` (just claimed by `ed`): creates its hold state (an
// unref'd uv_async_t on this thread's loop). False if that failed (holds then
// get NOT_ATTACHED).
bool open_holds(EnvData* ed, uint32_t owner) noexcept;

// Any thread, under the owner's InflightGuard with the owner admitted (post.cc):
// one more / one less hold. HR_STATUS_* value.
int32_t add_hold(uint32_t owner) noexcept;
int32_t drop_hold(uint32_t owner) noexcept;

// JS thread of `owner`: registry.ref() (true) / unref() (false).
void set_ref(uint32_t owner, bool ref) noexcept;

// From close_owner, after synchronize() (no producer can be adding holds):
// drops every hold and closes the uv handle.
void close_holds(EnvData* ed, uint32_t owner) noexcept;

}  // namespace hr_native

#endif  // HANDLE_REGISTRY_NATIVE_HOLD_H_
