// call_record.h: one blocking call from a native thread to JS (api->call):
// the request, the reply slot, and the wait/wake between the calling thread
// and the JS thread (hr_native::CallRecord, hr_native::WakeSlot). Internal to
// the addon.
//
// Header-only, with no Node dependency, so that native/test/test_calls.cc
// tests it under ASan and TSan.
//
// Lifetime: a record is created with two references, one for the CALLER (the
// thread blocked in api->call) and one for the JS SIDE (first the queue cell
// that carries it, then the JS thread's table of calls handed to JS). Each
// side drops its reference exactly once (release()); the last one frees the
// record, and the reply bytes if nobody took them. So a caller that timed out
// and left never makes the JS side write freed memory, and a JS side that
// finished first never frees what the caller is about to read.
//
// States: kPending until one of two things happens first:
//   - the JS side completes it (complete(): the handler's reply, THREW, or
//     REGISTRY_CLOSED at teardown): the status is final, the caller reads it;
//   - the caller gives up at its deadline (wait() -> TIMEOUT): kAbandoned,
//     and the JS side's later complete() discards its reply.
// One CAS decides which came first. complete() is called by one thread at a
// time (the owner's JS thread: delivery, reply and teardown all run there).
//
// Wake-up: callers sleep on a WakeSlot shared by every call to one owner
// (static storage, never freed: a caller may still sleep on it after the
// owner closed). complete() only publishes the status; the JS side then calls
// WakeSlot::wake() once for all the calls it completed (one batch of replies:
// one system call, not one per caller), with the OR of their callers' wake
// bits, so that callers whose calls are still queued sleep on (Linux:
// FUTEX_WAKE_BITSET; threads share 32 bits, a shared bit costs a spurious
// wake-up at worst). A caller first polls its status (kPauses pause
// instructions, then yields: see kSpins), then counts
// itself in the slot's `sleepers` and re-checks its status before it sleeps
// on the slot's generation word; wake() bumps the generation, then wakes if
// anyone sleeps. Either the waker sees the sleeper, or the sleeper's re-check
// sees the status (seq_cst on both sides, as the event path's wake-up flag),
// and a bump between the caller's read of the generation and its sleep makes
// the sleep return at once. A caller woken for another call (a shared bit, or
// the generation moved before it slept) re-checks and sleeps again.
//
// Linux: the generation word is a futex. Elsewhere: a mutex and condition
// variable per slot, in one never-freed allocation.
#ifndef HANDLE_REGISTRY_NATIVE_CALL_RECORD_H_
#define HANDLE_REGISTRY_NATIVE_CALL_RECORD_H_

#include <atomic>
#include <thread>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#else
#include <condition_variable>
#include <mutex>
#endif

#include "handle_registry.h"  // hr::Status, hr::detail::cpu_relax

namespace hr_native {

/// Where the callers of one owner sleep (any number of them), woken together.
struct WakeSlot {
  std::atomic<uint32_t> generation;  // bumped by each wake(); the futex word on Linux
  std::atomic<uint32_t> sleepers;    // callers between their last check and their wake-up

  /// JS side, after completing one or more calls of this slot: wakes the
  /// callers sleeping on it whose wake bit is in `bits` (CallRecord::wake_bit;
  /// kAllBits: every caller). One system call, none when nobody sleeps.
  void wake(uint32_t bits = kAllBits) noexcept {
    generation.fetch_add(1, std::memory_order_seq_cst);
    if (sleepers.load(std::memory_order_seq_cst) == 0) return;
#if defined(__linux__)
    // Only the callers of these calls (and any sharing their bit) wake up:
    // callers whose calls are still queued sleep on.
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&generation), FUTEX_WAKE_BITSET_PRIVATE, INT_MAX, nullptr,
            nullptr, bits);
#else
    (void)bits;
    Fallback& f = fallback();
    { std::lock_guard<std::mutex> lock(f.mutex); }
    f.cv.notify_all();
#endif
  }

  static constexpr uint32_t kAllBits = 0xFFFFFFFFu;

  /// Caller: sleeps while the generation is still `seen`, at most until
  /// `deadline` (time_point::max(): no limit), until a wake() whose bits
  /// include `bit`. May return early (spuriously).
  void sleep(uint32_t seen, uint32_t bit, std::chrono::steady_clock::time_point deadline) noexcept {
#if defined(__linux__)
    // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time, which is
    // steady_clock's clock on Linux.
    timespec ts;
    timespec* tp = nullptr;
    if (deadline != std::chrono::steady_clock::time_point::max()) {
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count();
      ts.tv_sec = static_cast<time_t>(ns / 1000000000);
      ts.tv_nsec = static_cast<long>(ns % 1000000000);
      tp = &ts;
    }
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&generation), FUTEX_WAIT_BITSET_PRIVATE, seen, tp, nullptr, bit);
#else
    (void)bit;
    Fallback& f = fallback();
    std::unique_lock<std::mutex> lock(f.mutex);
    if (generation.load(std::memory_order_seq_cst) != seen) return;
    if (deadline == std::chrono::steady_clock::time_point::max()) {
      f.cv.wait(lock);
    } else {
      f.cv.wait_until(lock, deadline);
    }
