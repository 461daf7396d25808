// post.h: routing a posted event to the registry that owns its handle, from
// any thread (post.cc), and the C ABI table that hands these out.
#ifndef HANDLE_REGISTRY_NATIVE_POST_H_
#define HANDLE_REGISTRY_NATIVE_POST_H_

#include <cstddef>
#include <cstdint>

#include "event_queue.h"
#include "handle_registry_abi.h"

namespace hr_native {

struct WaitTicket;

// post: an HR_STATUS_* value. Counts drops in the owner's stats.
int32_t post(uint64_t h, uint32_t kind, double payload) noexcept;
// api->post_wait (handle_registry_abi.h): post's fast path while the
// thread's ring has room, else waits for room (post_wait.h).
int32_t post_wait(uint64_t h, uint32_t kind, double payload, uint32_t timeout_ms) noexcept;
// One attempt to queue `ev` (routing, guard, liveness, the full policy of
// post_wait.h): a status, or kMustWait with t.room to wait on (post_wait.cc).
// A byte event (size > 0) stays the caller's unless the answer is OK.
int32_t post_once(const Event& ev, WaitTicket& t) noexcept;
// HR_STATUS_OK if live, else the status post would return before queueing
// (no counts).
int32_t check_live(uint64_t h) noexcept;
// api->is_live: 1 if check_live says live and, on the owner's JS thread,
// a weak handle's target has not been collected; else 0.
int32_t is_live(uint64_t h) noexcept;
// See hr_api_v1::post_many and hr_api_v1::post_bytes.
size_t post_many(const hr_event_v1* events, size_t count, int32_t* statuses) noexcept;
int32_t post_bytes(uint64_t h, uint32_t kind, const void* data, uint32_t size) noexcept;
// See hr_api_v1::call (the waiting itself: calls.cc).
int32_t call(uint64_t h, uint32_t kind, double payload, const void* data, uint32_t size,
             uint32_t timeout_ms, hr_reply_v1* reply) noexcept;

// The C ABI table: static, valid for the life of the process.
const hr_api_v1* api_table() noexcept;

}  // namespace hr_native

#endif  // HANDLE_REGISTRY_NATIVE_POST_H_
