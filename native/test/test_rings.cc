// producer_rings.h: per-producer rings beside the shared queue, with real
// threads. Exact counts, each producer's order (post and post_many runs, the
// 'block' wait, the 'grow' overflow, posts while a thread exits), the ring
// cap, rings handed on after their thread exited, the wait on the shared
// queue's position, and the wake-up protocol (the consumer sleeps when idle:
// a lost wake-up hangs the run and fails it at the bound). Run under ASan and
// TSan, with membarrier and with HANDLE_REGISTRY_NO_MEMBARRIER=1 (run.sh).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "check.h"
#include "order_checker.h"
#include "producer_rings.h"

namespace {

using hr_native::BoundedQueue;
using hr_native::Event;
using hr_native::FullState;
using hr_native::RingSet;
using hr_native::Room;
using hr_native::SpscRing;
using hr_native::WhenFull;
using hr::Status;
using Clock = std::chrono::steady_clock;

// Failure bound of every wait below (never reached when the code is right).
constexpr auto kBound = std::chrono::seconds(60);

// One path's lanes and its wake-up flag, as event_path.h holds them.
struct Lanes {
  BoundedQueue<Event> q;
  RingSet<Event> rs;
  FullState<Event> f;
  std::atomic<bool> scheduled{false};
  Lanes(size_t capacity, uint32_t max_rings) : q(capacity), rs(capacity, max_rings) {}
};

// The consumer's wake-up: producers that find no wake-up pending signal it.
struct Signal {
  std::mutex m;
  std::condition_variable cv;
  uint64_t count = 0;
  void post() {
    {
      std::lock_guard<std::mutex> lock(m);
      ++count;
    }
    cv.notify_one();
  }
  // False if nothing came within the bound (a lost wake-up).
  bool wait() {
    std::unique_lock<std::mutex> lock(m);
    if (!cv.wait_for(lock, kBound, [this] { return count > 0; })) return false;
    --count;
    return true;
  }
};

// Producer side of a post, as post.cc does it: push, then wake.
Status post(Lanes& l, Signal& sig, const Event& e) {
  const Status st = hr_native::lanes_enqueue(l.q, l.rs, l.f, e, 0);
  if (st == Status::kOk && hr_native::needs_signal(l.scheduled)) sig.post();
  return st;
}
size_t post_many(Lanes& l, Signal& sig, const Event* e, size_t n) {
  const size_t m = hr_native::lanes_enqueue_many(l.q, l.rs, l.f, e, n);
  if (m > 0 && hr_native::needs_signal(l.scheduled)) sig.post();
  return m;
}


// The consumer as on_async runs it: drain in batches; when a batch comes back
// empty go idle (lanes_try_idle) and sleep until a producer signals. Returns
// false on a lost wake-up.
bool consume_until(Lanes& l, Signal& sig, Checker& check, uint64_t total, size_t batch = 97) {
  while (check.got < total) {
    if (hr_native::lanes_consume(l.q, l.rs, l.f, batch, check, no_extra) > 0) continue;
    if (hr_native::lanes_try_idle(l.scheduled, l.q, l.rs, l.f) && !sig.wait()) return false;
  }
  return true;
}

// Producers each post `per` events, as single posts and post_many runs of
// 1..37, retrying on a full queue; one consumer. Exact count, each order.
void run_producers(uint32_t producers, uint64_t per, size_t capacity, uint32_t max_rings,
                   uint32_t expect_rings) {
  Lanes l(capacity, max_rings);
  Signal sig;
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < producers; ++t) {
    threads.emplace_back([&, t] {
      uint64_t i = 0;
      uint32_t run = 1 + t;
      Event buf[37];
      while (i < per) {
        if ((i + t) % 3 == 0) {
          if (post(l, sig, Ev(t, i)) == Status::kOk) {
            ++i;
          } else {
            std::this_thread::yield();
          }
          continue;
        }
        run = run % 37 + 1;
        const size_t n = per - i < run ? static_cast<size_t>(per - i) : run;
        for (size_t j = 0; j < n; ++j) buf[j] = Ev(t, i + j);
        const size_t m = post_many(l, sig, buf, n);
        i += m;
        if (m < n) std::this_thread::yield();
      }
    });
  }
  Checker check(producers);
  const bool woke = consume_until(l, sig, check, producers * per);
  for (auto& th : threads) th.join();
  CHECK(woke);
  CHECK_EQ(check.got, producers * per);
  CHECK(check.in_order);
  CHECK_EQ(hr_native::lanes_queued(l.q, l.rs, l.f), size_t{0});
  CHECK_EQ(l.rs.count(), expect_rings);
}

