// hr_native::CallRecord / WakeSlot (native/src/call_record.h): the wait/wake
// and the reference counting behind api->call, without Node. The "JS side"
// here is a thread that takes records from an EventQueue, as on_async does,
// completes them and wakes their slot once per batch.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "call_record.h"
#include "check.h"
#include "event_queue.h"

namespace {

using hr_native::CallRecord;
using hr_native::CallReply;
using hr_native::WakeSlot;

constexpr int32_t kOk = static_cast<int32_t>(hr::Status::kOk);
constexpr int32_t kTimeout = static_cast<int32_t>(hr::Status::kTimeout);
constexpr int32_t kClosed = static_cast<int32_t>(hr::Status::kRegistryClosed);
constexpr int32_t kThrew = static_cast<int32_t>(hr::Status::kThrew);

WakeSlot g_slots[4];  // static storage, as in calls.cc

CallReply number_reply(double n) {
  CallReply r;
  r.number = n;
  return r;
}

CallReply bytes_reply(const char* s) {
  CallReply r;
  r.size = static_cast<uint32_t>(std::strlen(s));
  r.bytes = std::malloc(r.size);
  std::memcpy(r.bytes, s, r.size);
  r.is_bytes = true;
  return r;
}

double pack(CallRecord* r) {
  const uint64_t bits = reinterpret_cast<uintptr_t>(r);
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}

CallRecord* unpack(double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  return reinterpret_cast<CallRecord*>(static_cast<uintptr_t>(bits));
}

}  // namespace

TEST(request_is_copied) {
  const char req[] = "hello";
  CallRecord* r = CallRecord::create(&g_slots[0], 7, 1.5, req, 5);
  CHECK(r != nullptr);
  CHECK_EQ(r->kind(), 7u);
  CHECK_EQ(r->size(), 5u);
  CHECK(std::memcmp(r->bytes(), "hello", 5) == 0);
  CHECK(r->pending());
  r->release();
  r->release();  // both sides gave it up without an answer: freed (ASan: no leak)
}

TEST(completed_before_wait_returns_the_reply) {
  CallRecord* r = CallRecord::create(&g_slots[0], 0, 21, nullptr, 0);
  CHECK_EQ(r->payload(), 21.0);
  CHECK(r->complete(kOk, number_reply(42)));
  r->slot()->wake();
  r->release();  // the JS side is done first
  CallReply out;
  CHECK_EQ(r->wait(CallRecord::kForever, &out), kOk);
  CHECK_EQ(out.number, 42.0);
  CHECK(!out.is_bytes);
  r->release();
}

TEST(bytes_reply_moves_to_the_caller) {
  CallRecord* r = CallRecord::create(&g_slots[0], 0, 0, nullptr, 0);
  CHECK(r->complete(kOk, bytes_reply("abc")));
  CallReply out;
  CHECK_EQ(r->wait(1000, &out), kOk);
  r->release();
  r->release();
  CHECK(out.is_bytes);
  CHECK_EQ(out.size, 3u);
  CHECK(std::memcmp(out.bytes, "abc", 3) == 0);
  std::free(out.bytes);  // the caller owns it now (ASan: freed once)
}

TEST(bytes_reply_without_out_is_freed_with_the_record) {
  CallRecord* r = CallRecord::create(&g_slots[0], 0, 0, nullptr, 0);
  CHECK(r->complete(kOk, bytes_reply("abc")));
  CHECK_EQ(r->wait(1000, nullptr), kOk);
  r->release();
  r->release();  // ASan: the reply bytes do not leak
}

TEST(error_statuses_carry_no_reply) {
  CallRecord* r = CallRecord::create(&g_slots[0], 0, 0, nullptr, 0);
  CHECK(r->complete(kThrew));
  CallReply out;
  out.number = -1;
  CHECK_EQ(r->wait(1000, &out), kThrew);
  CHECK_EQ(out.number, -1.0);  // untouched
  r->release();
  r->release();
}

TEST(timeout_abandons_and_a_late_reply_is_discarded) {
  CallRecord* r = CallRecord::create(&g_slots[1], 0, 0, nullptr, 0);
  const auto t0 = std::chrono::steady_clock::now();
  CallReply out;
  CHECK_EQ(r->wait(30, &out), kTimeout);
  CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(30));
  CHECK(!r->pending());
  r->release();  // the caller left first
  // The JS side answers later: the reply goes nowhere, its bytes are freed.
  CHECK(!r->complete(kOk, bytes_reply("late")));
  r->slot()->wake();
  r->release();  // last reference: freed (ASan: no use after free, no leak)
}

