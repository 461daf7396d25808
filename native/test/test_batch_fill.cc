// test_batch_fill.cc: the batch-fill wait of the event path
// (native/src/batch_fill.h) with real producer threads: it returns once the
// batch is full while events keep arriving, soon after they stop, when its
// budget is spent, when the rate cannot fill the batch within the budget, and
// when another path has work; the budget goes down by the time it waited.
#include <atomic>
#include <chrono>
#include <thread>

#include "batch_fill.h"
#include "check.h"

namespace {

using clock_type = std::chrono::steady_clock;
using hr_native::FillTiming;
using hr_native::await_fill;

int64_t ns_since(clock_type::time_point t0) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now() - t0).count();
}

// Generous bound for "returned soon" (sanitizers, a loaded 2-core machine):
// a failure bound, never what the test waits for.
constexpr int64_t kSoonNs = 2'000'000'000;
const auto kNoOtherWork = []() noexcept { return false; };

}  // namespace

TEST(full_batch_returns_once_the_count_reaches_want) {
  std::atomic<size_t> count{1};
  std::atomic<bool> stop{false};
  // A producer that keeps adding (stall_ns is far above any pause it takes,
  // so only the count can end the wait).
  std::thread producer([&] {
    while (!stop.load(std::memory_order_relaxed) && count.load(std::memory_order_relaxed) < 1000) {
      count.fetch_add(1, std::memory_order_relaxed);
      std::this_thread::yield();
    }
  });
  FillTiming timing;
  timing.stall_ns = kSoonNs;
  int64_t budget = 4 * kSoonNs;
  const size_t got = await_fill([&] { return count.load(std::memory_order_relaxed); }, 500, &budget, kNoOtherWork, timing);
  stop.store(true);
  producer.join();
  CHECK(got >= 500);
  CHECK(budget > 0);
  CHECK(budget < 4 * kSoonNs);
}

TEST(already_full_or_no_budget_returns_at_once_and_keeps_the_budget) {
  int64_t budget = 1000;
  CHECK_EQ(await_fill([] { return size_t{7}; }, 7, &budget, kNoOtherWork), size_t{7});
  CHECK_EQ(budget, int64_t{1000});
  budget = 0;
  CHECK_EQ(await_fill([] { return size_t{3}; }, 7, &budget, kNoOtherWork), size_t{3});
  CHECK_EQ(budget, int64_t{0});
}

TEST(no_producer_returns_after_the_stall_time) {
  // A lone event: nothing else arrives, the wait ends after stall_ns.
  FillTiming timing;
  timing.stall_ns = 200'000;
  int64_t budget = 4 * kSoonNs;
  const auto t0 = clock_type::now();
  const size_t got = await_fill([] { return size_t{1}; }, 4096, &budget, kNoOtherWork, timing);
  const int64_t took = ns_since(t0);
  CHECK_EQ(got, size_t{1});
  CHECK(took >= timing.stall_ns);
  CHECK(took < kSoonNs);
  CHECK(budget <= 4 * kSoonNs - timing.stall_ns);
}

TEST(a_producer_that_stops_ends_the_wait_short) {
  std::atomic<size_t> count{1};
  std::thread producer([&] {
    for (int i = 0; i < 100; ++i) count.fetch_add(1, std::memory_order_relaxed);
  });
  producer.join();  // it added 100 and stopped: the batch never fills
  FillTiming timing;
  timing.stall_ns = 100'000;
  int64_t budget = 4 * kSoonNs;
  const auto t0 = clock_type::now();
  const size_t got = await_fill([&] { return count.load(std::memory_order_relaxed); }, 4096, &budget, kNoOtherWork, timing);
  CHECK_EQ(got, size_t{101});
  CHECK(ns_since(t0) < kSoonNs);
}

TEST(budget_ends_the_wait_when_nothing_arrives_and_no_stall_is_seen) {
  FillTiming timing;
  timing.stall_ns = kSoonNs;  // never a stall: only the budget can end it
  int64_t budget = 1'000'000;
  const auto t0 = clock_type::now();
  const size_t got = await_fill([] { return size_t{1}; }, 4096, &budget, kNoOtherWork, timing);
  const int64_t took = ns_since(t0);
  CHECK_EQ(got, size_t{1});
  CHECK(budget <= 0);
  CHECK(took >= 1'000'000);
  CHECK(took < kSoonNs);
}

TEST(a_rate_too_slow_to_fill_the_batch_within_the_budget_ends_the_wait_early) {
  // Events keep arriving (never a stall), but a batch of 2^60 cannot fill
  // within the budget at any rate: the first poll that sees growth ends it.
  std::atomic<size_t> count{1};
  std::atomic<bool> stop{false};
  std::thread producer([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      count.fetch_add(1, std::memory_order_relaxed);
      std::this_thread::yield();
    }
  });
  FillTiming timing;
  timing.stall_ns = kSoonNs;
  int64_t budget = kSoonNs;
  const size_t got =
      await_fill([&] { return count.load(std::memory_order_relaxed); }, size_t{1} << 60, &budget, kNoOtherWork, timing);
  stop.store(true);
  producer.join();
  CHECK(got >= 1);
  CHECK(budget > 0);  // returned before the budget was spent
}

TEST(another_path_with_work_ends_the_wait) {
  FillTiming timing;
  timing.stall_ns = kSoonNs;
  int64_t budget = kSoonNs;
  std::atomic<bool> other{false};
  std::thread signaller([&] { other.store(true); });
  const size_t got = await_fill([] { return size_t{1}; }, 4096, &budget,
                                [&]() noexcept { return other.load(); }, timing);
  signaller.join();
  CHECK_EQ(got, size_t{1});
  CHECK(budget > 0);
}

int main() { return hr_test::run_all(); }
