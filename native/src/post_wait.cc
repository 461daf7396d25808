// post_wait.cc: what a post does once the queue is full (post_wait.h), and
// api->post_wait's routed path. The fast path (room in the thread's ring:
// post.cc, shared by api->post and api->post_wait) never comes here.
#include "post_wait.h"

#include "event_path.h"
#include "owners.h"
#include "post.h"
#include "status_codes.h"

namespace hr_native {

using namespace status;  // kOk, kFull, kTimeoutSt, kWouldDeadlock, ...

int32_t queue_full(OwnerSlot& s, EventPath* p, const Event& ev, WaitTicket& t) noexcept {
  if (t.mode == WaitTicket::Mode::kFinal) {
    s.dropped_timeout.fetch_add(1, std::memory_order_relaxed);
    return kTimeoutSt;
  }
  if (t.mode == WaitTicket::Mode::kPolicy && p->full.policy() != WhenFull::kBlock) {
    s.dropped_full.fetch_add(1, std::memory_order_relaxed);
    return kFull;
  }
  // The JS thread that would drain the queue is this one: refuse at once.
  if (on_owner_thread(s)) {
    s.dropped_full.fetch_add(1, std::memory_order_relaxed);
    return kWouldDeadlock;
  }
  if (!t.started) {
    t.started = true;
    if (t.mode == WaitTicket::Mode::kPolicy) t.timeout_ms = p->full.timeout_ms.load(std::memory_order_relaxed);
    if (t.timeout_ms != kWaitForever) {
      t.deadline = Room::Clock::now() + std::chrono::milliseconds(t.timeout_ms);
    }
  }
  if (t.timeout_ms == 0) {
    s.dropped_timeout.fetch_add(1, std::memory_order_relaxed);
    return kTimeoutSt;
  }
  // Register as a waiter, then try once more (the protocol of back_pressure.h).
  Room* room = p->full.room;
  room->ref();
  t.seen = room->enter();
  if (path_enqueue(p, ev, event_extra(ev)) == Status::kOk) {
    room->leave();
    room->unref();
    return kOk;
  }
  t.room = room;
  return kMustWait;
}

int32_t wait_and_post(const Event& ev, WaitTicket& t) noexcept {
  for (;;) {
    Room* room = t.room;
    t.room = nullptr;
    const Room::Woke woke = room->wait(t.seen, t.timeout_ms == kWaitForever, t.deadline);
    room->leave();
    room->unref();
    if (woke == Room::Woke::kTimeout) t.mode = WaitTicket::Mode::kFinal;
    // Room, closed or timed out: route again. A closed path gives
    // registry_closed (counted) unless onEvent() opened a new one meanwhile.
    const int32_t st = post_once(ev, t);
    if (st != kMustWait) return st;
  }
}

int32_t post_wait_routed(uint64_t h, uint32_t kind, double payload, uint32_t timeout_ms) noexcept {
  WaitTicket t;
  t.mode = WaitTicket::Mode::kWait;
  t.timeout_ms = timeout_ms;
  const Event ev{h, kind, 0, payload};
  const int32_t st = post_once(ev, t);
  return st == kMustWait ? wait_and_post(ev, t) : st;
}

}  // namespace hr_native
