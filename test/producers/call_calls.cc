// call_calls.cc: the test addon's uses of api->call (blocking calls from
// native threads to a registry's onCall handler). Exported by producers.cc's
// module init (init_calls):
//
//   call(handle, kind, payload: number | Uint8Array, timeoutMs = forever)
//       -> { status, reply?: number | Uint8Array }
//     One api->call from the calling (JS) thread.
//   start_callers(handles: Float64Array, threads, callsPerThread, kindBase,
//                 timeoutMs = forever, mode = 0) -> id
//     Starts `threads` std::threads. Thread t makes callsPerThread calls;
//     call i goes to handles[i % handles.length] with kind kindBase + t.
//       mode 0: payload i; a reply equal to 2 * i counts as ok, any other
//               reply as mismatched.
//       mode 1: bytes [u32 LE i, u32 LE t, then 8 bytes (i + j) & 255]; the
//               reply must be the same bytes reversed.
//       mode 2: as mode 0, and before each call the thread posts the event
//               (kind, payload i) with api->post, so JS can check that a
//               thread's events and calls arrive in the order made.
//   callers_done(id) -> boolean       every thread finished
//   callers_waiting(id) -> number     threads inside api->call right now
//   join_callers(id) -> { ok, mismatched, threw, timeout, closed, stale,
//                         full, deadlock, other, elapsedMs }
//     Joins the threads (blocking this JS thread: wait for callers_done
//     first when they call into this thread's registry) and frees the group.
//
// Groups are process-wide (not per env): a group started on the main thread
// may call into a worker's registry that goes away while they wait, and is
// joined by the thread that started it.
#include <napi.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

#include "handle_registry_napi.h"
#include "napi_args.h"  // handle_of, status

