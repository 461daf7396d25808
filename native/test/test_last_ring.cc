// The thread's last ring (producer_rings.h: rings::t_last, last_ring,
// lanes_try_push_last), the cache post()'s fast path routes by (post.cc).
// A stale entry must never push into a freed ring, into another set's ring,
// or into a ring its thread gave up at exit: the teardowns here are a set
// destroyed and another built at the same address, two sets posted to in
// turn, and the thread's exit. Real threads; ASan reports a push into a freed
// ring, the checks a push into the wrong one. Run under ASan and TSan, with
// membarrier and with HANDLE_REGISTRY_NO_MEMBARRIER=1 (run.sh).

#include <atomic>
#include <cstdint>
#include <new>
#include <thread>

#include "check.h"
#include "order_checker.h"
#include "producer_rings.h"

namespace {

using hr::Status;
using hr_native::BoundedQueue;
using hr_native::Event;
using hr_native::FullState;
using hr_native::RingSet;
using hr_native::SpscRing;

// A post as post.cc makes it: the thread's last ring first, then the lanes.
Status post(BoundedQueue<Event>& q, RingSet<Event>& rs, FullState<Event>& f, const Event& e) {
  if (!f.overflow.active() && hr_native::lanes_try_push_last(rs, [&](Event& c) noexcept { c = e; })) {
    return Status::kOk;
  }
  return hr_native::lanes_enqueue(q, rs, f, e, 0);
}

// More than kSharedPostsPerClaim: the thread claims a ring on the way.
constexpr uint64_t kToRing = 2 * hr_native::rings::kSharedPostsPerClaim;

// Posts events [from, to) of `producer`; false at the first one refused.
bool post_range(BoundedQueue<Event>& q, RingSet<Event>& rs, FullState<Event>& f, uint32_t producer,
                uint64_t from, uint64_t to) {
  for (uint64_t i = from; i < to; ++i) {
    if (post(q, rs, f, Ev(producer, i)) != Status::kOk) return false;
  }
  return true;
}

size_t drain(BoundedQueue<Event>& q, RingSet<Event>& rs, FullState<Event>& f, Checker& check) {
  size_t n = 0;
  while (size_t got = hr_native::lanes_consume(q, rs, f, 1000, check, no_extra)) n += got;
  return n;
}

}  // namespace

// The set's serial is the key, never its address: a set destroyed (its rings
// freed, as close_event_path frees a path) and another built in the same
// storage is never routed to the first one's ring.
TEST(a_set_built_where_a_destroyed_one_was_is_not_its_ring) {
  BoundedQueue<Event> q(1024);
  FullState<Event> f;
  alignas(RingSet<Event>) unsigned char storage[sizeof(RingSet<Event>)];
  std::thread([&] {
    RingSet<Event>* a = new (storage) RingSet<Event>(1024, 1);
    CHECK(post_range(q, *a, f, 0, 0, kToRing));
    SpscRing<Event>* ring = hr_native::last_ring(*a);
    CHECK(ring != nullptr);
    CHECK(ring == a->find(hr_native::rings::thread_id()));
    Checker first(1);
    CHECK_EQ(drain(q, *a, f, first), size_t{kToRing});
    a->~RingSet();  // frees `ring`
    RingSet<Event>* b = new (storage) RingSet<Event>(1024, 1);
    CHECK(static_cast<void*>(b) == static_cast<void*>(a));
    CHECK(hr_native::last_ring(*b) == nullptr);
    // And the posts to b land in b, in order (through its shared queue, then
    // a ring of its own).
    CHECK(post_range(q, *b, f, 0, 0, kToRing));
    CHECK(hr_native::last_ring(*b) != nullptr);
    Checker second(1);
    CHECK_EQ(drain(q, *b, f, second), size_t{kToRing});
    CHECK(second.in_order);
    CHECK_EQ(second.next[0], kToRing);
    b->~RingSet();
  }).join();
}

