// order_checker.h: the consumer's sink of the queue tests (test_back_pressure,
// test_rings). Producer p posts events of kind p with payloads 0, 1, 2, ...;
// the checker counts what arrives and whether each producer's events came in
// order, none missing between two that arrived. Ev() makes those events.
#ifndef HR_TEST_ORDER_CHECKER_H_
#define HR_TEST_ORDER_CHECKER_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "event_queue.h"

/// Event `seq` of producer `producer`: what Checker reads back.
inline hr_native::Event Ev(uint32_t producer, uint64_t seq) {
  return hr_native::Event{1 + producer, producer, 0, static_cast<double>(seq)};
}

/// The consume loops' extra(item) for numeric events: no extra bytes.
inline size_t no_extra(const hr_native::Event&) noexcept { return 0; }

struct Checker {
  std::vector<uint64_t> next;
  uint64_t got = 0;
  bool in_order = true;
  explicit Checker(size_t producers) : next(producers, 0) {}
  void operator()(const hr_native::Event& e, size_t) noexcept {
    const uint64_t seq = static_cast<uint64_t>(e.payload);
    if (e.kind >= next.size() || seq != next[e.kind]) in_order = false;
    if (e.kind < next.size()) next[e.kind] = seq + 1;
    ++got;
  }
};

#endif  // HR_TEST_ORDER_CHECKER_H_
