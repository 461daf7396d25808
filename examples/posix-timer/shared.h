// shared.h: what posix_timer.cc and burst.cc share: the attached C ABI table
// and argument helpers.
#ifndef POSIX_TIMER_EXAMPLE_SHARED_H_
#define POSIX_TIMER_EXAMPLE_SHARED_H_

#include <napi.h>

#include "handle_registry.h"
#include "handle_registry_abi.h"
#include "handle_registry_napi.h"  // hr::attach

#include <cmath>
#include <cstdint>

namespace hr_example {

// The registry addon's C ABI table, set by attach(): static, valid for the
// life of the process, its functions callable from any thread.
inline const hr_api_v1* g_api = nullptr;

// attach(registry | registry.nativeApi): checks the ABI version and keeps the table.
inline Napi::Value Attach(const Napi::CallbackInfo& info) {
  const hr_api_v1* api = hr::attach(info.Env(), info[0]);
  if (api == nullptr) return Napi::Value();  // JS exception pending
  g_api = api;
  return info.Env().Undefined();
}

inline bool RequireAttached(Napi::Env env) {
  if (g_api != nullptr) return true;
  Napi::Error::New(env, "posix-timer example: call attach(registry) first").ThrowAsJavaScriptException();
  return false;
}

// A JS number that is a well-formed handle (1 .. 2^53-1, block != 0), else throws.
inline bool GetHandle(const Napi::CallbackInfo& info, size_t i, hr::Handle* out) {
  const double d = info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : 0;
  if (!(d >= 1 && d <= 9007199254740991.0) || std::floor(d) != d ||
      !hr::is_valid(static_cast<hr::Handle>(d))) {
    Napi::TypeError::New(info.Env(), "posix-timer example: expected a handle (a positive safe integer)")
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<hr::Handle>(d);
  return true;
}

inline uint32_t GetU32(const Napi::CallbackInfo& info, size_t i, uint32_t fallback) {
  return info[i].IsNumber() ? info[i].As<Napi::Number>().Uint32Value() : fallback;
}

// burst.cc: adds postBurst, tsfnBurst, burstDone, joinBurst to `exports`.
void InitBurst(Napi::Env env, Napi::Object exports);

}  // namespace hr_example

#endif  // POSIX_TIMER_EXAMPLE_SHARED_H_
