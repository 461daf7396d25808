// posix_timer.cc: a consumer addon of handle-registry that wraps POSIX timers
// from glibc, a C library that calls back on threads of its OWN.
//
// timer_create(CLOCK_MONOTONIC, { SIGEV_THREAD, sigev_value.sival_ptr =
// user_data }) makes glibc call our notify function, at each expiration, on a
// thread that glibc itself creates: neither Node's thread nor one of this
// addon's. The only thing glibc hands back is the `union sigval` we gave it,
// so `sival_ptr` carries a handle-registry handle (hr::to_user_data), never a
// pointer to something JavaScript owns.
//
// At each expiration the notify function turns the sigval back into a handle
// (hr::from_user_data) and posts an event to it through the registry's C ABI
// (api->post). The registry routes it to the registry that owns the handle and
// calls its registry.onEvent handler, on that registry's JS thread, with the
// registered value. When JS has released the handle (or closed its registry)
// before the timer fires, the post returns HR_STATUS_STALE_HANDLE
// (HR_STATUS_REGISTRY_CLOSED): the addon records that status, deletes the timer
// and frees its native state. Nothing dangling is ever dereferenced.
//
// Native state (glibc's timer_t, the tick counter) lives in an
// hr::ShardedMap keyed by the handle: the notify threads of many timers look
// their entries up concurrently, each holding one shard's mutex.
//
// burst.cc, in the same addon, holds the producers of the throughput
// comparison (registry post/post_many vs one ThreadSafeFunction call per event).
#include <napi.h>

#include "handle_registry.h"
#include "handle_registry_abi.h"
#include "handle_registry_sharded_map.h"
#include "handle_registry_napi.h"  // hr::attach

#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "shared.h"

namespace {

// Event kinds this addon posts (the handler's `kind` argument).
enum Kind : uint32_t {
  kTick = 1,  // the timer expired; payload = expiration number (1, 2, ...)
  kDone = 2,  // the timer expired for the last time; payload = expirations
};

// A timer's native state, keyed by its handle in g_timers.
struct PosixTimer {
  timer_t id{};
  uint32_t fired = 0;   // expirations seen so far
  uint32_t ticks = 0;   // expirations wanted
  bool finished = false;  // deleted; the entry is about to be erased
};

// Leaked on purpose (never destroyed): a glibc notify thread may still run
// while the process exits.
hr::ShardedMap<PosixTimer>& timers() {
  static auto* map = new hr::ShardedMap<PosixTimer>();
  return *map;
}

struct LogEntry {
  hr::Handle handle;
  uint32_t kind;
  double payload;
  int32_t status;  // HR_STATUS_*
  int32_t tid;     // Linux thread id of the thread that posted
};
std::mutex& log_mutex() {
  static auto* mu = new std::mutex();
  return *mu;
}
std::vector<LogEntry>& log_entries() {
  static auto* v = new std::vector<LogEntry>();
  return *v;
}

int32_t post_and_log(hr::Handle h, uint32_t kind, double payload) {
  const int32_t st = hr_example::g_api->post(h, kind, payload);  // any thread, never blocks
  const int32_t tid = static_cast<int32_t>(syscall(SYS_gettid));
  std::lock_guard<std::mutex> lock(log_mutex());
  log_entries().push_back({h, kind, payload, st, tid});
  return st;
}

// The handle is gone for good: released, its registry closed, or never valid.
// (HR_STATUS_QUEUE_FULL only drops this one event.)
bool gone(int32_t st) {
  return st == HR_STATUS_STALE_HANDLE || st == HR_STATUS_REGISTRY_CLOSED ||
         st == HR_STATUS_INVALID_HANDLE;
}

// glibc's SIGEV_THREAD notify function: runs on a thread glibc created.
void OnExpire(union sigval sv) {
  const hr::Handle h = hr::from_user_data(sv.sival_ptr);
  bool erase = false;
  // Under h's shard mutex: expirations of one timer (each on its own glibc
  // thread) count and post one at a time, so its events arrive in order.
  timers().find(h, [&](PosixTimer& t) {
    if (t.finished) return;  // a late expiration of a timer already deleted
    const uint32_t n = ++t.fired;
    const int32_t st = post_and_log(h, kTick, n);
    if (!gone(st) && n < t.ticks) return;
    if (!gone(st)) post_and_log(h, kDone, n);
    // Done, or JS does not want the events any more: stop the timer here.
    // (timer_delete from its own notify thread is fine: glibc copied the
    // sigval for this thread and ignores expirations of deleted timers.)
    timer_delete(t.id);
    t.finished = true;
    erase = true;
  });
  if (erase) timers().erase(h);  // outside the callback: it must not reenter the map
}

// --- JS functions ------------------------------------------------------------

// start(handle, firstMs, intervalMs, ticks): arms a timer that fires first
// after firstMs, then every intervalMs, `ticks` times in all.
Napi::Value Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  hr::Handle h;
  if (!hr_example::RequireAttached(env) || !hr_example::GetHandle(info, 0, &h)) return Napi::Value();
  const uint32_t first_ms = hr_example::GetU32(info, 1, 10);
  const uint32_t interval_ms = hr_example::GetU32(info, 2, 10);
  const uint32_t ticks = hr_example::GetU32(info, 3, 1);
  if (first_ms == 0 || ticks == 0) {
    Napi::RangeError::New(env, "posix-timer example: firstMs and ticks must be at least 1")
        .ThrowAsJavaScriptException();
    return Napi::Value();
  }