// Waits for `pred` (bounded); false if the bound passed.
template <class P>
bool await(P pred) {
  const auto end = Clock::now() + kBound;
  while (!pred()) {
    if (Clock::now() > end) return false;
    std::this_thread::yield();
  }
  return true;
}

}  // namespace

TEST(two_producers_rings_exact_and_in_order) { run_producers(2, 200000, 1024, 8, 2); }
TEST(four_producers_rings_exact_and_in_order) { run_producers(4, 100000, 256, 8, 4); }
// Beyond the cap: two threads get rings, the others keep the shared queue.
TEST(four_producers_two_rings_rest_shared) { run_producers(4, 100000, 256, 2, 2); }
// No rings at all: the shared queue alone, as before.
TEST(three_producers_no_rings) { run_producers(3, 50000, 64, 0, 0); }

// Ping-pong: one event at a time, the next posted as soon as the consumer took
// the last, so every event races the consumer going idle (a lost wake-up
// stops the run at the bound). On x86 the window that the membarrier closes
// (a ring's tail store still in its CPU's store buffer while the producer
// reads `scheduled`) is a few nanoseconds: with the membarrier removed this
// test still passed 3 runs of 300,000 events here, so it guards the protocol
// as a whole; test_idle_barrier.cc is the test that guards that one fence.
TEST(every_event_races_the_consumer_going_idle) {
  Lanes l(64, 8);
  Signal sig;
  constexpr uint64_t kEvents = 100000;
  std::atomic<uint64_t> taken{0};
  std::atomic<bool> lost{false};
  std::thread producer([&] {
    for (uint64_t i = 0; i < kEvents && !lost.load(); ++i) {
      while (post(l, sig, Ev(0, i)) != Status::kOk) std::this_thread::yield();
      for (uint32_t spins = 0; taken.load(std::memory_order_acquire) <= i && !lost.load(); ++spins) {
        if (spins > 64) std::this_thread::yield();
      }
    }
  });
  Checker check(1);
  bool woke = true;
  while (woke && check.got < kEvents) {
    if (hr_native::lanes_consume(l.q, l.rs, l.f, 8, check, no_extra) > 0) {
      taken.store(check.got, std::memory_order_release);
      continue;
    }
    if (hr_native::lanes_try_idle(l.scheduled, l.q, l.rs, l.f)) woke = sig.wait();
  }
  if (!woke) lost.store(true);
  producer.join();
  CHECK(woke);
  CHECK_EQ(check.got, kEvents);
  CHECK(check.in_order);
  CHECK_EQ(l.rs.count(), uint32_t{1});
}

// A ring claimed while the thread's earlier events sit in the shared queue
// gives nothing until the shared queue was consumed up to the claim.
TEST(ring_waits_for_the_shared_queue_position) {
  BoundedQueue<Event> q(16);
  RingSet<Event> rs(16);
  for (uint64_t i = 0; i < 3; ++i) CHECK(q.try_push(Ev(0, i)) == Status::kOk);
  const auto* tag = hr_native::rings::thread_tag();
  SpscRing<Event>* r = rs.claim(tag, hr_native::rings::thread_id(), q.enqueue_position(), &q, 0, 0);
  CHECK(r != nullptr);
  if (r == nullptr) return;
  CHECK(r->try_push(Ev(0, 3)));
  Checker check(1);
  bool stopped = false;
  // The shared queue not consumed yet: the ring gives nothing.
  CHECK_EQ(rs.consume(8, 0, q.dequeue_position(), check, &stopped), size_t{0});
  CHECK_EQ(q.consume(8, check), size_t{3});
  CHECK_EQ(rs.consume(8, 3, q.dequeue_position(), check, &stopped), size_t{1});
  CHECK_EQ(check.got, uint64_t{4});
  CHECK(check.in_order);
}

