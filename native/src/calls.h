// calls.h: api->call, blocking calls from native threads to the JS handler of
// a registry (registry.onCall), and their reply (calls.cc). The wait/wake
// between the two threads is call_record.h.
//
// Path of a call: the caller (any thread but the owner's JS thread) creates a
// CallRecord and queues it through the owner's event queue like a post (an
// Event whose size is kCallMark and whose payload carries the record), then
// waits on the record outside the close protocol's guard. On the JS thread,
// the delivery of a batch gives each call an id (unique on that thread), keeps
// it in the path's table of calls handed to JS, and writes its record for
// JS; JS answers through reply_call(id). Teardown (close_event_path: close(),
// offEvent/offCall when nothing else needs the path, env cleanup) completes
// every queued call and every call in the table with REGISTRY_CLOSED.
#ifndef HANDLE_REGISTRY_NATIVE_CALLS_H_
#define HANDLE_REGISTRY_NATIVE_CALLS_H_

#include <cstddef>
#include <cstdint>

#include "call_record.h"
#include "event_queue.h"
#include "handle_registry_abi.h"

namespace hr_native {

struct EventPath;
struct OwnerSlot;

// Event::size of a queued call (byte events are at most HR_MAX_BYTES).
constexpr uint32_t kCallMark = 0xFFFFFFFFu;

// --- the caller's thread ---
// Under the owner's InflightGuard, admitted and live (post.cc): queues a call
// on path p (null: closed) and wakes the JS thread. kOk with *out set (the
// caller's reference), or the status of a post that was not queued.
int32_t queue_call(OwnerSlot& s, EventPath* p, uint64_t h, uint32_t kind, double payload,
                   const void* data, uint32_t size, CallRecord** out) noexcept;
// After queue_call, outside the guard: waits, fills *reply, drops the
// caller's reference; returns the call's status.
int32_t await_call(CallRecord* rec, uint32_t timeout_ms, hr_reply_v1* reply) noexcept;
// api->free_reply.
void free_reply(hr_reply_v1* reply) noexcept;

// --- the owner's JS thread ---
// A queued call leaves the queue into batch record r (4 doubles): [handle,
// kind, payload, -(2 id)] for a numeric request, [handle, kind, offset *
// 2^17 + size, -(2 id + 1)] for bytes copied to arena[offset..) (offset =
// *used, which grows by size rounded up to 8). False: the bytes do not fit
// the arena (left queued).
bool call_to_record(EventPath* p, const Event& e, double* r, uint8_t* arena, size_t arena_length,
                    size_t* used) noexcept;
// Around the JS callback of one batch (on_async): the replies made during it
// wake their callers once, when it returns.
void begin_delivery() noexcept;
void end_delivery() noexcept;
// A queued call dropped at close: completed with REGISTRY_CLOSED.
void drop_queued_call(const Event& e) noexcept;
// JS answered call `id` of path p: kOk with `reply` (its bytes are taken), or
// THREW / REGISTRY_CLOSED / STALE_HANDLE. False if p has no such call (it was
// answered or cancelled before): nothing happens, reply.bytes is freed.
bool reply_call(EventPath* p, double id, int32_t status, CallReply reply) noexcept;
// Completes every call handed to JS and not answered yet with REGISTRY_CLOSED
// (offCall while the path stays open); free_table also frees the table (the
// path closes).
void cancel_calls(EventPath* p, bool free_table) noexcept;

}  // namespace hr_native

#endif  // HANDLE_REGISTRY_NATIVE_CALLS_H_