  struct sigevent sev;
  std::memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_THREAD;          // glibc calls OnExpire on a thread of its own
  sev.sigev_notify_function = OnExpire;
  sev.sigev_notify_attributes = nullptr;
  sev.sigev_value.sival_ptr = hr::to_user_data(h);  // the handle, not a pointer

  // Insert first, so that an expiration always finds its entry.
  PosixTimer state;
  state.ticks = ticks;
  if (!timers().insert(h, state)) {
    Napi::Error::New(env, "posix-timer example: this handle already has a timer")
        .ThrowAsJavaScriptException();
    return Napi::Value();
  }
  timer_t id;
  if (timer_create(CLOCK_MONOTONIC, &sev, &id) != 0) {
    const int err = errno;
    timers().erase(h);
    Napi::Error::New(env, std::string("timer_create: ") + std::strerror(err)).ThrowAsJavaScriptException();
    return Napi::Value();
  }
  timers().find(h, [&](PosixTimer& t) { t.id = id; });

  struct itimerspec spec;
  std::memset(&spec, 0, sizeof spec);
  spec.it_value.tv_sec = first_ms / 1000;
  spec.it_value.tv_nsec = static_cast<long>(first_ms % 1000) * 1000000L;
  spec.it_interval.tv_sec = interval_ms / 1000;
  spec.it_interval.tv_nsec = static_cast<long>(interval_ms % 1000) * 1000000L;
  if (timer_settime(id, 0, &spec, nullptr) != 0) {
    const int err = errno;
    timer_delete(id);
    timers().erase(h);
    Napi::Error::New(env, std::string("timer_settime: ") + std::strerror(err)).ThrowAsJavaScriptException();
    return Napi::Value();
  }
  return env.Undefined();
}

// cancel(handle) -> whether a timer was running for it. The usual way to stop
// a timer from JS; the stale and closed cases show what happens without it.
Napi::Value Cancel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  hr::Handle h;
  if (!hr_example::GetHandle(info, 0, &h)) return Napi::Value();
  bool cancelled = false;
  timers().find(h, [&](PosixTimer& t) {
    if (t.finished) return;
    timer_delete(t.id);
    t.finished = true;
    cancelled = true;
  });
  if (cancelled) timers().erase(h);
  return Napi::Boolean::New(env, cancelled);
}

// active() -> timers still armed
Napi::Value Active(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(timers().size()));
}

// isLive(handle) -> api->is_live(handle): a diagnostic (post() is always safe)
Napi::Value IsLive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  hr::Handle h;
  if (!hr_example::RequireAttached(env) || !hr_example::GetHandle(info, 0, &h)) return Napi::Value();
  return Napi::Boolean::New(env, hr_example::g_api->is_live(h) != 0);
}

// takeLog() -> [{ handle, kind, payload, status, tid }], oldest first; clears it.
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
    o.Set("kind", Napi::Number::New(env, e.kind));
    o.Set("payload", Napi::Number::New(env, e.payload));
    o.Set("status", Napi::String::New(env, hr_status_name(e.status)));
    o.Set("tid", Napi::Number::New(env, e.tid));
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}

// When the env goes away (process exit, worker end): delete every timer, so
// that no glibc thread posts for an env that no longer exists.
void CancelAll(void*) {
  std::vector<hr::Handle> handles;
  timers().for_each([&](hr::Handle h, PosixTimer& t) {
    if (!t.finished) {
      timer_delete(t.id);
      t.finished = true;
    }
    handles.push_back(h);
  });
  for (hr::Handle h : handles) timers().erase(h);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("attach", Napi::Function::New(env, hr_example::Attach, "attach"));
  exports.Set("start", Napi::Function::New(env, Start, "start"));
  exports.Set("cancel", Napi::Function::New(env, Cancel, "cancel"));
  exports.Set("active", Napi::Function::New(env, Active, "active"));
  exports.Set("isLive", Napi::Function::New(env, IsLive, "isLive"));
  exports.Set("takeLog", Napi::Function::New(env, TakeLog, "takeLog"));
  Napi::Object kinds = Napi::Object::New(env);
  kinds.Set("TICK", Napi::Number::New(env, kTick));
  kinds.Set("DONE", Napi::Number::New(env, kDone));
  exports.Set("kinds", kinds);
  hr_example::InitBurst(env, exports);
  napi_add_env_cleanup_hook(env, CancelAll, nullptr);
  return exports;
}

}  // namespace

NODE_API_MODULE(posix_timer, Init)
