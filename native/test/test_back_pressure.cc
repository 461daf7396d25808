// back_pressure.h: the full policies of the event queue ('block' waits in a
// Room, 'grow' spills into the overflow), order per producer, the memory cap,
// and the wake-ups (room freed, closed, timed out). Run under ASan and TSan,
// through the event path's own lanes (producer_rings.h) with rings off, so a
// producer here is one that has no ring (test_rings.cc has those).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "back_pressure.h"
#include "producer_rings.h"
#include "check.h"
#include "order_checker.h"

namespace {

using hr_native::BoundedQueue;
using hr_native::Event;
using hr_native::FullState;
using hr_native::RingSet;
using hr_native::Room;
using hr_native::WhenFull;
using Clock = std::chrono::steady_clock;

enum class Pushed { kOk, kTimeout, kClosed };

// The producer side of a blocking post, as post_wait.cc runs it (there the
// second push and the wait are separated by leaving the owner's guard).
Pushed push_waiting(BoundedQueue<Event>& q, RingSet<Event>& rs, FullState<Event>& f, const Event& e, uint32_t timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (hr_native::lanes_enqueue(q, rs, f, e, 0) == hr::Status::kOk) return Pushed::kOk;
    const uint64_t seen = f.room->enter();
    if (hr_native::lanes_enqueue(q, rs, f, e, 0) == hr::Status::kOk) {
      f.room->leave();
      return Pushed::kOk;
    }
    const Room::Woke w = f.room->wait(seen, false, deadline);
    f.room->leave();
    if (w == Room::Woke::kClosed) return Pushed::kClosed;
    if (w == Room::Woke::kTimeout) return Pushed::kTimeout;
  }
}

void run_block(uint32_t producers, uint64_t per, size_t ring) {
  BoundedQueue<Event> q(ring);
  RingSet<Event> rs(ring, 0);  // no rings: the shared queue and the overflow
  FullState<Event> f;
  f.when_full.store(static_cast<uint32_t>(WhenFull::kBlock));
  std::atomic<uint64_t> failed{0};
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < producers; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0; i < per; ++i) {
        if (push_waiting(q, rs, f, Ev(t, i), 60000) != Pushed::kOk) failed.fetch_add(1);
      }
    });
  }
  Checker check(producers);
  const uint64_t total = producers * per;
  uint32_t rounds = 0;
  while (check.got < total) {
    if (hr_native::lanes_consume(q, rs, f, 7, check, no_extra) == 0) std::this_thread::yield();
    // Now and then a pause, so producers really find the ring full and wait.
    if (++rounds % 64 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  for (auto& th : threads) th.join();
  CHECK_EQ(failed.load(), uint64_t{0});
  CHECK_EQ(check.got, total);
  CHECK(check.in_order);
  CHECK_EQ(hr_native::lanes_queued(q, rs, f), size_t{0});
  CHECK_EQ(f.room->waiters(), uint32_t{0});
}

}  // namespace

TEST(block_1_producer_nothing_lost_in_order) { run_block(1, 20000, 8); }
TEST(block_4_producers_nothing_lost_in_order) { run_block(4, 10000, 4); }

TEST(block_times_out_when_nobody_consumes) {
  BoundedQueue<Event> q(2);
  RingSet<Event> rs(2, 0);  // no rings: the shared queue and the overflow
  FullState<Event> f;
  f.when_full.store(static_cast<uint32_t>(WhenFull::kBlock));
  CHECK(push_waiting(q, rs, f, Ev(0, 0), 1000) == Pushed::kOk);
  CHECK(push_waiting(q, rs, f, Ev(0, 1), 1000) == Pushed::kOk);
  const auto t0 = Clock::now();
  CHECK(push_waiting(q, rs, f, Ev(0, 2), 50) == Pushed::kTimeout);
  CHECK(Clock::now() - t0 >= std::chrono::milliseconds(50));
  CHECK_EQ(f.room->waiters(), uint32_t{0});
  CHECK_EQ(hr_native::lanes_queued(q, rs, f), size_t{2});
}

