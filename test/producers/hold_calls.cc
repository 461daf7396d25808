// hold_calls.cc: the test addon's uses of api->hold / api->unhold (a C
// library keeping the event loop alive while it has work pending). Exported
// by producers.cc's module init (init_hold):
//
//   hold(handle) -> status            api->hold on this thread
//   unhold(handle) -> status          api->unhold on this thread
//   hold_storm(handle, threads, rounds) -> { ok, other }
//     `threads` native threads each take and give back a hold `rounds` times
//     at once (joined before returning): ok counts successful calls.
//   start_timer(handle, ms, kind) -> status
//     What an addon arming a native timer does: api->hold(handle) on the JS
//     thread; if that is "ok", a detached native thread sleeps `ms`, posts
//     (handle, kind, ms) and calls api->unhold(handle) from that thread.
#include <napi.h>

#include <atomic>
#include <chrono>
#include <system_error>
#include <thread>
#include <vector>

#include "handle_registry_napi.h"
#include "napi_args.h"  // handle_of, status

namespace hr_test {

extern std::atomic<const hr_api_v1*> g_api;

namespace {

Napi::Value Hold(const Napi::CallbackInfo& info) {
  const hr_api_v1* api = g_api.load(std::memory_order_acquire);
  if (api == nullptr) return status(info.Env(), HR_STATUS_NOT_ATTACHED);
  return status(info.Env(), api->hold(handle_of(info[0])));
}

Napi::Value Unhold(const Napi::CallbackInfo& info) {
  const hr_api_v1* api = g_api.load(std::memory_order_acquire);
  if (api == nullptr) return status(info.Env(), HR_STATUS_NOT_ATTACHED);
  return status(info.Env(), api->unhold(handle_of(info[0])));
}

Napi::Value HoldStorm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const hr_api_v1* api = g_api.load(std::memory_order_acquire);
  const uint64_t h = handle_of(info[0]);
  const uint32_t threads = info[1].ToNumber().Uint32Value();
  const uint32_t rounds = info[2].ToNumber().Uint32Value();
  std::atomic<uint64_t> ok{0}, other{0};
  std::vector<std::thread> pool;
  try {
    for (uint32_t t = 0; t < threads && api != nullptr; ++t) {
      pool.emplace_back([&] {
        for (uint32_t i = 0; i < rounds; ++i) {
          (api->hold(h) == HR_STATUS_OK ? ok : other).fetch_add(1, std::memory_order_relaxed);
          (api->unhold(h) == HR_STATUS_OK ? ok : other).fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
  } catch (const std::system_error&) {
  }
  for (auto& t : pool) t.join();
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", static_cast<double>(ok.load()));
  o.Set("other", static_cast<double>(other.load()));
  return o;
}

Napi::Value StartTimer(const Napi::CallbackInfo& info) {
  const hr_api_v1* api = g_api.load(std::memory_order_acquire);
  if (api == nullptr) return status(info.Env(), HR_STATUS_NOT_ATTACHED);
  const uint64_t h = handle_of(info[0]);
  const uint32_t ms = info[1].ToNumber().Uint32Value();
  const uint32_t kind = info[2].ToNumber().Uint32Value();
  const int32_t st = api->hold(h);  // on the JS thread, before returning to the loop
  if (st != HR_STATUS_OK) return status(info.Env(), st);
  try {
    // Detached: the process may exit first (unref'd or closed registry); the
    // thread touches only the static table and its own copies.
    std::thread([api, h, ms, kind] {
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      api->post(h, kind, static_cast<double>(ms));
      api->unhold(h);
    }).detach();
  } catch (const std::system_error&) {
    api->unhold(h);
    return Napi::String::New(info.Env(), "no_thread");
  }
  return status(info.Env(), HR_STATUS_OK);
}

}  // namespace

void init_hold(Napi::Env env, Napi::Object exports) {
  exports.Set("hold", Napi::Function::New(env, Hold, "hold"));
  exports.Set("unhold", Napi::Function::New(env, Unhold, "unhold"));
  exports.Set("hold_storm", Napi::Function::New(env, HoldStorm, "hold_storm"));
  exports.Set("start_timer", Napi::Function::New(env, StartTimer, "start_timer"));
}

}  // namespace hr_test