// Threads that run one after the other: each gets the ring the previous one
// left (empty, its thread gone): one ring serves twelve threads.
TEST(rings_of_exited_threads_are_handed_on) {
  Lanes l(128, 2);
  Signal sig;
  constexpr uint32_t kThreads = 12;
  constexpr uint64_t kPer = 1000;
  Checker check(kThreads);
  std::atomic<uint32_t> with_ring{0};
  for (uint32_t t = 0; t < kThreads; ++t) {
    std::thread th([&, t] {
      for (uint64_t i = 0; i < kPer;) {
        if (post(l, sig, Ev(t, i)) == Status::kOk) {
          ++i;
        } else {
          std::this_thread::yield();
        }
      }
      if (l.rs.find(hr_native::rings::thread_id()) != nullptr) with_ring.fetch_add(1);
    });
    CHECK(consume_until(l, sig, check, (t + 1) * kPer));
    th.join();
  }
  CHECK_EQ(check.got, kThreads * kPer);
  CHECK(check.in_order);
  CHECK_EQ(with_ring.load(), kThreads);
  CHECK_EQ(l.rs.count(), uint32_t{1});
}

// Posts made while the thread exits (a thread_local destructor that runs after
// the library's exit hook) stay behind the thread's earlier events, while
// other threads wait to take its ring over.
namespace {
Lanes* g_exit_lanes = nullptr;
Signal* g_exit_signal = nullptr;
struct PostsAtExit {
  uint32_t producer = 0;
  uint64_t from = 0, count = 0;
  ~PostsAtExit() {
    for (uint64_t i = from; i < from + count;) {
      if (post(*g_exit_lanes, *g_exit_signal, Ev(producer, i)) == Status::kOk) {
        ++i;
      } else {
        std::this_thread::yield();
      }
    }
  }
};
thread_local PostsAtExit t_posts_at_exit;
}  // namespace

TEST(posts_while_the_thread_exits_keep_their_order) {
  Lanes l(64, 1);
  Signal sig;
  g_exit_lanes = &l;
  g_exit_signal = &sig;
  constexpr uint64_t kLive = 5000, kAtExit = 3000, kPerChurn = 100;  // > kSharedPostsPerClaim
  constexpr uint32_t kMaxChurn = 4000;
  std::atomic<bool> stop{false};
  std::atomic<bool> churn_done{false};
  std::atomic<uint32_t> churned{0};
  const auto post_all = [&](uint32_t producer, uint64_t from, uint64_t to) {
    for (uint64_t i = from; i < to;) {
      if (post(l, sig, Ev(producer, i)) == Status::kOk) {
        ++i;
      } else {
        std::this_thread::yield();
      }
    }
  };
  std::thread exiting([&] {
    t_posts_at_exit.producer = 0;  // constructed first: destroyed after the library's hook
    post_all(0, 0, kLive);
    t_posts_at_exit.from = kLive;
    t_posts_at_exit.count = kAtExit;
  });
  // Short-lived threads, one after the other, each a producer of its own:
  // each posts through the shared queue, then tries to take the one ring
  // (possible once the exiting thread's ring is empty), and posts the rest
  // of its events there, behind its shared ones.
  std::thread churn([&] {
    for (uint32_t k = 1; k <= kMaxChurn && !stop.load(); ++k) {
      std::thread([&, k] { post_all(k, 0, kPerChurn); }).join();
      churned.store(k);
    }
    churn_done.store(true);
  });
  Checker check(kMaxChurn + 1);
  const auto first_done = [&] { return check.next[0] == kLive + kAtExit; };
  bool woke = true;
  while (woke && !first_done()) {
    if (hr_native::lanes_consume(l.q, l.rs, l.f, 97, check, no_extra) > 0) continue;
    if (hr_native::lanes_try_idle(l.scheduled, l.q, l.rs, l.f)) woke = sig.wait();
  }
  CHECK(woke);
  stop.store(true);
  exiting.join();
  // The last churn thread may need room for its events (one thread has at
  // most `capacity` queued): keep consuming until it is done.
  while (!churn_done.load()) {
    if (hr_native::lanes_consume(l.q, l.rs, l.f, 97, check, no_extra) == 0) std::this_thread::yield();
  }
  churn.join();
  CHECK(consume_until(l, sig, check, kLive + kAtExit + churned.load() * kPerChurn));
  CHECK_EQ(check.got, kLive + kAtExit + churned.load() * kPerChurn);
  CHECK_EQ(check.next[0], kLive + kAtExit);
  CHECK(check.in_order);
  CHECK_EQ(l.rs.count(), uint32_t{1});
}

