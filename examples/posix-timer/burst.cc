// burst.cc: the producers of the throughput comparison (npm run demo).
//
// One native thread sends `count` numbered events to JavaScript, in one of
// four ways:
//   - "post":      api->post(handle, kind, i) per event, into registry.onEvent;
//   - "post_many": api->post_many() with `chunk` events per call;
//   - "tsfn":      one Napi::ThreadSafeFunction::BlockingCall(data, callback)
//                  per event, the form node-addon-api documents (a heap
//                  allocated payload, freed by the callback);
//   - "tsfn_typed": one Napi::TypedThreadSafeFunction::BlockingCall(data) per
//                  event with a static CallJs and the payload packed into the
//                  data pointer: the cheapest TSFN call there is (no
//                  allocation by the addon).
// Both registry producers retry (after a yield) when the bounded queue is
// full, and both TSFNs are created with a bounded queue of the same size and
// block when it is full, so every event is delivered by every method.
// JS measures from the start call until its handler has seen every event.
#include "shared.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace hr_example {
namespace {

constexpr uint32_t kBurstKind = 100;

void TypedCallJs(Napi::Env env, Napi::Function fn, std::nullptr_t*, void* data) {
  if (env == nullptr || fn.IsEmpty()) return;  // the TSFN is being torn down
  fn.Call({Napi::Number::New(env, static_cast<double>(reinterpret_cast<uintptr_t>(data)))});
}
using TypedTsfn = Napi::TypedThreadSafeFunction<std::nullptr_t, void, TypedCallJs>;

struct Burst {
  std::thread thread;
  std::atomic<bool> done{false};
  // Written by the thread before `done`, read after join.
  uint64_t ok = 0;       // events handed over
  uint64_t retries = 0;  // registry: posts refused with QUEUE_FULL and retried
  uint64_t failed = 0;   // events not handed over (a status other than OK/FULL)
  int32_t last_status = HR_STATUS_OK;
  double thread_ms = 0;  // the producer thread's own time
};

std::mutex g_mu;
std::map<uint32_t, std::unique_ptr<Burst>> g_bursts;
uint32_t g_next_id = 1;

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Registers a burst whose thread runs `body(burst)`; returns its id.
template <class F>
uint32_t Launch(F body) {
  auto burst = std::make_unique<Burst>();
  Burst* b = burst.get();
  uint32_t id;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    id = g_next_id++;
    g_bursts[id] = std::move(burst);
  }
  b->thread = std::thread([b, body]() mutable {
    const auto t0 = std::chrono::steady_clock::now();
    body(*b);
    b->thread_ms = MsSince(t0);
    b->done.store(true, std::memory_order_release);
  });
  return id;
}

void PostOneByOne(Burst& b, hr::Handle h, uint64_t count) {
  for (uint64_t i = 1; i <= count; ++i) {
    int32_t st;
    while ((st = g_api->post(h, kBurstKind, static_cast<double>(i))) == HR_STATUS_QUEUE_FULL) {
      b.retries++;
      std::this_thread::yield();  // let the JS thread drain
    }
    if (st != HR_STATUS_OK) {  // stale / closed: nobody listens any more
      b.failed += count - i + 1;
      b.last_status = st;
      return;
    }
    b.ok++;
  }
}

void PostInChunks(Burst& b, hr::Handle h, uint64_t count, size_t chunk) {
  std::vector<hr_event_v1> events(chunk);
  std::vector<int32_t> statuses(chunk);
  for (uint64_t first = 1; first <= count; first += chunk) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk, count - first + 1));
    for (size_t k = 0; k < n; ++k) {
      events[k] = hr_event_v1{h, kBurstKind, 0, static_cast<double>(first + k)};
    }
    size_t from = 0;
    while (from < n) {
      const size_t accepted = g_api->post_many(events.data() + from, n - from, statuses.data());
      b.ok += accepted;
      if (from + accepted == n) break;
      // Events after the first QUEUE_FULL of a call to one registry are all
      // QUEUE_FULL: re-post from there, in order.
      size_t k = 0;
      while (k < n - from && statuses[k] == HR_STATUS_OK) ++k;
      if (statuses[k] != HR_STATUS_QUEUE_FULL) {
        b.failed += count - (first + from + k) + 1;
        b.last_status = statuses[k];
        return;
      }
      b.retries++;
      from += k;
      std::this_thread::yield();
    }
  }
}