namespace hr_test {

extern std::atomic<const hr_api_v1*> g_api;

namespace {

struct CallerCounts {
  std::atomic<uint64_t> ok{0}, mismatched{0}, threw{0}, timeout{0}, closed{0}, stale{0}, full{0},
      deadlock{0}, other{0};
};

struct CallerGroup {
  std::vector<uint64_t> handles;
  uint32_t calls = 0;
  uint32_t kind_base = 0;
  uint32_t timeout_ms = HR_WAIT_FOREVER;
  uint32_t mode = 0;
  std::vector<std::thread> threads;
  std::atomic<uint32_t> running{0};
  std::atomic<uint32_t> waiting{0};
  CallerCounts counts;
  std::chrono::steady_clock::time_point start;
  std::atomic<int64_t> end_ns{0};
};

std::mutex g_groups_mutex;
std::unordered_map<uint32_t, CallerGroup*> g_groups;
uint32_t g_next_group = 1;

void count(CallerCounts& c, int32_t st) {
  switch (st) {
    case HR_STATUS_THREW: c.threw.fetch_add(1); break;
    case HR_STATUS_TIMEOUT: c.timeout.fetch_add(1); break;
    case HR_STATUS_REGISTRY_CLOSED: c.closed.fetch_add(1); break;
    case HR_STATUS_STALE_HANDLE: c.stale.fetch_add(1); break;
    case HR_STATUS_QUEUE_FULL: c.full.fetch_add(1); break;
    case HR_STATUS_WOULD_DEADLOCK: c.deadlock.fetch_add(1); break;
    default: c.other.fetch_add(1); break;
  }
}

void run_caller(const hr_api_v1* api, CallerGroup* g, uint32_t t) {
  for (uint32_t i = 0; i < g->calls; ++i) {
    const uint64_t h = g->handles[i % g->handles.size()];
    const uint32_t kind = g->kind_base + t;
    hr_reply_v1 reply;
    int32_t st;
    bool good = false;
    g->waiting.fetch_add(1);
    if (g->mode == 1) {
      uint8_t req[16];
      std::memcpy(req, &i, 4);  // little-endian hosts (x64, arm64)
      std::memcpy(req + 4, &t, 4);
      for (uint32_t j = 0; j < 8; ++j) req[8 + j] = static_cast<uint8_t>((i + j) & 255);
      st = api->call(h, kind, 0, req, sizeof req, g->timeout_ms, &reply);
      if (st == HR_STATUS_OK) {
        good = reply.is_bytes == 1 && reply.size == sizeof req;
        for (uint32_t j = 0; good && j < sizeof req; ++j) {
          good = static_cast<const uint8_t*>(reply.bytes)[j] == req[sizeof req - 1 - j];
        }
      }
    } else {
      if (g->mode == 2) api->post(h, kind, static_cast<double>(i));
      st = api->call(h, kind, static_cast<double>(i), nullptr, 0, g->timeout_ms, &reply);
      good = st == HR_STATUS_OK && reply.is_bytes == 0 && reply.number == 2.0 * i;
    }
    g->waiting.fetch_sub(1);
    if (st == HR_STATUS_OK) {
      (good ? g->counts.ok : g->counts.mismatched).fetch_add(1);
      api->free_reply(&reply);
    } else {
      count(g->counts, st);
    }
  }
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - g->start);
  int64_t prev = g->end_ns.load();
  while (prev < ns.count() && !g->end_ns.compare_exchange_weak(prev, ns.count())) {
  }
  g->running.fetch_sub(1);
}

CallerGroup* group_arg(const Napi::CallbackInfo& info) {
  const uint32_t id = info[0].ToNumber().Uint32Value();
  std::lock_guard<std::mutex> lock(g_groups_mutex);
  const auto it = g_groups.find(id);
  return it == g_groups.end() ? nullptr : it->second;
}

Napi::Value Call(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const hr_api_v1* api = g_api.load(std::memory_order_acquire);
  Napi::Object o = Napi::Object::New(env);
  if (api == nullptr) {
    o.Set("status", status(env, HR_STATUS_NOT_ATTACHED));
    return o;
  }
  const uint64_t h = handle_of(info[0]);
  const uint32_t kind = info[1].ToNumber().Uint32Value();
  const uint32_t timeout = info.Length() > 3 && info[3].IsNumber() ? info[3].ToNumber().Uint32Value() : HR_WAIT_FOREVER;
  hr_reply_v1 reply;
  int32_t st;
  if (info[2].IsTypedArray()) {
    Napi::Uint8Array bytes = info[2].As<Napi::Uint8Array>();
    st = api->call(h, kind, 0, bytes.Data(), static_cast<uint32_t>(bytes.ElementLength()), timeout, &reply);
  } else {
    st = api->call(h, kind, info[2].ToNumber().DoubleValue(), nullptr, 0, timeout, &reply);
  }
  o.Set("status", status(env, st));
  if (st == HR_STATUS_OK) {
    if (reply.is_bytes) {
      Napi::Uint8Array copy = Napi::Uint8Array::New(env, reply.size);
      if (reply.size > 0) std::memcpy(copy.Data(), reply.bytes, reply.size);
      o.Set("reply", copy);
    } else {
      o.Set("reply", Napi::Number::New(env, reply.number));
    }
    api->free_reply(&reply);
  }
  return o;
}

Napi::Value StartCallers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const hr_api_v1* api = g_api.load(std::memory_order_acquire);
  if (api == nullptr || info.Length() < 4 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      info[0].As<Napi::TypedArray>().ElementLength() == 0) {
    Napi::TypeError::New(env, "start_callers(handles: Float64Array, threads, calls, kindBase, timeoutMs?, mode?)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* g = new CallerGroup();
  Napi::Float64Array hs = info[0].As<Napi::Float64Array>();
  for (size_t i = 0; i < hs.ElementLength(); ++i) g->handles.push_back(static_cast<uint64_t>(hs[i]));
  const uint32_t threads = info[1].ToNumber().Uint32Value();
  g->calls = info[2].ToNumber().Uint32Value();
  g->kind_base = info[3].ToNumber().Uint32Value();
  if (info.Length() > 4 && info[4].IsNumber()) g->timeout_ms = info[4].ToNumber().Uint32Value();
  if (info.Length() > 5 && info[5].IsNumber()) g->mode = info[5].ToNumber().Uint32Value();
  uint32_t id;
  {
    std::lock_guard<std::mutex> lock(g_groups_mutex);
    id = g_next_group++;
    g_groups.emplace(id, g);
  }
  g->start = std::chrono::steady_clock::now();
  g->running.store(threads);
  for (uint32_t t = 0; t < threads; ++t) {
    try {
      g->threads.emplace_back(run_caller, api, g, t);
    } catch (const std::system_error&) {
      g->running.fetch_sub(1);
    }
  }
  return Napi::Number::New(env, id);
}

Napi::Value CallersDone(const Napi::CallbackInfo& info) {
  CallerGroup* g = group_arg(info);
  return Napi::Boolean::New(info.Env(), g == nullptr || g->running.load() == 0);
}

Napi::Value CallersWaiting(const Napi::CallbackInfo& info) {
  CallerGroup* g = group_arg(info);
  return Napi::Number::New(info.Env(), g == nullptr ? 0 : g->waiting.load());
}

Napi::Value JoinCallers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CallerGroup* g = group_arg(info);
  if (g == nullptr) return env.Undefined();
  for (auto& t : g->threads) t.join();
  {
    std::lock_guard<std::mutex> lock(g_groups_mutex);
    g_groups.erase(info[0].ToNumber().Uint32Value());
  }
  const CallerCounts& c = g->counts;
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", static_cast<double>(c.ok.load()));
  o.Set("mismatched", static_cast<double>(c.mismatched.load()));
  o.Set("threw", static_cast<double>(c.threw.load()));
  o.Set("timeout", static_cast<double>(c.timeout.load()));
  o.Set("closed", static_cast<double>(c.closed.load()));
  o.Set("stale", static_cast<double>(c.stale.load()));
  o.Set("full", static_cast<double>(c.full.load()));
  o.Set("deadlock", static_cast<double>(c.deadlock.load()));
  o.Set("other", static_cast<double>(c.other.load()));
  o.Set("elapsedMs", static_cast<double>(g->end_ns.load()) / 1e6);
  delete g;
  return o;
}

}  // namespace

void init_calls(Napi::Env env, Napi::Object exports) {
  exports.Set("call", Napi::Function::New(env, Call, "call"));
  exports.Set("start_callers", Napi::Function::New(env, StartCallers, "start_callers"));
  exports.Set("callers_done", Napi::Function::New(env, CallersDone, "callers_done"));
  exports.Set("callers_waiting", Napi::Function::New(env, CallersWaiting, "callers_waiting"));
  exports.Set("join_callers", Napi::Function::New(env, JoinCallers, "join_callers"));
}

}  // namespace hr_test
