// uv_timer.cc: a consumer addon of handle-registry that wraps libuv, the C
// library inside Node, through its `void* data` fields.
//
// libuv calls back with a pointer to its own struct (uv_timer_t*, uv_work_t*)
// whose `data` field is the user's. Here `data` carries a handle-registry
// handle (hr::to_user_data), never a pointer to anything JavaScript owns.
// Every callback turns it back into a handle (hr::from_user_data) and posts an
// event to it through the registry's C ABI (api->post). The registry resolves
// the handle on the JS thread and calls registry.onEvent's handler with the
// registered value; if JS released the handle (or closed its registry) in the
// meantime, the post returns HR_STATUS_STALE_HANDLE (HR_STATUS_REGISTRY_CLOSED)
// and the addon stops its work: no dangling pointer is ever followed.
//
//   - startTimer(h, intervalMs, ticks): a uv_timer_t on the JS thread's loop;
//     the timer callback runs on that (loop) thread.
//   - queueWork(h, steps, delayMs): uv_queue_work; the work callback runs on
//     a thread of libuv's threadpool (a thread JS never runs on) and posts one
//     event per step; the after-work callback runs back on the loop thread.
//   - takeLog(): every post this addon made, with its status, so JS can show
//     (and the tests check) what each callback was told.
//
// Native state (the tick counter, the uv structs themselves) is plain native
// memory owned by the addon; only the link to JS goes through the handle.
#include <napi.h>
#include <uv.h>

#include "handle_registry.h"
#include "handle_registry_abi.h"
#include "handle_registry_napi.h"  // hr::attach

#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace {

// Event kinds this addon posts (the handler's `kind` argument).
enum Kind : uint32_t {
  kTick = 1,       // timer fired; payload = tick number (1, 2, ...)
  kTimerDone = 2,  // timer finished its ticks; payload = ticks
  kProgress = 3,   // work step done (threadpool thread); payload = step (1, 2, ...)
  kWorkDone = 4,   // after-work (loop thread); payload = steps posted OK
};

// The registry addon's C ABI table: static, valid for the life of the process.
const hr_api_v1* g_api = nullptr;
std::thread::id g_js_thread;

// Every post, with its outcome. Leaked on purpose: a threadpool callback may
// still run while the process exits.
struct LogEntry {
  hr::Handle handle;
  const char* source;  // "timer", "work" or "after_work"
  uint32_t kind;
  double payload;
  int32_t status;  // HR_STATUS_*
  bool js_thread;  // posted from the JS thread?
};
std::mutex& log_mutex() {
  static std::mutex* mu = new std::mutex();
  return *mu;
}
std::vector<LogEntry>& log_entries() {
  static std::vector<LogEntry>* v = new std::vector<LogEntry>();
  return *v;
}

int32_t post_and_log(hr::Handle h, const char* source, uint32_t kind, double payload) {
  const int32_t st = g_api->post(h, kind, payload);  // any thread, never blocks
  std::lock_guard<std::mutex> lock(log_mutex());
  log_entries().push_back({h, source, kind, payload, st, std::this_thread::get_id() == g_js_thread});
  return st;
}

// The handle is gone for good: released, its registry closed, or never valid.
// (HR_STATUS_QUEUE_FULL only drops this one event.)
bool gone(int32_t st) {
  return st == HR_STATUS_STALE_HANDLE || st == HR_STATUS_REGISTRY_CLOSED ||
         st == HR_STATUS_INVALID_HANDLE;
}

std::atomic<int32_t> g_active{0};  // timers and work items not finished yet

// --- timer -------------------------------------------------------------------

struct Timer {
  uv_timer_t uv;  // first member: libuv's uv_timer_t* is also our Timer*
  uint32_t fired = 0;
  uint32_t ticks = 0;
};
static_assert(std::is_standard_layout<Timer>::value, "Timer* <-> uv_timer_t*");

void OnTimerClosed(uv_handle_t* handle) {
  delete reinterpret_cast<Timer*>(handle);
  g_active.fetch_sub(1);
}

void OnTick(uv_timer_t* uv) {  // loop (JS) thread
  Timer* timer = reinterpret_cast<Timer*>(uv);
  const hr::Handle h = hr::from_user_data(uv->data);
  const uint32_t n = ++timer->fired;
  bool done = gone(post_and_log(h, "timer", kTick, n));
  if (!done && n >= timer->ticks) {
    post_and_log(h, "timer", kTimerDone, n);
    done = true;
  }
  if (done) {
    uv_timer_stop(uv);
    uv_close(reinterpret_cast<uv_handle_t*>(uv), OnTimerClosed);
  }
}

// --- work --------------------------------------------------------------------

struct Work {
  uv_work_t req;  // first member: uv_work_t* is also our Work*
  uint32_t steps = 0;
  uint32_t delay_ms = 0;
  uint32_t posted_ok = 0;  // written by the work thread, read after it (libuv orders them)
};
static_assert(std::is_standard_layout<Work>::value, "Work* <-> uv_work_t*");

void DoWork(uv_work_t* req) {  // a libuv threadpool thread
  Work* work = reinterpret_cast<Work*>(req);
  const hr::Handle h = hr::from_user_data(req->data);
  for (uint32_t i = 1; i <= work->steps; ++i) {
    // The "work": wait, then report progress to the handle's owner.
    std::this_thread::sleep_for(std::chrono::milliseconds(work->delay_ms));
    const int32_t st = post_and_log(h, "work", kProgress, i);
    if (st == HR_STATUS_OK) work->posted_ok++;
    if (gone(st)) break;  // nobody wants the result any more: stop working
  }
}

