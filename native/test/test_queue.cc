// hr_native::BoundedQueue / hr_native::EventQueue: full policy, order, MPSC stress.

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "check.h"
#include "event_queue.h"
#include "handle_registry_diagnostics.h"  // make_handle

namespace {

hr_native::Event Ev(uint64_t seq, uint32_t producer = 0) {
  return hr_native::Event{hr::make_handle(1 + producer, 0, 0), producer,
                   static_cast<uint32_t>(seq), static_cast<double>(seq)};
}

}  // namespace

TEST(event_layout) {
  CHECK_EQ(sizeof(hr_native::Event), size_t{24});
  CHECK_EQ(offsetof(hr_native::Event, handle), size_t{0});
  CHECK_EQ(offsetof(hr_native::Event, kind), size_t{8});
  CHECK_EQ(offsetof(hr_native::Event, size), size_t{12});
  CHECK_EQ(offsetof(hr_native::Event, payload), size_t{16});
}

TEST(capacity_rounds_up_to_power_of_two) {
  CHECK_EQ(hr_native::EventQueue(0).capacity(), size_t{2});
  CHECK_EQ(hr_native::EventQueue(1).capacity(), size_t{2});
  CHECK_EQ(hr_native::EventQueue(2).capacity(), size_t{2});
  CHECK_EQ(hr_native::EventQueue(3).capacity(), size_t{4});
  CHECK_EQ(hr_native::EventQueue(1000).capacity(), size_t{1024});
  CHECK_EQ(hr_native::EventQueue(1024).capacity(), size_t{1024});
  CHECK_EQ(hr_native::BoundedQueue<int>(5).capacity(), size_t{8});
}

TEST(empty_queue) {
  hr_native::EventQueue q(8);
  hr_native::Event e{};
  CHECK(!q.try_pop(e));
  hr_native::Event out[4];
  CHECK_EQ(q.drain(out, 4), size_t{0});
  CHECK_EQ(q.approx_size(), size_t{0});
  CHECK_EQ(q.rejected(), uint64_t{0});
}

TEST(full_policy_nothing_lost_in_order) {
  hr_native::EventQueue q(8);
  for (uint64_t i = 0; i < 8; ++i) CHECK(q.try_push(Ev(i)) == hr::Status::kOk);
  CHECK_EQ(q.approx_size(), size_t{8});
  // Full: rejected, counted, not stored, repeatedly.
  for (int i = 0; i < 3; ++i) CHECK(q.try_push(Ev(100)) == hr::Status::kQueueFull);
  CHECK_EQ(q.rejected(), uint64_t{3});
  CHECK_EQ(q.approx_size(), size_t{8});
  hr_native::Event out[16];
  CHECK_EQ(q.drain(out, 16), size_t{8});
  for (uint32_t i = 0; i < 8; ++i) {
    CHECK_EQ(out[i].size, i);
    CHECK_EQ(out[i].payload, static_cast<double>(i));
    CHECK_EQ(out[i].handle, hr::make_handle(1, 0, 0));
  }
  CHECK_EQ(q.approx_size(), size_t{0});
  CHECK(q.try_push(Ev(8)) == hr::Status::kOk);  // room again
  hr_native::Event e{};
  CHECK(q.try_pop(e));
  CHECK_EQ(e.size, 8u);
}