// postBurst(handle, count, chunk) -> id. chunk <= 1: post() per event.
Napi::Value PostBurst(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  hr::Handle h;
  if (!RequireAttached(env) || !GetHandle(info, 0, &h)) return Napi::Value();
  const uint64_t count = GetU32(info, 1, 0);
  const size_t chunk = std::max<uint32_t>(1, GetU32(info, 2, 1));
  const uint32_t id = Launch([h, count, chunk](Burst& b) {
    if (chunk == 1) {
      PostOneByOne(b, h, count);
    } else {
      PostInChunks(b, h, count, chunk);
    }
  });
  return Napi::Number::New(env, id);
}

// tsfnBurst(fn, count, maxQueueSize, typed) -> id: fn(i) is called on the JS
// thread for i = 1..count, one ThreadSafeFunction call per event.
Napi::Value TsfnBurst(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsFunction()) {
    Napi::TypeError::New(env, "tsfnBurst: expected a function").ThrowAsJavaScriptException();
    return Napi::Value();
  }
  Napi::Function fn = info[0].As<Napi::Function>();
  const uint64_t count = GetU32(info, 1, 0);
  const size_t queue = GetU32(info, 2, 65536);
  const bool typed = info[3].ToBoolean().Value();
  uint32_t id;
  if (typed) {
    TypedTsfn tsfn = TypedTsfn::New(env, fn, "handle-registry-example-tsfn-typed", queue, 1);
    id = Launch([tsfn, count](Burst& b) mutable {
      for (uint64_t i = 1; i <= count; ++i) {
        if (tsfn.BlockingCall(reinterpret_cast<void*>(static_cast<uintptr_t>(i))) != napi_ok) {
          b.failed += count - i + 1;
          break;
        }
        b.ok++;
      }
      tsfn.Release();
    });
  } else {
    Napi::ThreadSafeFunction tsfn =
        Napi::ThreadSafeFunction::New(env, fn, "handle-registry-example-tsfn", queue, 1);
    id = Launch([tsfn, count](Burst& b) mutable {
      auto callback = [](Napi::Env env, Napi::Function js, double* value) {
        js.Call({Napi::Number::New(env, *value)});
        delete value;
      };
      for (uint64_t i = 1; i <= count; ++i) {
        double* value = new double(static_cast<double>(i));
        if (tsfn.BlockingCall(value, callback) != napi_ok) {
          delete value;
          b.failed += count - i + 1;
          break;
        }
        b.ok++;
      }
      tsfn.Release();
    });
  }
  return Napi::Number::New(env, id);
}

Burst* Find(uint32_t id) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = g_bursts.find(id);
  return it == g_bursts.end() ? nullptr : it->second.get();
}

// burstDone(id) -> whether the producer thread has finished
Napi::Value BurstDone(const Napi::CallbackInfo& info) {
  Burst* b = Find(GetU32(info, 0, 0));
  return Napi::Boolean::New(info.Env(), b == nullptr || b->done.load(std::memory_order_acquire));
}

// joinBurst(id) -> { ok, retries, failed, lastStatus, threadMs }. Call it once
// the events arrived (or burstDone(id)): it blocks until the thread ends.
Napi::Value JoinBurst(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::unique_ptr<Burst> b;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    auto it = g_bursts.find(GetU32(info, 0, 0));
    if (it != g_bursts.end()) {
      b = std::move(it->second);
      g_bursts.erase(it);
    }
  }
  if (!b) return env.Undefined();
  b->thread.join();
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", Napi::Number::New(env, static_cast<double>(b->ok)));
  o.Set("retries", Napi::Number::New(env, static_cast<double>(b->retries)));
  o.Set("failed", Napi::Number::New(env, static_cast<double>(b->failed)));
  o.Set("lastStatus", Napi::String::New(env, hr_status_name(b->last_status)));
  o.Set("threadMs", Napi::Number::New(env, b->thread_ms));
  return o;
}

}  // namespace

void InitBurst(Napi::Env env, Napi::Object exports) {
  exports.Set("postBurst", Napi::Function::New(env, PostBurst, "postBurst"));
  exports.Set("tsfnBurst", Napi::Function::New(env, TsfnBurst, "tsfnBurst"));
  exports.Set("burstDone", Napi::Function::New(env, BurstDone, "burstDone"));
  exports.Set("joinBurst", Napi::Function::New(env, JoinBurst, "joinBurst"));
}

}  // namespace hr_example
