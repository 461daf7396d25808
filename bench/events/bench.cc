// bench.cc: the native side of the events benchmark (bench/events/run.js).
//
// One native producer std::thread per run, posting `count` events to JS
// through one of these paths:
//   startLib          this library: api->post per event, or api->post_many in
//                     chunks; retries (with a yield) on HR_STATUS_QUEUE_FULL,
//                     so no event is lost (under whenFull 'block' or 'grow'
//                     there is none to retry); or api->post_wait per event
//                     (wait = true: waits for room, never retries)
//   startTsfn         one Napi::ThreadSafeFunction::BlockingCall per event
//                     (typed = false: node-addon-api's callback form, which
//                     allocates a wrapper per call; typed = true:
//                     Napi::TypedThreadSafeFunction, no allocation per call);
//                     maxQueue = 0: TypedThreadSafeFunction::NonBlockingCall
//                     with an unbounded queue, the fastest per-event TSFN use
//                     (Node drains up to 1,000 queued calls per wake-up); its
//                     events live in a ring of `count` (never overwritten)
//   startTsfnBatched  the producer fills one of K Float64Arrays that JS
//                     created (zero copy) with `batch` [handle, kind, payload]
//                     triples and makes one BlockingCall per batch; the
//                     buffer is handed back when the JS callback returns
//
// With spacingUs > 0 every start* function posts lone events instead:
// kind 2, payload = steady_clock ns at the post minus `base` (a bigint of
// process.hrtime.bigint(), the same CLOCK_MONOTONIC), then sleeps spacingUs.
//
// The table of handle-registry is reached the manual way documented at the
// top of handle_registry_abi.h (no N-API helper needed): attach(nativeApi).
#include <napi.h>
#include <pthread.h>
#include <sched.h>  // sched_getcpu, cpu_set_t (the core-placement check)

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "handle_registry_abi.h"

namespace {

using Clock = std::chrono::steady_clock;
static_assert(Clock::is_steady, "steady_clock must be monotonic");

inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

const hr_api_v1* g_api = nullptr;

struct Ev {
  uint64_t handle;
  uint32_t kind;
  double payload;
};

// One slot of the hand-batched TSFN: a JS Float64Array's memory.
struct Slot {
  double* data = nullptr;
  uint32_t index = 0;
  uint32_t n = 0;
  std::atomic<bool> free{true};
};

struct Job {
  std::thread thread;
  std::atomic<uint64_t> retries{0};  // QUEUE_FULL retries, or waits for a free batch buffer
  std::atomic<int32_t> error{0};     // first unexpected status (library) or napi_status (TSFN)
  std::atomic<int64_t> producer_ns{0};  // producer thread: start to last post returned
  std::atomic<int32_t> cpu_start{-1};   // sched_getcpu() of the producer at its start and end
  std::atomic<int32_t> cpu_end{-1};
  std::vector<Napi::ObjectReference> refs;  // keeps the batch buffers alive
  std::unique_ptr<Slot[]> slots;
  std::vector<Ev> ring;  // per-event TSFN: event storage, reused round robin
};

std::unique_ptr<Job> g_job;

Napi::Value Throw(Napi::Env env, const char* message) {
  Napi::Error::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

bool handles_arg(const Napi::CallbackInfo& info, size_t i, std::vector<uint64_t>* out) {
  if (i >= info.Length() || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    return false;
  }
  Napi::Float64Array a = info[i].As<Napi::Float64Array>();
  if (a.ElementLength() == 0) return false;
  out->resize(a.ElementLength());
  for (size_t k = 0; k < a.ElementLength(); ++k) (*out)[k] = static_cast<uint64_t>(a[k]);
  return true;
}

// BENCH_PRODUCER_CPU=n: the library's producer thread runs on cpu n only
// (the core-placement check of the split: bench/events/chunks.js).
void pin_producer() {
  const char* v = std::getenv("BENCH_PRODUCER_CPU");
  if (v == nullptr || *v == '\0') return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(std::atoi(v), &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

// cpu(): sched_getcpu() of the calling (JS) thread; pinCpu(n): pins it to cpu n.
Napi::Value Cpu(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), sched_getcpu()); }
Napi::Value PinCpu(const Napi::CallbackInfo& info) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(info[0].As<Napi::Number>().Int32Value(), &set);
  return Napi::Number::New(info.Env(), pthread_setaffinity_np(pthread_self(), sizeof set, &set));
}

// spacingUs and base (arguments `at` and `at + 1`): lone-event mode when spacing > 0.
bool lone_args(const Napi::CallbackInfo& info, size_t at, int64_t* spacing_us, int64_t* base) {
  *spacing_us = 0;
  *base = 0;
  if (info.Length() > at && info[at].IsNumber()) *spacing_us = info[at].As<Napi::Number>().Int64Value();
  if (*spacing_us > 0) {
    if (info.Length() <= at + 1 || !info[at + 1].IsBigInt()) return false;
    bool lossless = false;
    *base = info[at + 1].As<Napi::BigInt>().Int64Value(&lossless);
  }
  return true;
}

bool begin_job(Napi::Env env) {
  if (g_job != nullptr) {
    Throw(env, "events_bench: a producer is still running: call join() first");
    return false;
  }
  g_job = std::make_unique<Job>();
  return true;
}

inline double lone_payload(int64_t base) { return static_cast<double>(now_ns() - base); }

// attach(registry.nativeApi): the manual attach of handle_registry_abi.h
// (check the type tag, then read the external's table).
Napi::Value Attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  static const napi_type_tag tag = {HR_API_TYPE_TAG_LOWER, HR_API_TYPE_TAG_UPPER};
  bool tagged = false;
  if (info.Length() < 1 || !info[0].IsExternal() ||
      napi_check_object_type_tag(env, info[0], &tag, &tagged) != napi_ok || !tagged) {
    return Throw(env, "attach(registry.nativeApi): expected registry.nativeApi");
  }
  const hr_api_v1* api = static_cast<const hr_api_v1*>(info[0].As<Napi::External<void>>().Data());
  const int32_t st = hr_api_v1_check(api);
  if (st != HR_STATUS_OK) return Throw(env, hr_status_name(st));
  g_api = api;
  return env.Undefined();
}