TEST(partial_drains_and_wraparound) {
  // Many laps around a small ring with uneven push/drain sizes.
  hr_native::BoundedQueue<uint64_t> q(16);
  uint64_t next_push = 0, next_pop = 0;
  uint64_t out[16];
  for (int round = 0; round < 5000; ++round) {
    const int pushes = 1 + round % 17;  // sometimes more than fits
    for (int i = 0; i < pushes; ++i) {
      if (q.try_push(next_push) == hr::Status::kOk) {
        ++next_push;
      } else {
        CHECK_EQ(q.approx_size(), size_t{16});
        break;
      }
    }
    const size_t want = static_cast<size_t>(1 + round % 7);
    const size_t n = q.drain(out, want);
    CHECK(n <= want);
    for (size_t i = 0; i < n; ++i) {
      if (out[i] != next_pop) {
        hr_test::report_failure(__FILE__, __LINE__, "order broken");
        return;
      }
      ++next_pop;
    }
  }
  size_t n;
  while ((n = q.drain(out, 16)) != 0) {
    for (size_t i = 0; i < n; ++i) CHECK_EQ(out[i], next_pop++);
  }
  CHECK_EQ(next_pop, next_push);
  CHECK(next_push > 16 * 1000);  // many laps
}

// ---- concurrent -----------------------------------------------------------

namespace {

// P producers push kPerProducer events each (retrying on kQueueFull when
// `retry`); one consumer drains. Checks per-producer FIFO and counts.
void run_mpsc(int producers, uint32_t per_producer, size_t capacity, bool retry) {
  hr_native::EventQueue q(capacity);
  std::vector<uint64_t> accepted(static_cast<size_t>(producers), 0);
  std::atomic<int> done{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> ts;
  for (int p = 0; p < producers; ++p) {
    ts.emplace_back([&, p] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      uint64_t ok = 0;
      for (uint32_t i = 0; i < per_producer; ++i) {
        const hr_native::Event e{hr::make_handle(1 + static_cast<uint32_t>(p), i % 256, 0),
                          static_cast<uint32_t>(p), i, static_cast<double>(i)};
        if (retry) {
          while (q.try_push(e) != hr::Status::kOk) std::this_thread::yield();
          ++ok;
        } else if (q.try_push(e) == hr::Status::kOk) {
          ++ok;
        }
      }
      accepted[static_cast<size_t>(p)] = ok;
      done.fetch_add(1, std::memory_order_release);
    });
  }
  std::vector<int64_t> last(static_cast<size_t>(producers), -1);
  std::vector<uint64_t> received(static_cast<size_t>(producers), 0);
  uint64_t total = 0;
  int errors = 0;
  std::vector<hr_native::Event> buf(256);
  go.store(true, std::memory_order_release);
  for (;;) {
    const bool finished = done.load(std::memory_order_acquire) == producers;
    const size_t n = q.drain(buf.data(), buf.size());
    for (size_t i = 0; i < n; ++i) {
      const hr_native::Event& e = buf[i];
      if (e.kind >= static_cast<uint32_t>(producers)) { ++errors; continue; }
      const size_t p = e.kind;
      const int64_t seq = e.size;
      // FIFO per producer: strictly increasing; with retry also gap-free.
      if (seq <= last[p] || (retry && seq != last[p] + 1)) ++errors;
      if (e.payload != static_cast<double>(seq)) ++errors;
      if (e.handle != hr::make_handle(1 + static_cast<uint32_t>(p),
                                      static_cast<uint32_t>(seq) % 256, 0)) {
        ++errors;
      }
      last[p] = seq;
      ++received[p];
      ++total;
    }
    if (finished && n == 0) break;
    if (n == 0) std::this_thread::yield();
  }
  for (auto& t : ts) t.join();
  CHECK_EQ(errors, 0);
  uint64_t total_accepted = 0;
  for (int p = 0; p < producers; ++p) {
    CHECK_EQ(received[static_cast<size_t>(p)], accepted[static_cast<size_t>(p)]);
    total_accepted += accepted[static_cast<size_t>(p)];
  }
  CHECK_EQ(total, total_accepted);
  if (retry) {
    CHECK_EQ(total, uint64_t{per_producer} * static_cast<uint64_t>(producers));
  } else {
    // Every push was either accepted or rejected (and counted).
    CHECK_EQ(total + q.rejected(),
             uint64_t{per_producer} * static_cast<uint64_t>(producers));
  }
  CHECK_EQ(q.approx_size(), size_t{0});
}

}  // namespace