// 'block': producers with rings wait in the Room for room in their own ring.
namespace {
bool push_waiting(Lanes& l, Signal& sig, const Event& e) {
  const auto deadline = Clock::now() + kBound;
  for (;;) {
    if (post(l, sig, e) == Status::kOk) return true;
    const uint64_t seen = l.f.room->enter();
    if (post(l, sig, e) == Status::kOk) {
      l.f.room->leave();
      return true;
    }
    const Room::Woke w = l.f.room->wait(seen, false, deadline);
    l.f.room->leave();
    if (w != Room::Woke::kRoom) return false;
  }
}
}  // namespace

TEST(block_with_rings_nothing_lost_in_order) {
  Lanes l(8, 8);
  l.f.when_full.store(static_cast<uint32_t>(WhenFull::kBlock));
  Signal sig;
  constexpr uint32_t kProducers = 3;
  constexpr uint64_t kPer = 20000;
  std::atomic<uint64_t> failed{0};
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < kProducers; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0; i < kPer; ++i) {
        if (!push_waiting(l, sig, Ev(t, i))) failed.fetch_add(1);
      }
    });
  }
  Checker check(kProducers);
  CHECK(consume_until(l, sig, check, kProducers * kPer, 5));
  for (auto& th : threads) th.join();
  CHECK_EQ(failed.load(), uint64_t{0});
  CHECK_EQ(check.got, kProducers * kPer);
  CHECK(check.in_order);
  CHECK_EQ(l.rs.count(), kProducers);
  CHECK_EQ(l.f.room->waiters(), uint32_t{0});
}

// 'grow' after the rings were claimed: a thread whose ring is full spills into
// the overflow, and keeps spilling while it holds anything; the overflow's cap
// leaves out what the rings take.
TEST(grow_with_rings_in_order_within_the_cap) {
  Lanes l(16, 8);
  Signal sig;
  constexpr uint32_t kProducers = 3;
  constexpr uint64_t kWarm = 2 * hr_native::rings::kSharedPostsPerClaim, kPer = 30000;
  std::vector<std::thread> threads;
  std::atomic<uint32_t> ready{0};
  std::atomic<bool> go{false};
  std::atomic<size_t> most_bytes{0};
  const auto post_retrying = [&](uint32_t t, uint64_t i) {
    while (post(l, sig, Ev(t, i)) != Status::kOk) std::this_thread::yield();
  };
  for (uint32_t t = 0; t < kProducers; ++t) {
    threads.emplace_back([&, t] {
      // Under 'drop', long enough to get a ring.
      for (uint64_t i = 0; i < kWarm; ++i) post_retrying(t, i);
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      for (uint64_t i = kWarm; i < kPer; ++i) {
        post_retrying(t, i);
        const size_t b = l.f.overflow.bytes();
        size_t m = most_bytes.load();
        while (b > m && !most_bytes.compare_exchange_weak(m, b)) {
        }
      }
    });
  }
  Checker check(kProducers);
  size_t cap = 0;
  bool woke = true;
  while (woke && check.got < kProducers * kPer) {
    if (!go.load() && ready.load() == kProducers) {
      // Then 'grow', with room for two overflow chunks beyond the rings.
      cap = l.rs.bytes() + 2 * decltype(l.f.overflow)::chunk_bytes();
      l.f.overflow_cap.store(cap);
      l.f.when_full.store(static_cast<uint32_t>(WhenFull::kGrow));
      go.store(true);
    }
    // A slow consumer (batches of 3), so the rings fill and spill.
    if (hr_native::lanes_consume(l.q, l.rs, l.f, 3, check, no_extra) > 0) continue;
    if (!go.load()) {
      std::this_thread::yield();  // the producers wait for `go`: nobody would signal
    } else if (hr_native::lanes_try_idle(l.scheduled, l.q, l.rs, l.f)) {
      woke = sig.wait();
    }
  }
  for (auto& th : threads) th.join();
  CHECK(woke);
  CHECK_EQ(check.got, kProducers * kPer);
  CHECK(check.in_order);
  CHECK_EQ(l.rs.count(), kProducers);
  CHECK(most_bytes.load() <= cap - l.rs.bytes());
  CHECK(most_bytes.load() > 0);  // the overflow was used
}