TEST(zero_timeout_returns_at_once_unless_completed) {
  CallRecord* r = CallRecord::create(&g_slots[1], 0, 0, nullptr, 0);
  CHECK_EQ(r->wait(0, nullptr), kTimeout);
  r->release();
  r->release();
  r = CallRecord::create(&g_slots[1], 0, 0, nullptr, 0);
  r->complete(kOk, number_reply(1));
  CallReply out;
  CHECK_EQ(r->wait(0, &out), kOk);
  CHECK_EQ(out.number, 1.0);
  r->release();
  r->release();
}

TEST(forever_wait_is_woken_by_teardown) {
  CallRecord* r = CallRecord::create(&g_slots[2], 0, 0, nullptr, 0);
  std::atomic<int32_t> got{-100};
  std::thread caller([&] {
    got.store(r->wait(CallRecord::kForever, nullptr));
    r->release();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let it sleep (not required)
  r->complete(kClosed);
  r->slot()->wake();
  r->release();
  caller.join();
  CHECK_EQ(got.load(), kClosed);
}

TEST(broadcast_wake_leaves_other_calls_waiting) {
  // Two callers on one slot; only the first call is answered, then the second.
  CallRecord* a = CallRecord::create(&g_slots[3], 0, 1, nullptr, 0);
  CallRecord* b = CallRecord::create(&g_slots[3], 0, 2, nullptr, 0);
  std::atomic<int32_t> sa{-100}, sb{-100};
  std::atomic<double> rb{0};
  std::thread ta([&] {
    CallReply out;
    sa.store(a->wait(CallRecord::kForever, &out));
    a->release();
  });
  std::thread tb([&] {
    CallReply out;
    sb.store(b->wait(CallRecord::kForever, &out));
    rb.store(out.number);
    b->release();
  });
  a->complete(kOk, number_reply(10));
  a->slot()->wake();
  a->release();
  ta.join();
  CHECK_EQ(sa.load(), kOk);
  CHECK_EQ(sb.load(), -100);  // woken too (same slot), re-checked, still waiting
  b->complete(kOk, number_reply(20));
  b->slot()->wake();
  b->release();
  tb.join();
  CHECK_EQ(sb.load(), kOk);
  CHECK_EQ(rb.load(), 20.0);
}

// Wakes carry the completed calls' bits: a caller whose call is still
// pending is not woken (Linux: FUTEX_WAKE_BITSET); each caller is woken by the
// wake for its own call, whatever other wakes happened before.
TEST(wake_bits_wake_the_callers_of_completed_calls) {
  constexpr int kCallers = 3;  // each on its own thread: distinct bits
  std::atomic<CallRecord*> recs[kCallers];
  std::atomic<int32_t> got[kCallers];
  std::atomic<int> asleep{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < kCallers; ++i) {
    got[i].store(-100);
    recs[i].store(nullptr);
    callers.emplace_back([&, i] {
      CallRecord* r = CallRecord::create(&g_slots[3], 0, i, nullptr, 0);
      recs[i].store(r);
      asleep.fetch_add(1);
      CallReply out;
      got[i].store(r->wait(CallRecord::kForever, &out) == kOk ? static_cast<int32_t>(out.number) : -1);
      r->release();
    });
  }
  while (asleep.load() < kCallers) std::this_thread::yield();
  // Complete them one at a time, in reverse, each with a wake for its own bit only.
  for (int i = kCallers - 1; i >= 0; --i) {
    CallRecord* r = recs[i].load();
    const uint32_t bit = r->wake_bit();
    CHECK(bit != 0);
    CHECK(r->complete(kOk, number_reply(100 + i)));
    r->slot()->wake(bit);
    r->release();
    while (got[i].load() == -100) std::this_thread::yield();  // woken (a missed wake hangs: the run's timeout fails it)
    CHECK_EQ(got[i].load(), 100 + i);
    for (int j = 0; j < i; ++j) CHECK_EQ(got[j].load(), -100);  // still waiting
  }
  for (auto& c : callers) c.join();
}

// Callers on several threads, a JS-side thread draining an EventQueue in
// batches and waking each slot once per batch; every caller gets its own
// reply (payload * 2), some with bytes.
TEST(many_callers_one_answering_thread) {
  constexpr int kThreads = 6;
  constexpr int kCalls = 2000;
  hr_native::EventQueue queue(64);
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0};
  std::thread js([&] {
    hr_native::Event batch[16];
    while (!stop.load(std::memory_order_acquire)) {
      const size_t n = queue.drain(batch, 16);
      if (n == 0) {
        std::this_thread::yield();
        continue;
      }
      for (size_t i = 0; i < n; ++i) {
        CallRecord* r = unpack(batch[i].payload);
        if (r->size() > 0) {
          CallReply rep;
          rep.is_bytes = true;
          rep.size = r->size();
          rep.bytes = std::malloc(rep.size);
          for (uint32_t j = 0; j < rep.size; ++j) static_cast<uint8_t*>(rep.bytes)[j] = r->bytes()[rep.size - 1 - j];
          r->complete(kOk, rep);
        } else {
          r->complete(kOk, number_reply(r->payload() * 2));
        }
      }
      // One wake per slot touched by this batch (the slot of each record).
      for (size_t i = 0; i < n; ++i) unpack(batch[i].payload)->slot()->wake();
      for (size_t i = 0; i < n; ++i) unpack(batch[i].payload)->release();
    }
  });
  std::vector<std::thread> callers;
  for (int t = 0; t < kThreads; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        const bool bytes = i % 5 == 0;
        const uint8_t req[4] = {static_cast<uint8_t>(t), static_cast<uint8_t>(i), 7, 9};
        CallRecord* r = CallRecord::create(&g_slots[t % 2], 0, i, bytes ? req : nullptr, bytes ? 4 : 0);
        while (queue.try_push(hr_native::Event{1, 0, 0xFFFFFFFFu, pack(r)}) != hr::Status::kOk) {
          std::this_thread::yield();
        }
        CallReply out;
        const int32_t st = r->wait(CallRecord::kForever, &out);
        r->release();
        if (st != kOk) {
          wrong.fetch_add(1);
        } else if (bytes) {
          if (!out.is_bytes || out.size != 4 || static_cast<uint8_t*>(out.bytes)[0] != 9 ||
              static_cast<uint8_t*>(out.bytes)[3] != static_cast<uint8_t>(t)) {
            wrong.fetch_add(1);
          }
          std::free(out.bytes);
        } else if (out.is_bytes || out.number != 2.0 * i) {
          wrong.fetch_add(1);
        }
      }
    });
  }
  for (auto& c : callers) c.join();
  stop.store(true, std::memory_order_release);
  js.join();
  CHECK_EQ(wrong.load(), 0);
}

