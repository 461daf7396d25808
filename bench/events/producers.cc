// producers.cc: the native side of the many-producers benchmark
// (bench/events/producers.js). T native std::threads post `count` events each,
// at once:
//   startLib(handleSets, count, how)       thread t posts the handles of
//                                          handleSets[t] (so one registry or
//                                          several), per event:
//                                          how 0: api->post, retrying with a
//                                          yield on HR_STATUS_QUEUE_FULL (spins);
//                                          how 1: api->post_wait(HR_WAIT_FOREVER)
//                                          (sleeps while the queue is full);
//                                          how 2: api->post to registries with
//                                          whenFull 'block' (post itself sleeps)
//   startTsfn(fns, handleSets, count, q)   one Napi::TypedThreadSafeFunction per
//                                          thread (calling fns[t]): q > 0:
//                                          BlockingCall with a queue of q;
//                                          q = 0: NonBlockingCall, unbounded
// join() waits for every thread: { error, retries, producerNs (slowest thread),
// yieldNs, cpuNs, voluntary, involuntary, queuedNs (the producers' sums: time
// in yield, CPU time and context switches from getrusage(RUSAGE_THREAD), time
// runnable but off a core from /proc/thread-self/schedstat) }.
// threadUsage(): the calling (JS) thread's { cpuNs, voluntary, involuntary, queuedNs }.
// pin(jsCpu, producerCpu): pins the JS thread and the producers started later.
#include <napi.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "handle_registry_abi.h"

