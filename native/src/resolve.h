// resolve.h: native code turning a handle back into its JS value on the
// registry's own JS thread (api->resolve, resolve.cc), and the per-owner
// bookkeeping that makes it cheap: the registry's values array, published by
// JS, and a cache of weak napi_refs per slot (which also holds the targets
// of weak handles, so that resolving them needs no JS call).
#ifndef HANDLE_REGISTRY_NATIVE_RESOLVE_H_
#define HANDLE_REGISTRY_NATIVE_RESOLVE_H_

#include <node_api.h>

#include <cstdint>

namespace hr_native {

struct EnvData;

// api->resolve (handle_registry_abi.h): any thread; HR_STATUS_* value.
int32_t resolve(uint64_t h, napi_value* value) noexcept;

// Any thread. True only on the JS thread of h's registry, for a live weak
// handle whose target V8 has already collected (its FinalizationRegistry
// callback has not run yet): is_live answers 0 for it there. Elsewhere
// false: no other thread can see a collection before the finalizer.
bool weak_target_collected(uint64_t h) noexcept;

// JS thread of `owner` (open, claimed by `ed`): the registry's table of value
// chunks is now `vals` (a strong reference replaces the previous one), and
// this thread is the one resolve() serves for `owner`.
napi_status publish_values(EnvData* ed, uint32_t owner, napi_value vals) noexcept;

// JS thread of `owner` (open, claimed by this env: the caller checked its
// token): records the target of the weak handle `h` (just registered by that
// registry) as a weak napi_ref, so resolve() can give it (or COLLECTED)
// without calling WeakRef.prototype.deref. HR_STATUS_OK, or the status
// explaining why `h` is not a live weak handle of `owner` (INVALID_HANDLE for
// another registry's).
int32_t note_weak(uint32_t owner, uint64_t h, napi_value target) noexcept;

// From close_owner (JS thread of the owner, also in env cleanup): drops the
// values array and every cached reference; resolve() then reports the owner
// as another thread's until it is claimed and published again.
void close_resolve(uint32_t owner) noexcept;

}  // namespace hr_native

#endif  // HANDLE_REGISTRY_NATIVE_RESOLVE_H_