#endif
  }

 private:
#if !defined(__linux__)
  // One mutex and condition variable for every slot (wakes are broadcasts):
  // allocated once and never freed, so callers that outlive everything else
  // still find them.
  struct Fallback {
    std::mutex mutex;
    std::condition_variable cv;
  };
  static Fallback& fallback() noexcept {
    static Fallback* const f = new Fallback();
    return *f;
  }
#endif
};
static_assert(std::is_trivially_destructible<WakeSlot>::value, "WakeSlot lives in static storage");

/// What the JS handler answered: a number, or bytes (malloc'd, owned by
/// whoever holds the CallReply; free with std::free).
struct CallReply {
  double number = 0;
  void* bytes = nullptr;
  uint32_t size = 0;
  bool is_bytes = false;
};

class CallRecord {
 public:
  /// No limit: wait() returns only when the call is completed.
  static constexpr uint32_t kForever = 0xFFFFFFFFu;
  /// Polls of its status a caller makes before it sleeps: the first kPauses
  /// with a pause instruction, the rest each after a sched_yield, for at most
  /// about 0.1 ms. A reply on its way then costs the caller no futex sleep
  /// and wake-up (two context switches, the bulk of a round trip), and when
  /// the cores are oversubscribed (more callers than cores, the JS thread
  /// among them) the yields hand the core to the JS thread that will answer,
  /// where pure spinning took it away: at 4 callers on 2 cores, 4.4x the
  /// calls per second of sleeping at once (bench/calls).
  static constexpr uint32_t kSpins = 256;
  static constexpr uint32_t kPauses = 64;

  /// A record for (kind, payload) or, when size > 0, for a copy of
  /// data[0..size); its caller sleeps on `slot`. Two references (caller and
  /// JS side). nullptr if out of memory.
  static CallRecord* create(WakeSlot* slot, uint32_t kind, double payload, const void* data, uint32_t size) noexcept {
    void* mem = std::malloc(sizeof(CallRecord) + size);
    if (mem == nullptr) return nullptr;
    CallRecord* r = new (mem) CallRecord(slot, kind, payload, size);
    if (size > 0) std::memcpy(r->bytes(), data, size);
    return r;
  }

  CallRecord(const CallRecord&) = delete;
  CallRecord& operator=(const CallRecord&) = delete;

  uint32_t kind() const noexcept { return kind_; }
  double payload() const noexcept { return payload_; }
  WakeSlot* slot() const noexcept { return slot_; }
  /// The bit its caller sleeps on (one of 32, by calling thread): pass the OR
  /// of the completed records' bits to WakeSlot::wake.
  uint32_t wake_bit() const noexcept { return wake_bit_; }
  /// Request bytes (size() of them), stored right after the record.
  uint32_t size() const noexcept { return size_; }
  const uint8_t* bytes() const noexcept { return reinterpret_cast<const uint8_t*>(this + 1); }
  uint8_t* bytes() noexcept { return reinterpret_cast<uint8_t*>(this + 1); }