TEST(mpsc_2_producers_100k_fifo) { run_mpsc(2, 100000, 1024, true); }
TEST(mpsc_3_producers_100k_fifo) { run_mpsc(3, 100000, 256, true); }
TEST(mpsc_4_producers_100k_fifo) { run_mpsc(4, 100000, 4096, true); }
TEST(mpsc_4_producers_drop_when_full) { run_mpsc(4, 100000, 64, false); }

// try_push_many claims a run of cells with one CAS and stores the longest run
// that fits; consume() hands events straight from their cells. 3 producers mix
// single pushes and runs of 1..37; the consumer checks per-producer order.
static void run_push_many(size_t capacity) {
  hr_native::BoundedQueue<hr_native::Event> q(capacity);
  constexpr int kProducers = 3;
  constexpr uint64_t kPerProducer = 100000;
  std::vector<std::thread> producers;
  for (int t = 0; t < kProducers; ++t) {
    producers.emplace_back([&q, t] {
      uint64_t i = 0;
      hr_native::Event buf[37];
      while (i < kPerProducer) {
        const size_t want = 1 + (i * 7 + static_cast<uint64_t>(t)) % 37;
        size_t k = 0;
        for (; k < want && i + k < kPerProducer; ++k) {
          buf[k] = hr_native::Event{static_cast<uint64_t>(t), 0, 0, static_cast<double>(i + k)};
        }
        const size_t pushed = (i % 3 == 0) ? (q.try_push(buf[0]) == hr::Status::kOk ? 1 : 0)
                                           : q.try_push_many(buf, k);
        i += pushed;
        if (pushed == 0) std::this_thread::yield();
      }
    });
  }
  uint64_t next[kProducers] = {0, 0, 0};
  uint64_t got = 0;
  int out_of_order = 0;
  while (got < kProducers * kPerProducer) {
    const size_t n = q.consume(50, [&](const hr_native::Event& e, size_t) noexcept {
      if (e.payload != static_cast<double>(next[e.handle])) ++out_of_order;
      ++next[e.handle];
    });
    got += n;
    if (n == 0) std::this_thread::yield();
  }
  for (auto& p : producers) p.join();
  hr_native::Event e;
  CHECK_EQ(out_of_order, 0);
  CHECK(!q.try_pop(e));
  CHECK_EQ(q.approx_size(), size_t{0});
  for (int t = 0; t < kProducers; ++t) CHECK_EQ(next[t], kPerProducer);
}

// A sink returning bool: false leaves the item queued and ends the call.
TEST(consume_with_bool_sink_stops_and_keeps_the_item) {
  hr_native::EventQueue q(8);
  for (uint64_t i = 0; i < 6; ++i) CHECK(q.try_push(Ev(i)) == hr::Status::kOk);
  std::vector<uint64_t> got;
  size_t n = q.consume(10, [&](const hr_native::Event& e, size_t i) noexcept {
    if (e.payload == 3.0) return false;
    CHECK_EQ(i, got.size());
    got.push_back(static_cast<uint64_t>(e.payload));
    return true;
  });
  CHECK_EQ(n, size_t{3});
  CHECK_EQ(q.approx_size(), size_t{3});
  n = q.consume(10, [&](const hr_native::Event& e, size_t) noexcept {
    got.push_back(static_cast<uint64_t>(e.payload));
    return true;
  });
  CHECK_EQ(n, size_t{3});
  CHECK_EQ(got.size(), size_t{6});
  for (uint64_t i = 0; i < 6; ++i) CHECK_EQ(got[i], i);
  CHECK_EQ(q.consume(10, [](const hr_native::Event&, size_t) noexcept { return false; }), size_t{0});
}

TEST(mpsc_push_many_and_consume_keep_order_small_ring) { run_push_many(64); }
TEST(mpsc_push_many_and_consume_keep_order_large_ring) { run_push_many(1024); }

int main(int argc, char** argv) { return hr_test::run_all(argc, argv); }