// One thread posts to two live sets in turn (two registries): every event
// lands in the set it was posted to, in order, though the last ring moves
// from one set to the other at every post.
TEST(two_sets_in_turn_each_get_only_their_events) {
  BoundedQueue<Event> qa(4096), qb(4096);
  RingSet<Event> a(4096, 1), b(4096, 1);
  FullState<Event> fa, fb;
  constexpr uint64_t kEach = 3000;
  std::thread([&] {
    for (uint64_t i = 0; i < kEach; ++i) {
      CHECK(post(qa, a, fa, Ev(0, i)) == Status::kOk);
      CHECK(post(qb, b, fb, Ev(1, i)) == Status::kOk);
    }
    CHECK(hr_native::last_ring(b) != nullptr);
    CHECK(hr_native::last_ring(a) == nullptr);  // b's was the last
  }).join();
  Checker ca(2), cb(2);
  CHECK_EQ(drain(qa, a, fa, ca), size_t{kEach});
  CHECK_EQ(drain(qb, b, fb, cb), size_t{kEach});
  CHECK(ca.in_order);
  CHECK(cb.in_order);
  CHECK_EQ(ca.next[0], kEach);
  CHECK_EQ(ca.next[1], uint64_t{0});
  CHECK_EQ(cb.next[0], uint64_t{0});
  CHECK_EQ(cb.next[1], kEach);
  CHECK_EQ(a.count(), uint32_t{1});
  CHECK_EQ(b.count(), uint32_t{1});
}

// The thread's exit: once its exit hook ran, its ring may be handed to
// another thread (claim() takes an orphaned empty ring), so the last ring
// must be gone: a later post (a thread_local destructor that runs after the
// hook) goes through push_exiting, under the set's mutex.
namespace {
BoundedQueue<Event>* g_q = nullptr;
RingSet<Event>* g_rs = nullptr;
FullState<Event>* g_f = nullptr;
std::atomic<int> g_last_at_exit{-1};  // 1: a last ring was still cached at exit
std::atomic<bool> g_posted_at_exit{false};
struct AtExit {
  bool armed = false;
  ~AtExit() {
    if (!armed) return;
    g_last_at_exit.store(hr_native::last_ring(*g_rs) != nullptr ? 1 : 0);
    g_posted_at_exit.store(post_range(*g_q, *g_rs, *g_f, 0, kToRing, kToRing + 10));
  }
};
// Block scope: registered when first reached, so before the rings' hook
// (a namespace-scope thread_local of this file would be registered with the
// header's, in their order, by the file's TLS init: before this one).
AtExit& at_exit() {
  thread_local AtExit a;
  return a;
}
}  // namespace

TEST(an_exiting_thread_has_no_last_ring) {
  BoundedQueue<Event> q(1024);
  RingSet<Event> rs(1024, 1);
  FullState<Event> f;
  g_q = &q;
  g_rs = &rs;
  g_f = &f;
  std::thread([&] {
    at_exit().armed = true;  // registered first: destroyed after the rings' exit hook
    CHECK(post_range(q, rs, f, 0, 0, kToRing));
    CHECK(hr_native::last_ring(rs) != nullptr);
  }).join();
  CHECK_EQ(g_last_at_exit.load(), 0);
  CHECK(g_posted_at_exit.load());
  // The ring is orphaned; a new thread takes it over (it is empty once
  // drained) and its posts come after the first thread's, all in order.
  Checker check(2);
  CHECK_EQ(drain(q, rs, f, check), size_t{kToRing + 10});
  std::thread([&] { CHECK(post_range(q, rs, f, 1, 0, kToRing)); }).join();
  CHECK_EQ(drain(q, rs, f, check), size_t{kToRing});
  CHECK(check.in_order);
  CHECK_EQ(check.next[0], kToRing + 10);
  CHECK_EQ(check.next[1], kToRing);
  CHECK_EQ(rs.count(), uint32_t{1});
}

int main(int argc, char** argv) { return hr_test::run_all(argc, argv); }
