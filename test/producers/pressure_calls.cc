// pressure_calls.cc: the test addon's uses of back-pressure (issue 9, part
// 4): a C library's thread that cannot retry, posting into a registry whose
// queue fills (onEvent's whenFull), and api->post_wait. Exported by
// producers.cc's module init (init_pressure):
//
//   post_wait(handle, kind, payload, timeoutMs) -> status name
//     api->post_wait on this thread (timeoutMs -1: HR_WAIT_FOREVER).
//   start_pacer(handle, events, mode, timeoutMs = -1, chunk = 64) -> id
//     One native thread posts `events` events to `handle`, kind 1, payload
//     i (0, 1, 2, ...), never retrying, by mode: 'post' (api->post: the
//     registry's whenFull decides), 'wait' (api->post_wait(timeoutMs)),
//     'many' (api->post_many, `chunk` events per call), 'bytes'
//     (api->post_bytes of 8 bytes: u32 LE i, then 4 zero bytes), 'mixed'
//     (odd i: api->post_wait(timeoutMs); even i: api->post, and on
//     QUEUE_FULL the same event again with api->post_wait(timeoutMs)).
//   pacer_state(id) -> { attempted, done, ok, queue_full, timeout,
//                        registry_closed, would_deadlock, other, refused }
//     Read while it runs: attempted = calls begun (post_many: events of the
//     calls begun), the others count final statuses; refused: 'mixed' posts
//     that got QUEUE_FULL and went on with api->post_wait.
//   join_pacer(id) -> the same, after joining the thread (call once done).
//   stop_pacer(id) -> the pacer posts nothing after its current call (a
//     stream of events = 2^32-1 runs until stopped).
// A pacer still running when its env is torn down is detached and leaked on
// purpose (as producers.cc does): it keeps posting and gets statuses.
#include <napi.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "handle_registry_napi.h"

namespace hr_test {

extern std::atomic<const hr_api_v1*> g_api;

namespace {

enum class Mode { kPost, kWait, kMany, kBytes, kMixed };

struct Pacer {
  uint32_t id = 0;
  napi_env env = nullptr;
  uint64_t handle = 0;
  uint32_t events = 0;
  Mode mode = Mode::kPost;
  uint32_t timeout_ms = HR_WAIT_FOREVER;
  uint32_t chunk = 64;
  std::thread thread;
  std::atomic<uint64_t> attempted{0};
  std::atomic<uint64_t> counts[16] = {};  // by status (>= 15: other)
  std::atomic<uint64_t> refused{0};       // kMixed: posts refused, then waited for
  std::atomic<bool> done{false};
  std::atomic<bool> stop{false};  // stop_pacer
};

std::mutex g_lock;
std::vector<Pacer*> g_pacers;  // started and not joined (under g_lock)
uint32_t g_next_id = 1;

void count(Pacer* p, int32_t st) {
  p->counts[st >= 0 && st < 15 ? st : 15].fetch_add(1, std::memory_order_relaxed);
}

void run(Pacer* p) {
  const hr_api_v1* api = g_api.load(std::memory_order_acquire);
  if (p->mode == Mode::kMany) {
    std::vector<hr_event_v1> batch(p->chunk);
    std::vector<int32_t> statuses(p->chunk);
    for (uint32_t base = 0; base < p->events && !p->stop.load(std::memory_order_relaxed); base += p->chunk) {
      const size_t m = std::min<size_t>(p->chunk, p->events - base);
      for (size_t j = 0; j < m; ++j) batch[j] = hr_event_v1{p->handle, 1, 0, static_cast<double>(base + j)};
      p->attempted.fetch_add(m, std::memory_order_relaxed);
      api->post_many(batch.data(), m, statuses.data());
      for (size_t j = 0; j < m; ++j) count(p, statuses[j]);
    }
  } else {
    for (uint32_t i = 0; i < p->events && !p->stop.load(std::memory_order_relaxed); ++i) {
      p->attempted.fetch_add(1, std::memory_order_relaxed);
      int32_t st;
      if (p->mode == Mode::kMixed) {
        st = i % 2 == 0 ? api->post(p->handle, 1, static_cast<double>(i)) : HR_STATUS_QUEUE_FULL;
        if (st == HR_STATUS_QUEUE_FULL) {
          if (i % 2 == 0) p->refused.fetch_add(1, std::memory_order_relaxed);
          st = api->post_wait(p->handle, 1, static_cast<double>(i), p->timeout_ms);
        }
      } else if (p->mode == Mode::kWait) {
        st = api->post_wait(p->handle, 1, static_cast<double>(i), p->timeout_ms);
      } else if (p->mode == Mode::kBytes) {
        uint8_t bytes[8] = {};
        for (int j = 0; j < 4; ++j) bytes[j] = static_cast<uint8_t>(i >> (8 * j));
        st = api->post_bytes(p->handle, 1, bytes, sizeof bytes);
      } else {
        st = api->post(p->handle, 1, static_cast<double>(i));
      }
      count(p, st);
    }
  }
  p->done.store(true, std::memory_order_release);
}

uint64_t handle_of(const Napi::Value& v) {
  if (!v.IsNumber()) return 0;
  const double d = v.As<Napi::Number>().DoubleValue();
  return (d >= 1 && d <= 9007199254740991.0) ? static_cast<uint64_t>(d) : 0;
}

uint32_t timeout_of(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || !info[i].IsNumber()) return HR_WAIT_FOREVER;
  const double d = info[i].As<Napi::Number>().DoubleValue();
  return d < 0 ? HR_WAIT_FOREVER : static_cast<uint32_t>(std::min(d, 4294967294.0));
}

Napi::Value fail(Napi::Env env, const char* message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value PostWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const hr_api_v1* api = g_api.load(std::memory_order_acquire);
  if (api == nullptr) return fail(env, "post_wait: call attach() first");
  if (info.Length() < 3 || !info[1].IsNumber() || !info[2].IsNumber()) {
    return fail(env, "post_wait(handle, kind, payload, timeoutMs)");
  }
  const int32_t st = api->post_wait(handle_of(info[0]), info[1].As<Napi::Number>().Uint32Value(),
                                    info[2].As<Napi::Number>().DoubleValue(), timeout_of(info, 3));
  return Napi::String::New(env, hr_status_name(st));
}

Napi::Value StartPacer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (g_api.load(std::memory_order_acquire) == nullptr) return fail(env, "start_pacer: call attach() first");
  if (info.Length() < 3 || !info[1].IsNumber() || !info[2].IsString()) {
    return fail(env, "start_pacer(handle, events, 'post' | 'wait' | 'many' | 'bytes' | 'mixed', timeoutMs?, chunk?)");
  }
  auto* p = new Pacer();
  p->env = env;
  p->handle = handle_of(info[0]);
  p->events = info[1].As<Napi::Number>().Uint32Value();
  const std::string mode = info[2].As<Napi::String>().Utf8Value();
  p->mode = mode == "wait"    ? Mode::kWait
            : mode == "many"  ? Mode::kMany
            : mode == "bytes" ? Mode::kBytes
            : mode == "mixed" ? Mode::kMixed
                              : Mode::kPost;
  p->timeout_ms = timeout_of(info, 3);
  if (info.Length() > 4 && info[4].IsNumber()) {
    p->chunk = std::max<uint32_t>(1, std::min<uint32_t>(info[4].As<Napi::Number>().Uint32Value(), 65536));
  }
  {
    std::lock_guard<std::mutex> lock(g_lock);
    p->id = g_next_id++;
    g_pacers.push_back(p);
  }
  try {
    p->thread = std::thread(run, p);
  } catch (const std::system_error&) {
    std::lock_guard<std::mutex> lock(g_lock);
    g_pacers.pop_back();
    delete p;
    return fail(env, "start_pacer: could not start a thread");
  }
  return Napi::Number::New(env, p->id);
}

