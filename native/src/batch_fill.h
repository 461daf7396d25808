// batch_fill.h: how long a wake-up lets a short batch fill before it is
// delivered (issue 11, item 3). Header-only and Node-free so that
// native/test/test_batch_fill.cc runs it with real threads under the
// sanitizers; event_path.cc uses it.
//
// Why: a JS consumer faster than its producer drains the lanes, delivers a
// short batch and goes idle; the producer's next post then pays a wake-up
// (an eventfd write, an epoll return, a loop turn) and the consumer a
// boundary crossing for a few hundred events. Measured (docs/benchmark-log.md):
// 245 full batches per 1M events became 733-2,208 short ones, and the live
// total got worse although the consumer alone was faster. So after a short
// drain, while events keep arriving, the JS thread waits for more (as calls
// do after a reply, calls.cc), and delivers once the batch is full, once no
// event came for `stall_ns` (the producer paused or ended: a lone event pays
// only that), or once its budget is spent (the event loop must turn).
#ifndef HANDLE_REGISTRY_NATIVE_BATCH_FILL_H_
#define HANDLE_REGISTRY_NATIVE_BATCH_FILL_H_

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "handle_registry.h"  // hr::detail::cpu_relax

namespace hr_native {

struct FillTiming {
  // No new event for this long: the producers paused, deliver what is there.
  int64_t stall_ns = 2000;
  // Polls at least this far apart: each poll reads the producers' tail lines,
  // which their next store then has to take back.
  int64_t min_poll_ns = 250;
};

/// JS thread, after a drain that left its batch short by `want` events: waits
/// while `queued()` (events in the lanes now) keeps growing, until it reaches
/// `want`, it did not grow for timing.stall_ns, `*budget_ns` (the fill time
/// left, decreased by the time spent here) runs out, the rate seen so far
/// cannot fill the batch within the budget (waiting would still deliver it
/// short), or `other_work()` says another path of this thread has events
/// waiting (its wake-up should not wait behind this one). Returns the last
/// count seen. Touches nothing but the two callbacks and the clock.
template <class Queued, class OtherWork>
size_t await_fill(Queued&& queued, size_t want, int64_t* budget_ns, OtherWork&& other_work,
                  const FillTiming& timing = {}) noexcept {
  using clock = std::chrono::steady_clock;
  const auto ns_since = [](clock::time_point a, clock::time_point b) noexcept {
    return static_cast<int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
  };
  size_t seen = queued();
  if (seen >= want || *budget_ns <= 0) return seen;
  const auto start = clock::now();
  auto grew = start;         // when the count last grew
  size_t base = seen;        // the count at `start`, for the rate
  int64_t next_poll = timing.min_poll_ns;  // ns after start
  for (;;) {
    auto now = clock::now();
    while (ns_since(start, now) < next_poll) {
      hr::detail::cpu_relax();
      now = clock::now();
    }
    const int64_t elapsed = ns_since(start, now);
    const size_t q = queued();
    if (q > seen) {
      seen = q;
      grew = now;
    }
    bool done = seen >= want || ns_since(grew, now) >= timing.stall_ns || elapsed >= *budget_ns || other_work();
    // Next poll: when the batch should be full at the rate seen so far, but
    // soon enough to notice a stall, and never before min_poll_ns.
    int64_t wait = timing.stall_ns / 2;
    if (!done && seen > base) {
      const double per_event = static_cast<double>(elapsed) / static_cast<double>(seen - base);
      const double to_full = per_event * static_cast<double>(want - seen);
      if (to_full > static_cast<double>(*budget_ns - elapsed)) done = true;  // too slow to fill in time
      if (to_full < static_cast<double>(wait)) wait = static_cast<int64_t>(to_full);
    }
    if (done) {
      *budget_ns -= elapsed;
      return seen;
    }
    if (wait < timing.min_poll_ns) wait = timing.min_poll_ns;
    next_poll = elapsed + wait;
  }
}

}  // namespace hr_native

#endif  // HANDLE_REGISTRY_NATIVE_BATCH_FILL_H_
