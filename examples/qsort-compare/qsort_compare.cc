// qsort_compare.cc: glibc's qsort_r (a C library calling back synchronously,
// on the caller's thread, with a void* context) sorting numbers with a JS
// comparator. The context is a handle: the comparator callback turns it back
// into the JS comparator with hr::resolve, without a JS call and without
// keeping a napi_ref of its own.
//
//   attach(registry)
//   sort(values: Float64Array, comparator: handle) -> status
//     Sorts `values` in place with qsort_r; the registered value is a function
//     (a, b) => number, or an object with a compare(a, b) method (called with
//     the object as `this`). Returns "ok", or the status of the first failed
//     resolve ("stale_handle", "registry_closed", "wrong_thread", ...), in
//     which case the comparator was not called and every comparison gave 0
//     (qsort_r cannot be stopped; the order of `values` is then unspecified).
//     A comparator that throws stops the calls too, and sort() throws that
//     error.
//
// Linux (glibc's qsort_r argument order; BSD and macOS put the context first).
#include <napi.h>

#include <cstdlib>

#include "handle_registry_napi.h"

namespace {

const hr_api_v1* g_api = nullptr;

// The first failure of the sort running on this thread (qsort_r is
// synchronous, so one per thread is enough).
thread_local hr::Status t_failed = hr::Status::kOk;
thread_local bool t_threw = false;

int Compare(const void* pa, const void* pb, void* context) {
  if (t_failed != hr::Status::kOk || t_threw) return 0;
  // Our own env on this thread (bound at module init), and the comparator.
  Napi::Value comparator = hr::resolve(g_api, context, &t_failed);
  if (comparator.IsEmpty()) return 0;
  Napi::Env env = comparator.Env();
  Napi::HandleScope scope(env);  // qsort_r calls us n log n times: free each call's values
  const napi_value args[] = {Napi::Number::New(env, *static_cast<const double*>(pa)),
                             Napi::Number::New(env, *static_cast<const double*>(pb))};
  Napi::Value result;
  if (comparator.IsFunction()) {
    result = comparator.As<Napi::Function>().Call(env.Undefined(), 2, args);
  } else if (comparator.IsObject()) {
    Napi::Value method = comparator.As<Napi::Object>().Get("compare");
    if (!env.IsExceptionPending() && method.IsFunction()) {
      result = method.As<Napi::Function>().Call(comparator, 2, args);
    } else if (!env.IsExceptionPending()) {
      Napi::TypeError::New(env, "qsort-compare: the comparator has no compare(a, b) method")
          .ThrowAsJavaScriptException();
    }
  }
  if (env.IsExceptionPending() || result.IsEmpty()) {
    t_threw = true;  // left pending: sort() returns and JS sees it
    return 0;
  }
  const double d = result.ToNumber().DoubleValue();
  return d < 0 ? -1 : d > 0 ? 1 : 0;
}

Napi::Value Sort(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (g_api == nullptr) {
    Napi::Error::New(env, "qsort-compare: call attach(registry) first").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (info.Length() < 2 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "qsort-compare: sort(values: Float64Array, comparator: handle)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const double d = info[1].As<Napi::Number>().DoubleValue();
  const hr::Handle h = d >= 1 && d <= static_cast<double>(hr::kMaxHandle) ? static_cast<hr::Handle>(d) : 0;
  Napi::Float64Array values = info[0].As<Napi::Float64Array>();
  t_failed = hr::Status::kOk;
  t_threw = false;
  qsort_r(values.Data(), values.ElementLength(), sizeof(double), Compare, hr::to_user_data(h));
  if (t_threw) return env.Undefined();  // the comparator's exception is pending
  return Napi::String::New(env, hr::status_name(t_failed));
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  hr::bind_env(env);  // runs on every thread that loads the addon: hr::resolve gives this env back
  exports.Set("attach", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
    const hr_api_v1* api = hr::attach(info.Env(), info[0]);
    if (api != nullptr) g_api = api;
    return info.Env().Undefined();
  }, "attach"));
  exports.Set("sort", Napi::Function::New(env, Sort, "sort"));
  return exports;
}

NODE_API_MODULE(qsort_compare, Init)