Napi::Object state(Napi::Env env, Pacer* p) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("attempted", static_cast<double>(p->attempted.load(std::memory_order_relaxed)));
  o.Set("done", p->done.load(std::memory_order_acquire));
  uint64_t other = p->counts[15].load(std::memory_order_relaxed);
  for (int32_t st = 0; st < 15; ++st) {
    const uint64_t n = p->counts[st].load(std::memory_order_relaxed);
    if (st == HR_STATUS_OK || st == HR_STATUS_QUEUE_FULL || st == HR_STATUS_TIMEOUT ||
        st == HR_STATUS_REGISTRY_CLOSED || st == HR_STATUS_WOULD_DEADLOCK) {
      o.Set(hr_status_name(st), static_cast<double>(n));
    } else {
      other += n;
    }
  }
  o.Set("other", static_cast<double>(other));
  o.Set("refused", static_cast<double>(p->refused.load(std::memory_order_relaxed)));
  return o;
}

Pacer* find(const Napi::CallbackInfo& info, bool remove) {
  if (info.Length() < 1 || !info[0].IsNumber()) return nullptr;
  const uint32_t id = info[0].As<Napi::Number>().Uint32Value();
  std::lock_guard<std::mutex> lock(g_lock);
  for (size_t i = 0; i < g_pacers.size(); ++i) {
    Pacer* p = g_pacers[i];
    if (p->id == id && p->env == info.Env()) {
      if (remove) g_pacers.erase(g_pacers.begin() + static_cast<std::ptrdiff_t>(i));
      return p;
    }
  }
  return nullptr;
}

Napi::Value PacerState(const Napi::CallbackInfo& info) {
  Pacer* p = find(info, false);
  if (p == nullptr) return fail(info.Env(), "pacer_state: unknown id");
  return state(info.Env(), p);
}

Napi::Value StopPacer(const Napi::CallbackInfo& info) {
  Pacer* p = find(info, false);
  if (p == nullptr) return fail(info.Env(), "stop_pacer: unknown id");
  p->stop.store(true, std::memory_order_relaxed);
  return info.Env().Undefined();
}

Napi::Value JoinPacer(const Napi::CallbackInfo& info) {
  Pacer* p = find(info, true);
  if (p == nullptr) return fail(info.Env(), "join_pacer: unknown id");
  p->thread.join();
  Napi::Object o = state(info.Env(), p);
  delete p;
  return o;
}

// Env teardown: detach this env's pacers (leaked: their threads still run).
void detach_pacers(void* arg) {
  napi_env env = static_cast<napi_env>(arg);
  std::lock_guard<std::mutex> lock(g_lock);
  for (size_t i = 0; i < g_pacers.size();) {
    if (g_pacers[i]->env == env) {
      g_pacers[i]->thread.detach();
      g_pacers.erase(g_pacers.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
}

}  // namespace

void init_pressure(Napi::Env env, Napi::Object exports) {
  napi_add_env_cleanup_hook(env, detach_pacers, static_cast<napi_env>(env));
  exports.Set("post_wait", Napi::Function::New(env, PostWait, "post_wait"));
  exports.Set("start_pacer", Napi::Function::New(env, StartPacer, "start_pacer"));
  exports.Set("pacer_state", Napi::Function::New(env, PacerState, "pacer_state"));
  exports.Set("stop_pacer", Napi::Function::New(env, StopPacer, "stop_pacer"));
  exports.Set("join_pacer", Napi::Function::New(env, JoinPacer, "join_pacer"));
}

}  // namespace hr_test