// now(): steady_clock in ns, as a bigint (compare with process.hrtime.bigint()).
Napi::Value Now(const Napi::CallbackInfo& info) {
  return Napi::BigInt::New(info.Env(), static_cast<int64_t>(now_ns()));
}

// startLib(handles: Float64Array, count, chunk, spacingUs?, base?, wait?): chunk 0 =
// api->post per event (api->post_wait with wait = true), else api->post_many
// in chunks of `chunk`.
Napi::Value StartLib(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (g_api == nullptr) return Throw(env, "events_bench: attach() first");
  std::vector<uint64_t> hs;
  int64_t spacing = 0, base = 0;
  if (!handles_arg(info, 0, &hs) || info.Length() < 3 || !info[1].IsNumber() || !info[2].IsNumber() ||
      !lone_args(info, 3, &spacing, &base)) {
    return Throw(env, "startLib(handles: Float64Array, count, chunk, spacingUs?, base?: bigint)");
  }
  const uint64_t count = static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value());
  const size_t chunk = info[2].As<Napi::Number>().Uint32Value();
  if (spacing > 0 && chunk != 0) return Throw(env, "startLib: lone events use post (chunk 0)");
  const bool wait = info.Length() > 5 && info[5].ToBoolean().Value();
  if (!begin_job(env)) return env.Undefined();
  Job* job = g_job.get();
  const hr_api_v1* api = g_api;
  job->thread = std::thread([job, api, hs = std::move(hs), count, chunk, spacing, base, wait]() {
    pin_producer();
    job->cpu_start.store(sched_getcpu());
    const int64_t t0 = now_ns();
    const size_t nh = hs.size();
    const uint32_t kind = spacing > 0 ? 2 : 1;
    uint64_t retries = 0;
    if (chunk == 0) {
      size_t at = 0;
      for (uint64_t i = 0; i < count; ++i) {
        const uint64_t h = hs[at];
        if (++at == nh) at = 0;
        const double payload = spacing > 0 ? lone_payload(base) : static_cast<double>(i);
        for (;;) {
          const int32_t st = wait ? api->post_wait(h, kind, payload, HR_WAIT_FOREVER) : api->post(h, kind, payload);
          if (st == HR_STATUS_OK) break;
          if (st != HR_STATUS_QUEUE_FULL) {
            job->error.store(st);
            job->retries.store(retries);
            return;
          }
          ++retries;
          std::this_thread::yield();
        }
        if (spacing > 0) std::this_thread::sleep_for(std::chrono::microseconds(spacing));
      }
    } else {
      std::vector<hr_event_v1> ev(chunk);
      std::vector<int32_t> sts(chunk);
      size_t at = 0;
      for (uint64_t i = 0; i < count; i += chunk) {
        const size_t m = static_cast<size_t>(std::min<uint64_t>(chunk, count - i));
        for (size_t k = 0; k < m; ++k) {
          ev[k].handle = hs[at];
          if (++at == nh) at = 0;
          ev[k].kind = kind;
          ev[k].size = 0;
          ev[k].payload = static_cast<double>(i + k);
        }
        size_t off = 0;
        while (off < m) {
          const size_t ok = api->post_many(ev.data() + off, m - off, sts.data() + off);
          // One registry: the first QUEUE_FULL makes every later event of the
          // call QUEUE_FULL too, so the accepted ones are a prefix.
          size_t j = off;
          while (j < m && sts[j] == HR_STATUS_OK) ++j;
          if (j - off != ok || (j < m && sts[j] != HR_STATUS_QUEUE_FULL)) {
            job->error.store(j < m ? sts[j] : -1);
            job->retries.store(retries);
            return;
          }
          off = j;
          if (off < m) {
            ++retries;
            std::this_thread::yield();
          }
        }
      }
    }
    job->producer_ns.store(now_ns() - t0);
    job->cpu_end.store(sched_getcpu());
    job->retries.store(retries);
  });
  return env.Undefined();
}