// Threads that post a few events each and hand on to the next (a C library's
// callback threads) keep the shared queue: delivered in happens-before order.
// The queue holds all 600 events: every post attempt counts toward a ring
// claim (ring_of), so a thread retrying on a full queue under load would
// reach kSharedPostsPerClaim attempts and take a ring (seen in CI-like runs).
TEST(short_lived_threads_keep_the_shared_queue_and_its_order) {
  Lanes l(1024, 8);
  Signal sig;
  constexpr uint64_t kThreads = 200, kEach = 3;
  Checker check(1);  // one sequence across all threads: each starts after the last ended
  std::thread chain([&] {
    for (uint64_t t = 0; t < kThreads; ++t) {
      std::thread([&, t] {
        for (uint64_t i = 0; i < kEach;) {
          if (post(l, sig, Ev(0, t * kEach + i)) == Status::kOk) {
            ++i;
          } else {
            std::this_thread::yield();
          }
        }
      }).join();
    }
  });
  CHECK(consume_until(l, sig, check, kThreads * kEach, 2));
  chain.join();
  CHECK_EQ(check.got, kThreads * kEach);
  CHECK(check.in_order);
  CHECK_EQ(l.rs.count(), uint32_t{0});
}

// Teardown as close_event_path does it: producers stopped (there, the guard
// waits them out), then everything still queued is taken and counted; the
// rings go with the set (ASan: nothing leaked, nothing read after free).
TEST(close_counts_every_queued_event) {
  uint64_t posted = 0, delivered = 0, dropped = 0;
  {
    Lanes l(512, 2);
    Signal sig;
    std::atomic<uint64_t> ok{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (uint32_t t = 0; t < 3; ++t) {
      threads.emplace_back([&, t] {
        uint64_t i = 0;
        // At least enough to get a ring, however late the thread starts.
        while (!stop.load() || i < 2 * hr_native::rings::kSharedPostsPerClaim) {
          if (post(l, sig, Ev(t, i)) == Status::kOk) {
            ++i;
          } else {
            std::this_thread::yield();
          }
        }
        ok.fetch_add(i);
      });
    }
    Checker check(3);
    CHECK(consume_until(l, sig, check, 20000));
    stop.store(true);
    for (auto& th : threads) th.join();  // a late starter's 128 events fit its lanes (512 each)
    delivered = check.got;
    posted = ok.load();
    const auto discard = [&dropped](const Event&, size_t) noexcept { ++dropped; };
    while (hr_native::lanes_consume(l.q, l.rs, l.f, 64, discard, no_extra) > 0) {
    }
    CHECK_EQ(l.rs.count(), uint32_t{2});
  }
  CHECK_EQ(delivered + dropped, posted);
}

int main(int argc, char** argv) { return hr_test::run_all(argc, argv); }