namespace {

inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

const hr_api_v1* g_api = nullptr;

struct Ev {
  uint64_t handle;
  uint32_t kind;
  double payload;
};

void TypedCallJsEvent(Napi::Env env, Napi::Function fn, std::nullptr_t*, Ev* e) {
  if (env == nullptr || fn == nullptr) return;
  fn.Call({Napi::Number::New(env, static_cast<double>(e->handle)), Napi::Number::New(env, e->kind),
           Napi::Number::New(env, e->payload)});
}
using EventTsfn = Napi::TypedThreadSafeFunction<std::nullptr_t, Ev, TypedCallJsEvent>;

struct Job {
  std::vector<std::thread> threads;
  std::vector<std::vector<Ev>> rings;  // TSFN: per thread, one cell per event (never overwritten)
  std::atomic<uint64_t> retries{0};
  std::atomic<int32_t> error{0};
  std::atomic<int64_t> producer_ns{0};  // the slowest thread's start-to-last-post
  std::atomic<int64_t> yield_ns{0};      // all threads: time spent in std::this_thread::yield
  std::atomic<int64_t> cpu_ns{0};        // all threads: user + system time
  std::atomic<int64_t> voluntary{0};     // all threads: context switches (slept: a wait)
  std::atomic<int64_t> involuntary{0};   // all threads: context switches (preempted)
  std::atomic<int64_t> queued_ns{0};     // all threads: time runnable but not running
};

// The calling thread's CPU time and context switches (Linux RUSAGE_THREAD;
// zeros elsewhere).
struct Usage {
  int64_t cpu_ns = 0, voluntary = 0, involuntary = 0;
  int64_t queued_ns = 0;  // runnable, waiting for a core (schedstat's run_delay)
};
Usage thread_usage() {
  Usage u;
  if (FILE* f = std::fopen("/proc/thread-self/schedstat", "r")) {  // run ns, run_delay ns, slices
    long long run = 0, delay = 0, slices = 0;
    if (std::fscanf(f, "%lld %lld %lld", &run, &delay, &slices) == 3) u.queued_ns = delay;
    std::fclose(f);
  }
#if defined(RUSAGE_THREAD)
  rusage r{};
  if (getrusage(RUSAGE_THREAD, &r) == 0) {
    u.cpu_ns = (static_cast<int64_t>(r.ru_utime.tv_sec) + r.ru_stime.tv_sec) * 1000000000 +
               (static_cast<int64_t>(r.ru_utime.tv_usec) + r.ru_stime.tv_usec) * 1000;
    u.voluntary = r.ru_nvcsw;
    u.involuntary = r.ru_nivcsw;
  }
#endif
  return u;
}

// Pins the calling thread to `cpu` (< 0: any cpu). False if that failed.
bool pin_to(int cpu) {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (cpu < 0) {
    for (int i = 0; i < CPU_SETSIZE; ++i) CPU_SET(i, &set);
  } else {
    CPU_SET(cpu, &set);
  }
  return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
#else
  return cpu < 0;
#endif
}
int g_producer_cpu = -1;  // pin(): where producer threads run (-1: anywhere)

void record_usage(Job* job) {
  const Usage u = thread_usage();
  job->cpu_ns.fetch_add(u.cpu_ns);
  job->voluntary.fetch_add(u.voluntary);
  job->involuntary.fetch_add(u.involuntary);
  job->queued_ns.fetch_add(u.queued_ns);
}
std::unique_ptr<Job> g_job;

Napi::Value Throw(Napi::Env env, const char* message) {
  Napi::Error::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

bool handle_sets(const Napi::Value& v, std::vector<std::vector<uint64_t>>* out) {
  if (!v.IsArray()) return false;
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() == 0 || a.Length() > 64) return false;
  for (uint32_t t = 0; t < a.Length(); ++t) {
    Napi::Value e = a.Get(t);
    if (!e.IsTypedArray() || e.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) return false;
    Napi::Float64Array f = e.As<Napi::Float64Array>();
    if (f.ElementLength() == 0) return false;
    out->emplace_back(f.ElementLength());
    for (size_t k = 0; k < f.ElementLength(); ++k) out->back()[k] = static_cast<uint64_t>(f[k]);
  }
  return true;
}

void record_time(Job* job, int64_t ns) {
  int64_t prev = job->producer_ns.load();
  while (ns > prev && !job->producer_ns.compare_exchange_weak(prev, ns)) {
  }
}

// attach(registry.nativeApi): the type-tagged external (as bench.cc; the
// bigint address this took before the security merge is gone).
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

Napi::Value StartLib(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<std::vector<uint64_t>> sets;
  if (g_api == nullptr) return Throw(env, "producers_bench: attach() first");
  if (g_job != nullptr) return Throw(env, "producers_bench: join() first");
  if (info.Length() < 3 || !handle_sets(info[0], &sets) || !info[1].IsNumber() || !info[2].IsNumber() ||
      info[2].As<Napi::Number>().Uint32Value() > 2) {
    return Throw(env, "startLib(handleSets: Float64Array[], countPerThread, how: 0 spin | 1 post_wait | 2 post)");
  }
  const uint64_t count = static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value());
  const uint32_t how = info[2].As<Napi::Number>().Uint32Value();
  g_job = std::make_unique<Job>();
  Job* job = g_job.get();
  const hr_api_v1* api = g_api;
  for (size_t t = 0; t < sets.size(); ++t) {
    job->threads.emplace_back([job, api, hs = std::move(sets[t]), count, how, cpu = g_producer_cpu]() {
      if (cpu >= 0) pin_to(cpu);
      const int64_t t0 = now_ns();
      const size_t nh = hs.size();
      uint64_t retries = 0;
      int64_t yield_ns = 0;
      size_t at = 0;
      for (uint64_t i = 0; i < count; ++i) {
        const uint64_t h = hs[at];
        if (++at == nh) at = 0;
        if (how == 1) {  // sleeps on the registry's Room while the queue is full
          const int32_t st = api->post_wait(h, 1, static_cast<double>(i), HR_WAIT_FOREVER);
          if (st != HR_STATUS_OK) {
            job->error.store(st);
            return;
          }
          continue;
        }
        for (;;) {
          const int32_t st = api->post(h, 1, static_cast<double>(i));
          if (st == HR_STATUS_OK) break;
          if (st != HR_STATUS_QUEUE_FULL || how != 0) {  // 'block' waits inside post: never QUEUE_FULL
            job->error.store(st);
            return;
          }
          ++retries;
          const int64_t y0 = now_ns();
          std::this_thread::yield();
          yield_ns += now_ns() - y0;
        }
      }
      record_time(job, now_ns() - t0);
      job->retries.fetch_add(retries);
      job->yield_ns.fetch_add(yield_ns);
      record_usage(job);
    });
  }
  return env.Undefined();
}