// --- one TSFN call per event ------------------------------------------------

void CallJsEvent(Napi::Env env, Napi::Function fn, const Ev* e) {
  fn.Call({Napi::Number::New(env, static_cast<double>(e->handle)), Napi::Number::New(env, e->kind),
           Napi::Number::New(env, e->payload)});
}

void TypedCallJsEvent(Napi::Env env, Napi::Function fn, std::nullptr_t*, Ev* e) {
  if (env != nullptr && fn != nullptr) CallJsEvent(env, fn, e);
}
using TypedEventTsfn = Napi::TypedThreadSafeFunction<std::nullptr_t, Ev, TypedCallJsEvent>;

// startTsfn(fn(handle, kind, payload), handles, count, typed, maxQueue, spacingUs?, base?)
Napi::Value StartTsfn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<uint64_t> hs;
  int64_t spacing = 0, base = 0;
  if (info.Length() < 5 || !info[0].IsFunction() || !handles_arg(info, 1, &hs) || !info[2].IsNumber() ||
      !info[3].IsBoolean() || !info[4].IsNumber() || !lone_args(info, 5, &spacing, &base)) {
    return Throw(env, "startTsfn(fn, handles: Float64Array, count, typed, maxQueue, spacingUs?, base?: bigint)");
  }
  const uint64_t count = static_cast<uint64_t>(info[2].As<Napi::Number>().Int64Value());
  const bool typed = info[3].As<Napi::Boolean>().Value();
  const size_t max_queue = info[4].As<Napi::Number>().Uint32Value();
  if (max_queue == 0 && !typed) return Throw(env, "startTsfn: maxQueue 0 (NonBlockingCall, unbounded) needs typed");
  if (!begin_job(env)) return env.Undefined();
  Job* job = g_job.get();
  Napi::Function fn0 = info[0].As<Napi::Function>();
  if (max_queue == 0) {
    // Unbounded: every event may be pending at once, so each has its own cell.
    job->ring.resize(static_cast<size_t>(count));
    TypedEventTsfn tsfn = TypedEventTsfn::New(env, fn0, "events_bench:tsfn-nonblocking", 0, 1);
    job->thread = std::thread([job, tsfn, hs = std::move(hs), count, spacing, base]() mutable {
      const int64_t t0 = now_ns();
      const size_t nh = hs.size();
      for (uint64_t i = 0; i < count; ++i) {
        Ev* e = &job->ring[i];
        e->handle = hs[i % nh];
        e->kind = spacing > 0 ? 2 : 1;
        e->payload = spacing > 0 ? lone_payload(base) : static_cast<double>(i);
        const napi_status st = tsfn.NonBlockingCall(e);
        if (st != napi_ok) {
          job->error.store(st);
          break;
        }
        if (spacing > 0) std::this_thread::sleep_for(std::chrono::microseconds(spacing));
      }
      job->producer_ns.store(now_ns() - t0);
      tsfn.Release();
    });
    return env.Undefined();
  }
  // At most max_queue events wait in the TSFN queue and one is being
  // delivered: a ring of 2 * max_queue + 2 never overwrites a pending event.
  job->ring.resize(2 * max_queue + 2);
  Napi::Function fn = info[0].As<Napi::Function>();
  if (typed) {
    TypedEventTsfn tsfn = TypedEventTsfn::New(env, fn, "events_bench:tsfn-typed", max_queue, 1);
    job->thread = std::thread([job, tsfn, hs = std::move(hs), count, spacing, base]() mutable {
      const int64_t t0 = now_ns();
      const size_t nh = hs.size(), nr = job->ring.size();
      for (uint64_t i = 0; i < count; ++i) {
        Ev* e = &job->ring[i % nr];
        e->handle = hs[i % nh];
        e->kind = spacing > 0 ? 2 : 1;
        e->payload = spacing > 0 ? lone_payload(base) : static_cast<double>(i);
        const napi_status st = tsfn.BlockingCall(e);
        if (st != napi_ok) {
          job->error.store(st);
          break;
        }
        if (spacing > 0) std::this_thread::sleep_for(std::chrono::microseconds(spacing));
      }
      job->producer_ns.store(now_ns() - t0);
      tsfn.Release();
    });
  } else {
    Napi::ThreadSafeFunction tsfn = Napi::ThreadSafeFunction::New(env, fn, "events_bench:tsfn", max_queue, 1);
    job->thread = std::thread([job, tsfn, hs = std::move(hs), count, spacing, base]() mutable {
      const int64_t t0 = now_ns();
      const size_t nh = hs.size(), nr = job->ring.size();
      for (uint64_t i = 0; i < count; ++i) {
        Ev* e = &job->ring[i % nr];
        e->handle = hs[i % nh];
        e->kind = spacing > 0 ? 2 : 1;
        e->payload = spacing > 0 ? lone_payload(base) : static_cast<double>(i);
        // The usual node-addon-api form: data pointer + callback.
        const napi_status st = tsfn.BlockingCall(e, [](Napi::Env env, Napi::Function fn, Ev* ev) {
          if (env != nullptr && fn != nullptr) CallJsEvent(env, fn, ev);
        });
        if (st != napi_ok) {
          job->error.store(st);
          break;
        }
        if (spacing > 0) std::this_thread::sleep_for(std::chrono::microseconds(spacing));
      }
      job->producer_ns.store(now_ns() - t0);
      tsfn.Release();
    });
  }
  return env.Undefined();
}

