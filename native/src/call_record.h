// call_record.h: one blocking call from a native thread to JS (api->call):
// the request, the reply slot, and the wait/wake between the calling thread
// and the JS thread (hr_native::CallRecord). Internal to the addon.
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
// Wake-up: the caller spins briefly (a reply within a few microseconds costs
// no system call on either side), then announces `sleeping_` and blocks on a
// condition variable. complete() publishes the status (seq_cst), then reads
// `sleeping_` (seq_cst): either it sees the announcement and notifies under
// the mutex, or the caller's re-check under the mutex sees the status (the
// same Dekker pairing as the event path's wake-up flag).
#ifndef HANDLE_REGISTRY_NATIVE_CALL_RECORD_H_
#define HANDLE_REGISTRY_NATIVE_CALL_RECORD_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <thread>

#include "handle_registry.h"  // hr::Status, hr::detail::cpu_relax

namespace hr_native {

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
  /// Spins of the caller before it sleeps (each a pause instruction, then
  /// yields): about the round trip of a reply that comes at once.
  static constexpr uint32_t kSpins = 256;
  static constexpr uint32_t kYields = 16;

  /// A record for (kind, payload) or, when size > 0, for a copy of
  /// data[0..size). Two references (caller and JS side). nullptr if out of memory.
  static CallRecord* create(uint32_t kind, double payload, const void* data, uint32_t size) noexcept {
    void* mem = std::malloc(sizeof(CallRecord) + size);
    if (mem == nullptr) return nullptr;
    CallRecord* r = new (mem) CallRecord(kind, payload, size);
    if (size > 0) std::memcpy(r->bytes(), data, size);
    return r;
  }

  CallRecord(const CallRecord&) = delete;
  CallRecord& operator=(const CallRecord&) = delete;

  uint32_t kind() const noexcept { return kind_; }
  double payload() const noexcept { return payload_; }
  /// Request bytes (size() of them), stored right after the record.
  uint32_t size() const noexcept { return size_; }
  const uint8_t* bytes() const noexcept { return reinterpret_cast<const uint8_t*>(this + 1); }
  uint8_t* bytes() noexcept { return reinterpret_cast<uint8_t*>(this + 1); }

  /// JS side, once per record (one thread at a time). Stores the answer and
  /// wakes the caller; takes ownership of reply.bytes (freed here if the
  /// caller already gave up). Returns true if the caller will see it.
  bool complete(int32_t status, CallReply reply = CallReply{}) noexcept {
    reply_ = reply;  // read by the caller only after it sees the status
    int32_t expected = kPending;
    if (!state_.compare_exchange_strong(expected, status, std::memory_order_seq_cst)) {
      std::free(reply_.bytes);  // abandoned: the caller left at its deadline
      reply_ = CallReply{};
      return false;
    }
    if (sleeping_.load(std::memory_order_seq_cst)) {
      // The caller announced it sleeps, or is about to: take the mutex so
      // that it is either before its re-check (and sees the status) or
      // inside wait (and gets the notification).
      { std::lock_guard<std::mutex> lock(mutex_); }
      cv_.notify_one();
    }
    return true;
  }

  /// Caller, once. Waits until the call is completed or `timeout_ms` passed
  /// (kForever: no limit). Returns the final status, or kTimeout (the record
  /// is then abandoned: a later reply is discarded). On kOk the reply moves
  /// to *out (if out is not null; else its bytes are freed with the record).
  int32_t wait(uint32_t timeout_ms, CallReply* out) noexcept {
    int32_t st = state_.load(std::memory_order_acquire);
    for (uint32_t i = 0; st == kPending && i < kSpins + kYields; ++i) {
      if (i < kSpins) {
        hr::detail::cpu_relax();
      } else {
        std::this_thread::yield();
      }
      st = state_.load(std::memory_order_acquire);
    }
    if (st == kPending) st = sleep(timeout_ms);
    if (st == kPending) {
      // The deadline passed: abandon, unless the JS side completed meanwhile.
      if (state_.compare_exchange_strong(st, kAbandoned, std::memory_order_seq_cst)) {
        return static_cast<int32_t>(hr::Status::kTimeout);
      }
      // st now holds the final status (acquire via seq_cst).
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

  CallRecord(uint32_t kind, double payload, uint32_t size) noexcept
      : kind_(kind), size_(size), payload_(payload) {}
  ~CallRecord() = default;

  // Blocks on the condition variable until completed or the deadline;
  // returns the state then (kPending at the deadline).
  int32_t sleep(uint32_t timeout_ms) noexcept {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    std::unique_lock<std::mutex> lock(mutex_);
    sleeping_.store(true, std::memory_order_seq_cst);
    int32_t st;
    while ((st = state_.load(std::memory_order_seq_cst)) == kPending) {
      if (timeout_ms == kForever) {
        cv_.wait(lock);
      } else if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
        st = state_.load(std::memory_order_seq_cst);
        break;
      }
    }
    return st;
  }

  const uint32_t kind_;
  const uint32_t size_;
  const double payload_;
  std::atomic<int32_t> refs_{2};
  std::atomic<int32_t> state_{kPending};
  std::atomic<bool> sleeping_{false};
  CallReply reply_;  // written by complete() before the status, read by the caller after
  std::mutex mutex_;
  std::condition_variable cv_;
};

}  // namespace hr_native

#endif  // HANDLE_REGISTRY_NATIVE_CALL_RECORD_H_