TEST(close_wakes_every_waiter) {
  BoundedQueue<Event> q(2);
  RingSet<Event> rs(2, 0);  // no rings: the shared queue and the overflow
  FullState<Event> f;
  CHECK(hr_native::lanes_enqueue(q, rs, f, Ev(0, 0), 0) == hr::Status::kOk);
  CHECK(hr_native::lanes_enqueue(q, rs, f, Ev(0, 1), 0) == hr::Status::kOk);
  std::atomic<int> closed{0};
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      // An hour: only close() can end this wait in time.
      if (push_waiting(q, rs, f, Ev(t, 9), 3600 * 1000) == Pushed::kClosed) closed.fetch_add(1);
    });
  }
  while (f.room->waiters() < 3) std::this_thread::yield();
  f.room->close();
  for (auto& th : threads) th.join();
  CHECK_EQ(closed.load(), 3);
}

TEST(room_outlives_its_queue_while_referenced) {
  Room* room = nullptr;
  uint64_t seen = 0;
  {
    FullState<Event> f;
    room = f.room;
    room->ref();  // a waiting producer's reference
    seen = room->enter();
  }  // the queue goes: closed, its reference dropped
  CHECK(room->wait(seen, true, Clock::now()) == Room::Woke::kClosed);
  room->leave();
  room->unref();  // the last reference: freed (ASan checks)
}

TEST(freed_wakes_a_waiter_forever_wait) {
  Room* room = Room::create();
  std::atomic<bool> woke{false};
  const uint64_t seen = room->enter();
  std::thread waiter([&] {
    woke.store(room->wait(seen, true, Clock::now()) == Room::Woke::kRoom);
    room->leave();
  });
  room->freed();
  waiter.join();
  CHECK(woke.load());
  room->unref();
}

TEST(grow_spills_in_order_and_caps_memory) {
  BoundedQueue<Event> q(4);
  RingSet<Event> rs(4, 0);  // no rings: the shared queue and the overflow
  FullState<Event> f;
  f.when_full.store(static_cast<uint32_t>(WhenFull::kGrow));
  using Ov = hr_native::Overflow<Event>;
  f.overflow_cap.store(2 * Ov::chunk_bytes());  // two chunks: 2048 events
  uint64_t accepted = 0;
  while (hr_native::lanes_enqueue(q, rs, f, Ev(0, accepted), 0) == hr::Status::kOk) ++accepted;
  CHECK_EQ(accepted, uint64_t{4 + 2 * 1024});
  CHECK_EQ(f.overflow.bytes(), 2 * Ov::chunk_bytes());
  CHECK(hr_native::lanes_enqueue(q, rs, f, Ev(0, accepted), 0) == hr::Status::kQueueFull);
  Checker check(1);
  // Overflow mode: a ring slot freed meanwhile is not used (order).
  CHECK_EQ(hr_native::lanes_consume(q, rs, f, 2, check, no_extra), size_t{2});
  CHECK(hr_native::lanes_enqueue(q, rs, f, Ev(0, accepted), 0) == hr::Status::kQueueFull);
  while (hr_native::lanes_consume(q, rs, f, 100, check, no_extra) > 0) {
  }
  CHECK_EQ(check.got, accepted);
  CHECK(check.in_order);
  CHECK_EQ(f.overflow.bytes(), size_t{0});
  CHECK(!f.overflow.active());
  // Drained: the ring is used again.
  CHECK(hr_native::lanes_enqueue(q, rs, f, Ev(0, accepted), 0) == hr::Status::kOk);
}

