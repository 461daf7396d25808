// The consumer's membarrier when it goes idle (lanes_try_idle in
// native/src/producer_rings.h): the one fence that orders a ring producer's
// release store of its tail before its load of `scheduled`. Without it x86
// may let the producer read `scheduled` (still true) while its tail store
// waits in its store buffer; the consumer then clears `scheduled`, re-checks,
// sees an empty ring and goes idle, and nobody signals: the event waits for
// the next post (a lost wake-up). That is the store-buffering litmus test,
// which x86's TSO allows: so this test runs the two sides of the protocol
// (lanes_enqueue + needs_signal against lanes_try_idle) against each other,
// round after round, each round started at the same moment on two threads,
// and counts the rounds where the consumer went idle and the producer did
// not signal. With the membarrier there are none (either the tail store came
// before the barrier, seen by the re-check, or the producer's load came after
// it, and reads false). Without it (the call commented out), here: 51 to
// 2,516 lost wake-ups in each of 8 runs of the ASan build (16 of 16 runs in
// all), 232 to 448 in each of 5 at -O2.
//
// A race, so not deterministic: it needs the two threads running at once on
// two CPUs (a context switch drains the store buffer), and even then the
// steps must meet within a few hundred nanoseconds. The test counts the
// rounds in which both threads ran at once and runs until it has had
// kRacedRounds of them (or kBudget: the output says how many it had); it
// steers the consumer's step to meet the producer's (kLeadStep) and has the
// producer store to lines the consumer holds before it posts (kDirtyLines).
// Pinning the threads to the two CPUs was tried: on a loaded machine it gave
// fewer losses and ran several times slower. TSan instruments every atomic
// access with fenced bookkeeping of its own, so no store waits in a store
// buffer there: under TSan this binary checks the protocol's happens-before
// only, in fewer rounds. With HANDLE_REGISTRY_NO_MEMBARRIER=1 rings publish
// with a seq_cst store, and the same rounds check that path (with that store
// made a release store, 62 to 146 lost wake-ups in each of 3 runs).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <thread>

#include "check.h"
#include "order_checker.h"
#include "producer_rings.h"

#if defined(__SANITIZE_THREAD__)
#define HR_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define HR_TEST_TSAN 1
#endif
#endif

