// resolve_calls.cc: the test addon's calls of hr::resolve (api->resolve),
// built against the public header like any user addon. Exported by
// producers.cc's module init (init_resolve):
//
//   resolve(handle) -> { status, value?, sameEnv }
//     hr::resolve on this JS thread with the env bound at module init;
//     `value` is set when status is "ok"; sameEnv says the env it gave is
//     the env of this call (this addon's, not handle-registry's).
//   resolve_on_thread(handle) -> status
//     api->resolve from a new native thread (joined before returning);
//     "touched" if the call wrote to env or value although it failed.
//   is_live(handle) -> 0 | 1
//     api->is_live on this JS thread.
//   is_live_on_thread(handle) -> 0 | 1
//     api->is_live from a new native thread (joined before returning).
//   resolve_call(handle, x) -> number
//     what a synchronous C callback does: resolve the handle to a function
//     and call it with x (the value returned, or NaN if not resolved).
#include <napi.h>

#include <atomic>
#include <cmath>
#include <system_error>
#include <thread>
#include <utility>

#include "handle_registry_napi.h"
#include "napi_args.h"  // handle_of

namespace hr_test {

extern std::atomic<const hr_api_v1*> g_api;

namespace {

// Runs f on a new native thread and joins it; false if no thread could be made.
template <class F>
bool run_on_new_thread(F&& f) {
  try {
    std::thread t(std::forward<F>(f));
    t.join();
    return true;
  } catch (const std::system_error&) {
    return false;
  }
}

Napi::Value Resolve(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  hr::Status st = hr::Status::kOk;
  Napi::Value v = hr::resolve(g_api.load(std::memory_order_acquire), handle_of(info[0]), &st);  // bound env
  Napi::Object o = Napi::Object::New(env);
  o.Set("status", hr::status_name(st));
  o.Set("sameEnv", !v.IsEmpty() && static_cast<napi_env>(v.Env()) == static_cast<napi_env>(env));
  if (!v.IsEmpty()) o.Set("value", v);
  return o;
}

Napi::Value ResolveOnThread(const Napi::CallbackInfo& info) {
  const hr_api_v1* api = g_api.load(std::memory_order_acquire);
  const uint64_t h = handle_of(info[0]);
  static char sentinel[2];  // addresses only: never dereferenced
  napi_env env = reinterpret_cast<napi_env>(&sentinel[0]);
  napi_value value = reinterpret_cast<napi_value>(&sentinel[1]);
  const napi_env env0 = env;
  const napi_value value0 = value;
  int32_t st = -1;
  // hr::resolve with an env: this thread never bound one, so use the C ABI
  // directly for the status, then the header for "untouched".
  if (!run_on_new_thread([&] {
        st = api == nullptr ? HR_STATUS_NOT_ATTACHED : api->resolve(h, &value);
        if (hr::resolve(api, h, &env, &value) != hr::Status::kNotAttached) st = -2;
      })) {
    return Napi::String::New(info.Env(), "no_thread");
  }
  if (st == -2) return Napi::String::New(info.Env(), "unbound_env_not_reported");
  if (st != HR_STATUS_OK && (env != env0 || value != value0)) return Napi::String::New(info.Env(), "touched");
  return Napi::String::New(info.Env(), hr_status_name(st));
}

Napi::Value ResolveCall(const Napi::CallbackInfo& info) {
  napi_env env = nullptr;
  napi_value fn = nullptr;
  if (hr::resolve(g_api.load(std::memory_order_acquire), handle_of(info[0]), &env, &fn) != hr::Status::kOk) {
    return Napi::Number::New(info.Env(), std::nan(""));
  }
  napi_value global = nullptr;
  napi_value arg = info.Length() > 1 ? static_cast<napi_value>(info[1]) : nullptr;
  napi_value result = nullptr;
  napi_get_global(env, &global);
  if (arg == nullptr || napi_call_function(env, global, fn, 1, &arg, &result) != napi_ok) return Napi::Value();
  return Napi::Value(env, result);
}

Napi::Value IsLive(const Napi::CallbackInfo& info) {
  const hr_api_v1* api = g_api.load(std::memory_order_acquire);
  return Napi::Number::New(info.Env(), api == nullptr ? -1 : api->is_live(handle_of(info[0])));
}

Napi::Value IsLiveOnThread(const Napi::CallbackInfo& info) {
  const hr_api_v1* api = g_api.load(std::memory_order_acquire);
  const uint64_t h = handle_of(info[0]);
  int32_t live = -1;
  if (!run_on_new_thread([&] { live = api == nullptr ? -1 : api->is_live(h); })) {
    return Napi::String::New(info.Env(), "no_thread");
  }
  return Napi::Number::New(info.Env(), live);
}

}  // namespace

void init_resolve(Napi::Env env, Napi::Object exports) {
  hr::bind_env(env);  // module init runs on every thread that loads the addon
  exports.Set("resolve", Napi::Function::New(env, Resolve, "resolve"));
  exports.Set("resolve_on_thread", Napi::Function::New(env, ResolveOnThread, "resolve_on_thread"));
  exports.Set("resolve_call", Napi::Function::New(env, ResolveCall, "resolve_call"));
  exports.Set("is_live", Napi::Function::New(env, IsLive, "is_live"));
  exports.Set("is_live_on_thread", Napi::Function::New(env, IsLiveOnThread, "is_live_on_thread"));
}

}  // namespace hr_test
