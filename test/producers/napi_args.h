// napi_args.h: argument helpers the test addon's export files share
// (call_calls.cc, hold_calls.cc, resolve_calls.cc).
#ifndef HR_TEST_PRODUCERS_NAPI_ARGS_H_
#define HR_TEST_PRODUCERS_NAPI_ARGS_H_

#include <napi.h>

#include <cstdint>

#include "handle_registry_abi.h"  // hr_status_name

namespace hr_test {

// A JS number as a handle: an integer in 1..2^53-1, else 0 (never a handle).
inline uint64_t handle_of(const Napi::Value& v) {
  if (!v.IsNumber()) return 0;
  const double d = v.As<Napi::Number>().DoubleValue();
  return (d >= 1 && d <= 9007199254740991.0 && static_cast<double>(static_cast<uint64_t>(d)) == d)
             ? static_cast<uint64_t>(d)
             : 0;
}

// A status as its name ("ok", "stale_handle", ...).
inline Napi::Value status(Napi::Env env, int32_t st) { return Napi::String::New(env, hr_status_name(st)); }

}  // namespace hr_test

#endif  // HR_TEST_PRODUCERS_NAPI_ARGS_H_