  /// JS side, once per record (one thread at a time). Stores the answer;
  /// takes ownership of reply.bytes (freed here if the caller already gave
  /// up). Does not wake the caller: call slot()->wake() after this (once for
  /// several records of one slot). Returns true if the caller will see it.
  bool complete(int32_t status, CallReply reply = CallReply{}) noexcept {
    reply_ = reply;  // read by the caller only after it sees the status
    int32_t expected = kPending;
    if (!state_.compare_exchange_strong(expected, status, std::memory_order_seq_cst)) {
      std::free(reply_.bytes);  // abandoned: the caller left at its deadline
      reply_ = CallReply{};
      return false;
    }
    return true;
  }

  /// Caller, once. Waits until the call is completed or `timeout_ms` passed
  /// (kForever: no limit). Returns the final status, or kTimeout (the record
  /// is then abandoned: a later reply is discarded). On kOk the reply moves
  /// to *out (if out is not null; else its bytes are freed with the record).
  int32_t wait(uint32_t timeout_ms, CallReply* out) noexcept {
    int32_t st = state_.load(std::memory_order_acquire);
    for (uint32_t i = 0; st == kPending && i < kSpins; ++i) {
      if (i >= kPauses) std::this_thread::yield();
      else hr::detail::cpu_relax();
      st = state_.load(std::memory_order_acquire);
    }
    if (st == kPending) st = sleep(timeout_ms);
    if (st == kPending) {
      // The deadline passed: abandon, unless the JS side completed meanwhile.
      if (state_.compare_exchange_strong(st, kAbandoned, std::memory_order_seq_cst)) {
        return static_cast<int32_t>(hr::Status::kTimeout);
      }
      // st now holds the final status (the failed CAS read it seq_cst).
    }
    if (st == static_cast<int32_t>(hr::Status::kOk) && out != nullptr) {
      *out = reply_;
      reply_.bytes = nullptr;  // moved out: not freed with the record
    }
    return st;
  }

  /// Drops one reference (caller or JS side, once each); the last frees.
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::free(reply_.bytes);
      this->~CallRecord();
      std::free(this);
    }
  }

  /// True while neither completed nor abandoned (diagnostics and tests).
  bool pending() const noexcept { return state_.load(std::memory_order_acquire) == kPending; }

 private:
  static constexpr int32_t kPending = -1;
  static constexpr int32_t kAbandoned = -2;

  CallRecord(WakeSlot* slot, uint32_t kind, double payload, uint32_t size) noexcept
      : slot_(slot), wake_bit_(thread_bit()), kind_(kind), size_(size), payload_(payload) {}

  // The calling thread's wake bit: threads take the 32 bits in turn.
  static uint32_t thread_bit() noexcept {
    static std::atomic<uint32_t> next{0};
    thread_local const uint32_t bit = 1u << (next.fetch_add(1, std::memory_order_relaxed) % 32);
    return bit;
  }
  ~CallRecord() = default;

  // Sleeps on the slot until completed or the deadline; returns the state
  // then (kPending at the deadline).
  int32_t sleep(uint32_t timeout_ms) noexcept {
    using Clock = std::chrono::steady_clock;
    const Clock::time_point deadline =
        timeout_ms == kForever ? Clock::time_point::max() : Clock::now() + std::chrono::milliseconds(timeout_ms);
    int32_t st;
    for (;;) {
      const uint32_t seen = slot_->generation.load(std::memory_order_seq_cst);
      slot_->sleepers.fetch_add(1, std::memory_order_seq_cst);
      st = state_.load(std::memory_order_seq_cst);
      if (st == kPending) slot_->sleep(seen, wake_bit_, deadline);
      slot_->sleepers.fetch_sub(1, std::memory_order_seq_cst);
      if (st != kPending) return st;
      st = state_.load(std::memory_order_seq_cst);
      if (st != kPending || (deadline != Clock::time_point::max() && Clock::now() >= deadline)) return st;
    }
  }

  WakeSlot* const slot_;
  const uint32_t wake_bit_;
  const uint32_t kind_;
  const uint32_t size_;
  const double payload_;
  std::atomic<int32_t> refs_{2};
  std::atomic<int32_t> state_{kPending};
  CallReply reply_;  // written by complete() before the status, read by the caller after
};

}  // namespace hr_native

#endif  // HANDLE_REGISTRY_NATIVE_CALL_RECORD_H_