TEST(drop_policy_never_spills) {
  BoundedQueue<Event> q(2);
  RingSet<Event> rs(2, 0);  // no rings: the shared queue and the overflow
  FullState<Event> f;
  f.overflow_cap.store(1 << 20);
  CHECK(hr_native::lanes_enqueue(q, rs, f, Ev(0, 0), 0) == hr::Status::kOk);
  CHECK(hr_native::lanes_enqueue(q, rs, f, Ev(0, 1), 0) == hr::Status::kOk);
  CHECK(hr_native::lanes_enqueue(q, rs, f, Ev(0, 2), 0) == hr::Status::kQueueFull);
  CHECK(!f.overflow.active());
}

TEST(grow_extra_bytes_count_against_the_cap) {
  BoundedQueue<Event> q(2);
  RingSet<Event> rs(2, 0);  // no rings: the shared queue and the overflow
  FullState<Event> f;
  f.when_full.store(static_cast<uint32_t>(WhenFull::kGrow));
  const size_t chunk = hr_native::Overflow<Event>::chunk_bytes();
  f.overflow_cap.store(chunk + 1000);
  CHECK(hr_native::lanes_enqueue(q, rs, f, Ev(0, 0), 600) == hr::Status::kOk);  // ring
  CHECK(hr_native::lanes_enqueue(q, rs, f, Ev(0, 1), 600) == hr::Status::kOk);  // ring
  CHECK(hr_native::lanes_enqueue(q, rs, f, Ev(0, 2), 600) == hr::Status::kOk);  // chunk + 600
  CHECK(hr_native::lanes_enqueue(q, rs, f, Ev(0, 3), 600) == hr::Status::kQueueFull);
  CHECK(hr_native::lanes_enqueue(q, rs, f, Ev(0, 3), 400) == hr::Status::kOk);
  CHECK_EQ(f.overflow.bytes(), chunk + 1000);
  Checker check(1);
  const auto extra = [](const Event& e) noexcept -> size_t { return e.payload == 2 ? 600 : 400; };
  CHECK_EQ(hr_native::lanes_consume(q, rs, f, 10, check, extra), size_t{4});
  CHECK(check.in_order);
  CHECK_EQ(f.overflow.bytes(), size_t{0});
}

// Producers racing the consumer with a tiny ring: pushes land in the ring and
// the overflow in turns; every event arrives, in each producer's order, and
// post_many-style runs (enqueue_many) keep order too.
TEST(grow_4_producers_race_consumer_in_order) {
  BoundedQueue<Event> q(8);
  RingSet<Event> rs(8, 0);  // no rings: the shared queue and the overflow
  FullState<Event> f;
  f.when_full.store(static_cast<uint32_t>(WhenFull::kGrow));
  f.overflow_cap.store(size_t{64} << 20);
  constexpr uint32_t kProducers = 4;
  constexpr uint64_t kPer = 20000;
  std::atomic<uint64_t> refused{0};
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < kProducers; ++t) {
    threads.emplace_back([&, t] {
      Event run[5];
      for (uint64_t i = 0; i < kPer;) {
        if (t % 2 == 0 || kPer - i < 5) {
          if (hr_native::lanes_enqueue(q, rs, f, Ev(t, i), 0) != hr::Status::kOk) refused.fetch_add(1);
          ++i;
        } else {
          for (uint64_t j = 0; j < 5; ++j) run[j] = Ev(t, i + j);
          if (hr_native::lanes_enqueue_many(q, rs, f, run, 5) != 5) refused.fetch_add(1);
          i += 5;
        }
      }
    });
  }
  Checker check(kProducers);
  while (check.got < kProducers * kPer && refused.load() == 0) {
    if (hr_native::lanes_consume(q, rs, f, 13, check, no_extra) == 0) std::this_thread::yield();
  }
  for (auto& th : threads) th.join();
  CHECK_EQ(refused.load(), uint64_t{0});
  CHECK_EQ(check.got, kProducers * kPer);
  CHECK(check.in_order);
}

int main(int argc, char** argv) { return hr_test::run_all(argc, argv); }