// --- hand-batched TSFN ------------------------------------------------------

void CallJsBatch(Napi::Env env, Napi::Function fn, std::nullptr_t*, Slot* s) {
  if (env != nullptr && fn != nullptr) {
    fn.Call({Napi::Number::New(env, s->index), Napi::Number::New(env, s->n)});
  }
  s->free.store(true, std::memory_order_release);  // JS is done with the buffer
}
using BatchTsfn = Napi::TypedThreadSafeFunction<std::nullptr_t, Slot, CallJsBatch>;

// startTsfnBatched(fn(bufferIndex, count), buffers: Float64Array[], handles, count, batch)
// Each buffer holds at least 3 * batch doubles.
Napi::Value StartTsfnBatched(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<uint64_t> hs;
  if (info.Length() < 5 || !info[0].IsFunction() || !info[1].IsArray() || !handles_arg(info, 2, &hs) ||
      !info[3].IsNumber() || !info[4].IsNumber()) {
    return Throw(env, "startTsfnBatched(fn, buffers: Float64Array[], handles: Float64Array, count, batch)");
  }
  Napi::Array bufs = info[1].As<Napi::Array>();
  const uint64_t count = static_cast<uint64_t>(info[3].As<Napi::Number>().Int64Value());
  const uint32_t batch = info[4].As<Napi::Number>().Uint32Value();
  const uint32_t k = bufs.Length();
  if (k == 0 || batch == 0) return Throw(env, "startTsfnBatched: need buffers and batch > 0");
  if (!begin_job(env)) return env.Undefined();
  Job* job = g_job.get();
  job->slots = std::make_unique<Slot[]>(k);
  for (uint32_t i = 0; i < k; ++i) {
    Napi::Value v = bufs.Get(i);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
        v.As<Napi::Float64Array>().ElementLength() < 3 * size_t{batch}) {
      g_job.reset();
      return Throw(env, "startTsfnBatched: every buffer must be a Float64Array of >= 3 * batch");
    }
    job->slots[i].data = v.As<Napi::Float64Array>().Data();
    job->slots[i].index = i;
    job->refs.push_back(Napi::Persistent(v.As<Napi::Object>()));
  }
  BatchTsfn tsfn = BatchTsfn::New(env, info[0].As<Napi::Function>(), "events_bench:tsfn-batched", k, 1);
  job->thread = std::thread([job, tsfn, hs = std::move(hs), count, batch, k]() mutable {
    const int64_t t0 = now_ns();
    const size_t nh = hs.size();
    size_t at = 0;
    uint32_t next = 0;
    uint64_t waits = 0;
    for (uint64_t i = 0; i < count; i += batch) {
      Slot& s = job->slots[next];
      if (++next == k) next = 0;
      while (!s.free.load(std::memory_order_acquire)) {
        ++waits;
        std::this_thread::yield();
      }
      s.free.store(false, std::memory_order_relaxed);
      const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(batch, count - i));
      double* out = s.data;
      for (uint32_t j = 0; j < n; ++j) {
        out[3 * j] = static_cast<double>(hs[at]);
        if (++at == nh) at = 0;
        out[3 * j + 1] = 1;
        out[3 * j + 2] = static_cast<double>(i + j);
      }
      s.n = n;
      const napi_status st = tsfn.BlockingCall(&s);
      if (st != napi_ok) {
        job->error.store(st);
        break;
      }
    }
    job->producer_ns.store(now_ns() - t0);
    job->retries.store(waits);
    tsfn.Release();
  });
  return env.Undefined();
}