void AfterWork(uv_work_t* req, int status) {  // loop (JS) thread
  Work* work = reinterpret_cast<Work*>(req);
  const hr::Handle h = hr::from_user_data(req->data);
  post_and_log(h, "after_work", kWorkDone, status == UV_ECANCELED ? -1 : work->posted_ok);
  delete work;
  g_active.fetch_sub(1);
}

// --- JS functions ------------------------------------------------------------

bool RequireAttached(Napi::Env env) {
  if (g_api != nullptr) return true;
  Napi::Error::New(env, "uv-timer example: call attach(registry) first").ThrowAsJavaScriptException();
  return false;
}

// A JS number that is a well-formed handle (1 .. 2^53-1, block != 0), else throws.
bool GetHandle(const Napi::CallbackInfo& info, size_t i, hr::Handle* out) {
  Napi::Env env = info.Env();
  const double d = info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : 0;
  if (!(d >= 1 && d <= 9007199254740991.0) || std::floor(d) != d ||
      !hr::is_valid(static_cast<hr::Handle>(d))) {
    Napi::TypeError::New(env, "uv-timer example: expected a handle (a positive safe integer)")
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<hr::Handle>(d);
  return true;
}

uint32_t GetU32(const Napi::CallbackInfo& info, size_t i, uint32_t fallback) {
  return info[i].IsNumber() ? info[i].As<Napi::Number>().Uint32Value() : fallback;
}

// attach(registry | registry.nativeApi)
Napi::Value Attach(const Napi::CallbackInfo& info) {
  const hr_api_v1* api = hr::attach(info.Env(), info[0]);
  if (api == nullptr) return Napi::Value();  // JS exception pending
  g_api = api;
  g_js_thread = std::this_thread::get_id();
  return info.Env().Undefined();
}

uv_loop_t* Loop(Napi::Env env) {
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  return loop;
}

// startTimer(handle, intervalMs, ticks)
Napi::Value StartTimer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  hr::Handle h;
  if (!RequireAttached(env) || !GetHandle(info, 0, &h)) return Napi::Value();
  const uint32_t interval = GetU32(info, 1, 10);
  Timer* timer = new Timer();
  timer->ticks = GetU32(info, 2, 1);
  uv_timer_init(Loop(env), &timer->uv);
  timer->uv.data = hr::to_user_data(h);  // the handle, not a pointer
  g_active.fetch_add(1);
  uv_timer_start(&timer->uv, OnTick, interval, interval);
  return env.Undefined();
}

// queueWork(handle, steps, delayMs)
Napi::Value QueueWork(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  hr::Handle h;
  if (!RequireAttached(env) || !GetHandle(info, 0, &h)) return Napi::Value();
  Work* work = new Work();
  work->steps = GetU32(info, 1, 1);
  work->delay_ms = GetU32(info, 2, 0);
  work->req.data = hr::to_user_data(h);  // the handle, not a pointer
  g_active.fetch_add(1);
  const int rc = uv_queue_work(Loop(env), &work->req, DoWork, AfterWork);
  if (rc != 0) {
    g_active.fetch_sub(1);
    delete work;
    Napi::Error::New(env, uv_strerror(rc)).ThrowAsJavaScriptException();
    return Napi::Value();
  }
  return env.Undefined();
}

// takeLog() -> [{ handle, source, kind, payload, status, jsThread }], oldest first; clears it.
Napi::Value TakeLog(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<LogEntry> taken;
  {
    std::lock_guard<std::mutex> lock(log_mutex());
    taken.swap(log_entries());
  }
  Napi::Array out = Napi::Array::New(env, taken.size());
  for (size_t i = 0; i < taken.size(); ++i) {
    const LogEntry& e = taken[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("handle", Napi::Number::New(env, static_cast<double>(e.handle)));
    o.Set("source", Napi::String::New(env, e.source));
    o.Set("kind", Napi::Number::New(env, e.kind));
    o.Set("payload", Napi::Number::New(env, e.payload));
    o.Set("status", Napi::String::New(env, hr_status_name(e.status)));
    o.Set("jsThread", Napi::Boolean::New(env, e.js_thread));
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}

// active() -> timers and work items not finished yet
Napi::Value Active(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), g_active.load());
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("attach", Napi::Function::New(env, Attach, "attach"));
  exports.Set("startTimer", Napi::Function::New(env, StartTimer, "startTimer"));
  exports.Set("queueWork", Napi::Function::New(env, QueueWork, "queueWork"));
  exports.Set("takeLog", Napi::Function::New(env, TakeLog, "takeLog"));
  exports.Set("active", Napi::Function::New(env, Active, "active"));
  Napi::Object kinds = Napi::Object::New(env);
  kinds.Set("TICK", Napi::Number::New(env, kTick));
  kinds.Set("TIMER_DONE", Napi::Number::New(env, kTimerDone));
  kinds.Set("PROGRESS", Napi::Number::New(env, kProgress));
  kinds.Set("WORK_DONE", Napi::Number::New(env, kWorkDone));
  exports.Set("kinds", kinds);
  return exports;
}

}  // namespace

NODE_API_MODULE(uv_timer, Init)
