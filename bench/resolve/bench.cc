// bench.cc: the resolve benchmark's addon. One synchronous C callback
// (clib.h, the shape of an SQLite scalar function with its pApp) looked up
// three ways, each from a user_data:
//
//   run_resolve(handle, n, call)   user_data = the handle; hr::resolve gives
//                                  the env (bound at module init) and the value
//   run_ref(fn, n, call)           user_data = a heap struct { env, napi_ref }:
//                                  the usual design (napi_get_reference_value)
//   run_get(registry, handle, n, call)
//                                  user_data = a heap struct { env, refs to the
//                                  registry and its get, handle }: JS
//                                  registry.get(handle) through napi_call_function
//
// call = 1: the callback calls the resolved JS function with one number and
// reads the number it returns (what an SQLite function does); call = 0: it
// only looks the value up (the lookup's own cost). Each callback opens and
// closes a handle scope, as a real one must when called N times in a row.
// Returns the sum of the callback results (checked by run.js).
#include <node_api.h>

#include <cstdint>

#include "clib.h"
#include "handle_registry_napi.h"

namespace {

const hr_api_v1* g_api = nullptr;

struct RefData {
  napi_env env;
  napi_ref fn;
  bool call;
};

struct GetData {
  napi_env env;
  napi_ref registry;
  napi_ref get;
  double handle;
  bool call;
};

// run_resolve's mode (the handle is the whole user_data). A plain global, not
// thread_local: the benchmark runs on one thread, and a thread_local in a
// shared library costs a __tls_get_addr call the baseline (its mode sits in
// its user_data struct) does not pay.
bool g_call = false;

// The work every design does once it has the value: call it with x.
inline double use(napi_env env, napi_value fn, double x, bool call) {
  if (!call) return fn != nullptr ? 1 : 0;
  napi_value arg, global, result;
  double out = 0;
  napi_create_double(env, x, &arg);
  napi_get_undefined(env, &global);
  if (napi_call_function(env, global, fn, 1, &arg, &result) != napi_ok) return 0;
  napi_get_value_double(env, result, &out);
  return out;
}

double via_resolve(void* user_data, double x) {
  napi_env env = hr::bound_env();  // this addon's env on this thread (bind_env at init)
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value fn;
  double out = 0;
  if (hr::resolve(g_api, user_data, &fn) == hr::Status::kOk) out = use(env, fn, x, g_call);
  napi_close_handle_scope(env, scope);
  return out;
}

double via_ref(void* user_data, double x) {
  RefData* d = static_cast<RefData*>(user_data);
  napi_handle_scope scope;
  napi_open_handle_scope(d->env, &scope);
  napi_value fn = nullptr;
  napi_get_reference_value(d->env, d->fn, &fn);
  const double out = use(d->env, fn, x, d->call);
  napi_close_handle_scope(d->env, scope);
  return out;
}

double via_get(void* user_data, double x) {
  GetData* d = static_cast<GetData*>(user_data);
  napi_handle_scope scope;
  napi_open_handle_scope(d->env, &scope);
  napi_value registry, get, h, fn = nullptr;
  napi_get_reference_value(d->env, d->registry, &registry);
  napi_get_reference_value(d->env, d->get, &get);
  napi_create_double(d->env, d->handle, &h);
  double out = 0;
  if (napi_call_function(d->env, registry, get, 1, &h, &fn) == napi_ok) out = use(d->env, fn, x, d->call);
  napi_close_handle_scope(d->env, scope);
  return out;
}

bool args(napi_env env, napi_callback_info info, size_t want, napi_value* argv) {
  size_t argc = want;
  return napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) == napi_ok && argc >= want;
}

uint32_t u32(napi_env env, napi_value v) {
  uint32_t n = 0;
  napi_get_value_uint32(env, v, &n);
  return n;
}

napi_value number(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}

napi_value Attach(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!args(env, info, 1, argv)) return nullptr;
  hr::attach(env, argv[0], &g_api);
  return nullptr;
}

napi_value RunResolve(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!args(env, info, 3, argv)) return nullptr;
  double h = 0;
  bool call = false;
  napi_get_value_double(env, argv[0], &h);
  napi_get_value_bool(env, argv[2], &call);
  g_call = call;
  return number(env, clib_run(via_resolve, hr::to_user_data(static_cast<hr::Handle>(h)), u32(env, argv[1])));
}

napi_value RunRef(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!args(env, info, 3, argv)) return nullptr;
  RefData* d = new RefData{env, nullptr, false};
  napi_create_reference(env, argv[0], 1, &d->fn);
  napi_get_value_bool(env, argv[2], &d->call);
  const double sum = clib_run(via_ref, d, u32(env, argv[1]));
  napi_delete_reference(env, d->fn);
  delete d;
  return number(env, sum);
}

napi_value RunGet(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!args(env, info, 4, argv)) return nullptr;
  GetData* d = new GetData{env, nullptr, nullptr, 0, false};
  napi_value get;
  napi_get_named_property(env, argv[0], "get", &get);
  napi_create_reference(env, argv[0], 1, &d->registry);
  napi_create_reference(env, get, 1, &d->get);
  napi_get_value_double(env, argv[1], &d->handle);
  napi_get_value_bool(env, argv[3], &d->call);
  const double sum = clib_run(via_get, d, u32(env, argv[2]));
  napi_delete_reference(env, d->registry);
  napi_delete_reference(env, d->get);
  delete d;
  return number(env, sum);
}

}  // namespace

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  hr::bind_env(env);  // this thread's env of this addon, for hr::resolve
  const napi_property_descriptor props[] = {
      {"attach", nullptr, Attach, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"run_resolve", nullptr, RunResolve, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"run_ref", nullptr, RunRef, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"run_get", nullptr, RunGet, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