namespace {

using hr_native::BoundedQueue;
using hr_native::Event;
using hr_native::FullState;
using hr_native::RingSet;
using hr::Status;
namespace inf = hr_native::inflight;

// Rounds in which both threads ran at once (the producer saw `go` within
// kPromptNs of its store): the race can only happen in those, and only those
// steer the consumer's lead. The test runs until it has had kRacedRounds of
// them, or for kBudget. A loaded machine may give few (the output says how
// many). With the membarrier the producer, interrupted by it, sees `go`
// 4-8 us late in most rounds here, so those runs take the whole budget.
#ifdef HR_TEST_TSAN
constexpr uint64_t kRacedRounds = 2000;
constexpr auto kBudget = std::chrono::seconds(4);
#else
constexpr uint64_t kRacedRounds = 50000;
constexpr auto kBudget = std::chrono::seconds(12);
#endif
constexpr int64_t kPromptNs = 2000;
// Lines the producer writes before each post, which the consumer read just
// before (as a producer does that filled its own data first): its tail store
// then waits behind their invalidations. Measured with fixed delays and the
// call removed, the ASan build: without them, nothing caught in one run of
// five; with 8, over 1,000 lost wake-ups in each of five.
constexpr size_t kDirtyLines = 8;
// A round not finished after kStuck fails (a peer that stopped).
constexpr auto kStuck = std::chrono::seconds(30);

struct alignas(64) Line {
  std::atomic<uint64_t> v{0};
};

struct Litmus {
  // One path's lanes and its wake-up flag, as event_path.h holds them.
  BoundedQueue<Event> q{64};
  RingSet<Event> rs{64};
  FullState<Event> f;
  std::atomic<bool> scheduled{true};
  Line dirty[kDirtyLines];
  alignas(64) std::atomic<uint64_t> go{0};  // consumer: start round n
  std::atomic<int64_t> go_ns{0};             // when (steady clock), stored before `go`
  // producer: round n done: n << 2 | 2 if it saw `go` promptly | 1 if it
  // signalled; ~0 if it could not post
  alignas(64) std::atomic<uint64_t> done{0};
  alignas(64) std::atomic<bool> stop{false};
};

inline uint64_t next_random(uint64_t& s) noexcept {  // xorshift64
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

// When each side takes its step: a lost wake-up needs the producer's load of
// `scheduled` before the consumer clears it, and its tail store still
// invisible at the consumer's re-check, so the two steps must meet within a
// few hundred nanoseconds. How long the producer takes to see `go` varies
// with the machine and its load, so the consumer delays its step by `lead`,
// steered each round both threads ran at once: longer when the producer came
// after the re-check (the consumer went idle and the producer signalled),
// shorter when it came before the clear (the consumer found the event and the
// producer found a wake-up pending); a random jitter on both sides covers the
// neighbourhood. Measured with the call removed: fixed delays (0..255 on
// both sides, or 0..1023 for the consumer) caught nothing in some runs of
// 200,000 rounds on a loaded machine; the steered lead caught some in every
// run that had its raced rounds (over 30 runs here).
constexpr uint64_t kConsumerJitter = 127;
constexpr uint64_t kProducerJitter = 255;
constexpr uint64_t kLeadStep = 4;
constexpr uint64_t kMaxLead = 8192;
inline void delay(uint64_t n) noexcept {
  for (; n > 0; --n) __asm__ volatile("" ::: "memory");
}

inline int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Spins until `cell` holds `want` (acquire); false if the test was stopped.
// Yields soon: the two threads may share a CPU for a while (a loaded machine).
inline bool await_value(const std::atomic<uint64_t>& cell, uint64_t want, const std::atomic<bool>& stop) noexcept {
  for (uint32_t spins = 0; cell.load(std::memory_order_acquire) != want; ++spins) {
    if (spins > 4096) {
      if (stop.load(std::memory_order_relaxed)) return false;
      std::this_thread::yield();
    }
  }
  return true;
}

// The producer's side: claim a ring, then per round: dirty lines, jitter, post
// (lanes_enqueue: the thread's ring, a release store of its tail), and the
// wake-up check post() makes after it (needs_signal).
void produce(Litmus& t) {
  t.rs.claim(hr_native::rings::thread_tag(), hr_native::rings::thread_id(), t.q.enqueue_position(), &t.q, 0, 0);
  uint64_t seed = 0x9e3779b97f4a7c15ull;
  for (uint64_t round = 1;; ++round) {
    if (!await_value(t.go, round, t.stop)) return;
    const bool prompt = now_ns() - t.go_ns.load(std::memory_order_relaxed) < kPromptNs;
    for (Line& l : t.dirty) l.v.store(round, std::memory_order_relaxed);
    delay(next_random(seed) & kProducerJitter);
    if (hr_native::lanes_enqueue(t.q, t.rs, t.f, Ev(0, round - 1), 0) != Status::kOk) {
      t.done.store(~uint64_t{0}, std::memory_order_release);
      return;
    }
    const bool signalled = hr_native::needs_signal(t.scheduled);
    t.done.store(round << 2 | (prompt ? 2 : 0) | (signalled ? 1 : 0), std::memory_order_release);
  }
}

}  // namespace

TEST(idle_consumer_never_misses_a_ring_push) {
  const bool asymmetric = inf::mode() == inf::kAsymmetric;
  std::printf("  inflight mode: %s\n", asymmetric ? "membarrier markers (rings publish with a release store)"
                                                  : "counters only (rings publish with a seq_cst store)");
  Litmus t;
  std::thread producer(produce, std::ref(t));
  Checker check(1);
  uint64_t seed = 0xd1b54a32d192ed03ull;
  uint64_t lost = 0;
  uint64_t first_lost = 0;
  uint64_t went_idle = 0;
  uint64_t rounds = 0;
  uint64_t raced = 0;
  uint64_t lead = 0;  // the consumer's delay before its step (see kLeadStep)
  const auto end = std::chrono::steady_clock::now() + kBudget;
  bool stuck = false;
  for (uint64_t round = 1; raced < kRacedRounds; ++round) {
    if ((round & 255) == 0 && std::chrono::steady_clock::now() > end) break;
    // A wake-up is running (`scheduled` true) and the lanes are empty, as
    // when on_async has drained the last batch; the dirty lines are shared
    // with this core, so the producer's stores to them wait for this core.
    t.scheduled.store(true, std::memory_order_seq_cst);
    uint64_t sum = 0;
    for (const Line& l : t.dirty) sum += l.v.load(std::memory_order_relaxed);
    if (sum == ~uint64_t{0}) std::printf("unreachable\n");  // keeps the loads
    t.go_ns.store(now_ns(), std::memory_order_relaxed);
    t.go.store(round, std::memory_order_release);
    delay(lead + (next_random(seed) & kConsumerJitter));
    const bool idle = hr_native::lanes_try_idle(t.scheduled, t.q, t.rs, t.f);
    if (idle) ++went_idle;
    uint64_t d = 0;
    const auto since = std::chrono::steady_clock::now();
    for (uint32_t spins = 0; ((d = t.done.load(std::memory_order_acquire)) >> 2) != round; ++spins) {
      if (d == ~uint64_t{0}) break;
      if (spins > 4096) {
        std::this_thread::yield();
        if ((spins & 1023) == 0 && std::chrono::steady_clock::now() - since > kStuck) {
          stuck = true;
          break;
        }
      }
    }
    CHECK(d != ~uint64_t{0});  // the ring had room
    if (d == ~uint64_t{0} || stuck) break;
    if ((d & 2) != 0) {  // both threads ran: steer the consumer's lead
      ++raced;
      if (idle && (d & 1) != 0 && lead < kMaxLead) {
        lead += kLeadStep;
      } else if (!idle && (d & 1) == 0 && lead >= kLeadStep) {
        lead -= kLeadStep;
      }
    }
    if (idle && (d & 1) == 0) {  // nobody will signal: the event would wait for the next post
      if (lost++ == 0) first_lost = round;
    }
    // The event is in the producer's ring (its done store came after it).
    const size_t got = hr_native::lanes_consume(t.q, t.rs, t.f, 8, check, no_extra);
    CHECK_EQ(got, size_t{1});
    if (got != 1) break;
    rounds = round;
  }
  t.stop.store(true);
  producer.join();
  std::printf("  %llu rounds, %llu with both threads running, the consumer went idle in %llu, lead %llu, "
              "lost wake-ups: %llu (first in round %llu)\n",
              static_cast<unsigned long long>(rounds), static_cast<unsigned long long>(raced),
              static_cast<unsigned long long>(went_idle), static_cast<unsigned long long>(lead),
              static_cast<unsigned long long>(lost), static_cast<unsigned long long>(first_lost));
  if (raced < kRacedRounds) {
    std::printf("  (the threads ran at once in %llu rounds only, fewer than the %llu wanted: the membarrier delays "
                "the producer, or the machine is loaded)\n",
                static_cast<unsigned long long>(raced), static_cast<unsigned long long>(kRacedRounds));
  }
  CHECK(!stuck);
  CHECK_EQ(lost, uint64_t{0});
  CHECK_EQ(check.got, rounds);
  CHECK(check.in_order);
  CHECK_EQ(t.rs.count(), uint32_t{1});
}

int main(int argc, char** argv) { return hr_test::run_all(argc, argv); }
