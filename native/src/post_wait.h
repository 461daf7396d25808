// post_wait.h: posting when an owner's queue is full (post_wait.cc): the
// decision under the owner's InflightGuard (drop, wait, would_deadlock,
// timeout), the wait outside it, and api->post_wait. The policies and the
// wait/wake protocol: back_pressure.h. A waiting producer holds a reference
// to the path's Room, never the guard: close, offEvent, growth of the state
// region and env cleanup never wait for it; close wakes it (registry_closed).
#ifndef HANDLE_REGISTRY_NATIVE_POST_WAIT_H_
#define HANDLE_REGISTRY_NATIVE_POST_WAIT_H_

#include <chrono>
#include <cstdint>

#include "back_pressure.h"
#include "event_queue.h"

namespace hr_native {

struct OwnerSlot;
struct EventPath;

// Not a status callers ever see: the producer must wait on WaitTicket::room,
// then post again (wait_and_post).
inline constexpr int32_t kMustWait = -1;

// One blocking post's state across its attempts.
struct WaitTicket {
  enum class Mode : uint8_t {
    kPolicy,  // post, post_bytes, post_many: the owner's whenFull decides
    kWait,    // post_wait: wait whatever the policy
    kFinal,   // the deadline passed: one last try, then TIMEOUT
  };
  Mode mode = Mode::kPolicy;
  bool started = false;     // deadline set (at the first full queue)
  uint32_t timeout_ms = 0;  // kWait: the caller's; kPolicy: the policy's, read at the first full queue
  Room::Clock::time_point deadline{};
  Room* room = nullptr;  // a reference, while kMustWait
  uint64_t seen = 0;     // the Room's epoch to wait past
};

// Under the guard of `s` (admitted, handle live), after enqueue() found p's
// queue full: QUEUE_FULL (drop, grow past its cap: counted droppedFull),
// WOULD_DEADLOCK (a wait on the owner's own JS thread: counted droppedFull),
// TIMEOUT (kFinal, or a zero timeout: counted droppedTimeout), kOk (room
// appeared meanwhile), or kMustWait with t.room referenced.
int32_t queue_full(OwnerSlot& s, EventPath* p, const Event& ev, WaitTicket& t) noexcept;

// Outside any guard, after kMustWait: waits on t.room, then posts `ev` again
// (post_once) until the answer is final (OK, TIMEOUT, REGISTRY_CLOSED, ...).
int32_t wait_and_post(const Event& ev, WaitTicket& t) noexcept;

// api->post_wait's routed path (api->post_wait itself: post.h), for a post
// its fast path did not finish: routed from the start with a kWait ticket,
// then waits (wait_and_post) while the queue is full.
int32_t post_wait_routed(uint64_t h, uint32_t kind, double payload, uint32_t timeout_ms) noexcept;

}  // namespace hr_native

#endif  // HANDLE_REGISTRY_NATIVE_POST_WAIT_H_