// join(): waits for the producer; returns { retries, error, producerNs }.
Napi::Value Join(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (g_job == nullptr) return Throw(env, "events_bench: nothing to join");
  if (g_job->thread.joinable()) g_job->thread.join();
  Napi::Object o = Napi::Object::New(env);
  o.Set("retries", Napi::Number::New(env, static_cast<double>(g_job->retries.load())));
  o.Set("error", Napi::Number::New(env, g_job->error.load()));
  o.Set("producerNs", Napi::Number::New(env, static_cast<double>(g_job->producer_ns.load())));
  o.Set("cpuStart", Napi::Number::New(env, g_job->cpu_start.load()));
  o.Set("cpuEnd", Napi::Number::New(env, g_job->cpu_end.load()));
  g_job.reset();
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("attach", Napi::Function::New(env, Attach, "attach"));
  exports.Set("now", Napi::Function::New(env, Now, "now"));
  exports.Set("startLib", Napi::Function::New(env, StartLib, "startLib"));
  exports.Set("startTsfn", Napi::Function::New(env, StartTsfn, "startTsfn"));
  exports.Set("startTsfnBatched", Napi::Function::New(env, StartTsfnBatched, "startTsfnBatched"));
  exports.Set("join", Napi::Function::New(env, Join, "join"));
  exports.Set("cpu", Napi::Function::New(env, Cpu, "cpu"));
  exports.Set("pinCpu", Napi::Function::New(env, PinCpu, "pinCpu"));
  return exports;
}

}  // namespace

NODE_API_MODULE(events_bench, Init)