// Deadlines racing replies: each call ends either kTimeout (reply discarded)
// or kOk with its own reply, never anything else; nothing leaks or is used
// after free whichever side releases last.
TEST(timeouts_race_replies) {
  constexpr int kThreads = 4;
  constexpr int kCalls = 300;
  hr_native::EventQueue queue(1024);
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, timeout{0}, wrong{0};
  // The last call each caller has come back from: the JS thread answers a
  // 0 ms call only after that, so those time out on any machine (the
  // callers' spin phase yields, and a loaded machine may run the JS thread
  // there and answer in time).
  std::atomic<int> returned[kThreads];
  for (auto& x : returned) x.store(-1);
  std::thread js([&] {
    hr_native::Event e;
    uint32_t n = 0;
    while (!stop.load(std::memory_order_acquire)) {
      if (!queue.try_pop(e)) {
        std::this_thread::yield();
        continue;
      }
      CallRecord* r = unpack(e.payload);
      const int call = static_cast<int>(r->payload());
      if (call % 3 == 0) {
        std::atomic<int>& back = returned[r->slot() - g_slots];
        while (back.load(std::memory_order_acquire) < call && !stop.load(std::memory_order_acquire)) {
          std::this_thread::yield();
        }
      }
      // Answer after a varying delay around the callers' 1 ms deadline.
      if (++n % 3 != 0) std::this_thread::sleep_for(std::chrono::microseconds(n % 7 * 300));
      r->complete(kOk, n % 2 == 0 ? bytes_reply("xy") : number_reply(r->payload() + 1));
      r->slot()->wake();
      r->release();
    }
    while (queue.try_pop(e)) {  // teardown: answer what is left
      CallRecord* r = unpack(e.payload);
      r->complete(kClosed);
      r->slot()->wake();
      r->release();
    }
  });
  std::vector<std::thread> callers;
  for (int t = 0; t < kThreads; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        CallRecord* r = CallRecord::create(&g_slots[t % 4], 0, i, nullptr, 0);
        if (queue.try_push(hr_native::Event{1, 0, 0xFFFFFFFFu, pack(r)}) != hr::Status::kOk) {
          r->release();
          r->release();
          continue;
        }
        CallReply out;
        // Deadlines of 0 (times out: answered only after the caller is back),
        // 1 ms (races the answer) and 5 s (answered): both outcomes occur.
        const int32_t st = r->wait(i % 3 == 0 ? 0 : i % 3 == 1 ? 1 : 5000, &out);
        returned[t].store(i, std::memory_order_release);
        r->release();
        if (st == kTimeout) {
          timeout.fetch_add(1);
        } else if (st == kOk && (out.is_bytes ? out.size == 2 : out.number == i + 1.0)) {
          ok.fetch_add(1);
        } else {
          wrong.fetch_add(1);
        }
        std::free(out.bytes);
      }
    });
  }
  for (auto& c : callers) c.join();
  stop.store(true, std::memory_order_release);
  js.join();
  CHECK_EQ(wrong.load(), 0);
  CHECK(ok.load() > 0);
  CHECK(timeout.load() > 0);
}

int main(int argc, char** argv) { return hr_test::run_all(argc, argv); }