Napi::Value StartTsfn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<std::vector<uint64_t>> sets;
  if (g_job != nullptr) return Throw(env, "producers_bench: join() first");
  if (info.Length() < 4 || !info[0].IsArray() || !handle_sets(info[1], &sets) || !info[2].IsNumber() ||
      !info[3].IsNumber() || info[0].As<Napi::Array>().Length() != sets.size()) {
    return Throw(env, "startTsfn(fns: Function[], handleSets: Float64Array[], countPerThread, maxQueue)");
  }
  const uint64_t count = static_cast<uint64_t>(info[2].As<Napi::Number>().Int64Value());
  const size_t max_queue = info[3].As<Napi::Number>().Uint32Value();
  Napi::Array fns = info[0].As<Napi::Array>();
  g_job = std::make_unique<Job>();
  Job* job = g_job.get();
  // BlockingCall: at most max_queue pending and one being delivered, so a ring
  // of 2 * max_queue + 2 cells is never overwritten; unbounded: one per event.
  job->rings.resize(sets.size());
  for (auto& r : job->rings) r.resize(max_queue > 0 ? std::min<uint64_t>(count, 2 * max_queue + 2) : count);
  for (size_t t = 0; t < sets.size(); ++t) {
    EventTsfn tsfn = EventTsfn::New(env, fns.Get(static_cast<uint32_t>(t)).As<Napi::Function>(),
                                    "producers_bench:tsfn", max_queue, 1);
    std::vector<Ev>* ring = &job->rings[t];
    job->threads.emplace_back([job, tsfn, ring, hs = std::move(sets[t]), count, max_queue,
                               cpu = g_producer_cpu]() mutable {
      if (cpu >= 0) pin_to(cpu);
      const int64_t t0 = now_ns();
      const size_t nh = hs.size(), nr = ring->size();
      for (uint64_t i = 0; i < count; ++i) {
        Ev* e = &(*ring)[i % nr];
        e->handle = hs[i % nh];
        e->kind = 1;
        e->payload = static_cast<double>(i);
        const napi_status st = max_queue > 0 ? tsfn.BlockingCall(e) : tsfn.NonBlockingCall(e);
        if (st != napi_ok) {
          job->error.store(st);
          break;
        }
      }
      record_time(job, now_ns() - t0);
      record_usage(job);
      tsfn.Release();
    });
  }
  return env.Undefined();
}

Napi::Value Join(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (g_job == nullptr) return Throw(env, "producers_bench: nothing to join");
  for (auto& t : g_job->threads) t.join();
  Napi::Object o = Napi::Object::New(env);
  o.Set("retries", Napi::Number::New(env, static_cast<double>(g_job->retries.load())));
  o.Set("error", Napi::Number::New(env, g_job->error.load()));
  o.Set("producerNs", Napi::Number::New(env, static_cast<double>(g_job->producer_ns.load())));
  o.Set("yieldNs", Napi::Number::New(env, static_cast<double>(g_job->yield_ns.load())));
  o.Set("cpuNs", Napi::Number::New(env, static_cast<double>(g_job->cpu_ns.load())));
  o.Set("voluntary", Napi::Number::New(env, static_cast<double>(g_job->voluntary.load())));
  o.Set("involuntary", Napi::Number::New(env, static_cast<double>(g_job->involuntary.load())));
  o.Set("queuedNs", Napi::Number::New(env, static_cast<double>(g_job->queued_ns.load())));
  g_job.reset();
  return o;
}

Napi::Value ThreadUsage(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Usage u = thread_usage();
  Napi::Object o = Napi::Object::New(env);
  o.Set("cpuNs", Napi::Number::New(env, static_cast<double>(u.cpu_ns)));
  o.Set("voluntary", Napi::Number::New(env, static_cast<double>(u.voluntary)));
  o.Set("involuntary", Napi::Number::New(env, static_cast<double>(u.involuntary)));
  o.Set("queuedNs", Napi::Number::New(env, static_cast<double>(u.queued_ns)));
  return o;
}

// pin(jsCpu, producerCpu): pins the calling (JS) thread, and the producer
// threads started from now on (-1: anywhere). The --pin experiment of
// producers.js: the JS thread alone on one core, every producer on the other.
Napi::Value Pin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) return Throw(env, "pin(jsCpu, producerCpu)");
  if (!pin_to(info[0].As<Napi::Number>().Int32Value())) return Throw(env, "pin: pthread_setaffinity_np failed");
  g_producer_cpu = info[1].As<Napi::Number>().Int32Value();
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("pin", Napi::Function::New(env, Pin, "pin"));
  exports.Set("threadUsage", Napi::Function::New(env, ThreadUsage, "threadUsage"));
  exports.Set("attach", Napi::Function::New(env, Attach, "attach"));
  exports.Set("startLib", Napi::Function::New(env, StartLib, "startLib"));
  exports.Set("startTsfn", Napi::Function::New(env, StartTsfn, "startTsfn"));
  exports.Set("join", Napi::Function::New(env, Join, "join"));
  return exports;
}

}  // namespace

NODE_API_MODULE(producers_bench, Init)
