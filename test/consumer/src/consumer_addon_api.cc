// consumer_addon_api.cc: a consumer addon written with node-addon-api (C++
// exceptions on), built against handle-registry's public header only.
// Targets consumer_a and consumer_a_abi2 (HR_ABI_VERSION_OVERRIDE=2).
#include <napi.h>  // before handle_registry_napi.h: enables hr::attach(Napi::Env, Napi::Value)

#include "handle_registry_napi.h"

#include <string>
#include <vector>

#include "consumer_core.h"

namespace {

using consumer::g_api;

const hr_api_v1* api_or_throw(Napi::Env env) {
  const hr_api_v1* api = g_api.load(std::memory_order_acquire);
  if (api == nullptr) {
    Napi::Error err = Napi::Error::New(env, "hr-consumer-fixture: call attach(registry) first");
    err.Set("code", "ERR_CONSUMER_NOT_ATTACHED");
    throw err;
  }
  return api;
}

hr::Handle handle_arg(const Napi::CallbackInfo& info, size_t i) {
  hr::Handle h = 0;
  if (i >= info.Length() || !info[i].IsNumber() ||
      !consumer::handle_from_double(info[i].As<Napi::Number>().DoubleValue(), &h)) {
    Napi::TypeError err = Napi::TypeError::New(info.Env(), "hr-consumer-fixture: expected a handle (a number)");
    err.Set("code", "ERR_INVALID_ARG_TYPE");
    throw err;
  }
  return h;
}

std::vector<hr::Handle> handles_arg(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || !info[i].IsArray()) {
    throw Napi::TypeError::New(info.Env(), "hr-consumer-fixture: expected an array of handles");
  }
  Napi::Array a = info[i].As<Napi::Array>();
  std::vector<hr::Handle> out;
  for (uint32_t k = 0; k < a.Length(); ++k) {
    hr::Handle h = 0;
    Napi::Value v = a.Get(k);
    if (!v.IsNumber() || !consumer::handle_from_double(v.As<Napi::Number>().DoubleValue(), &h)) {
      throw Napi::TypeError::New(info.Env(), "hr-consumer-fixture: expected an array of handles");
    }
    out.push_back(h);
  }
  return out;
}

uint32_t u32_arg(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || !info[i].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), "hr-consumer-fixture: expected a number");
  }
  return info[i].As<Napi::Number>().Uint32Value();
}

// attach(registry | registry.nativeApi) -> { abiVersion, size }
Napi::Value Attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // Throws Napi::Error (ERR_HANDLE_REGISTRY_ABI, ERR_NATIVE_UNAVAILABLE, ...)
  // on failure: exceptions are on in this target.
  const hr_api_v1* api = hr::attach(env, info.Length() > 0 ? info[0] : env.Undefined());
  g_api.store(api, std::memory_order_release);
  Napi::Object o = Napi::Object::New(env);
  o.Set("abiVersion", api->abi_version);
  o.Set("size", api->size);
  return o;
}

Napi::Value Attached(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), g_api.load() != nullptr);
}

Napi::Value IsLive(const Napi::CallbackInfo& info) {
  const hr_api_v1* api = api_or_throw(info.Env());
  return Napi::Boolean::New(info.Env(), api->is_live(handle_arg(info, 0)) != 0);
}

// post(handle, kind, payload) -> HR_STATUS_*
Napi::Value Post(const Napi::CallbackInfo& info) {
  const hr_api_v1* api = api_or_throw(info.Env());
  const hr::Handle h = handle_arg(info, 0);
  const uint32_t kind = u32_arg(info, 1);
  const double payload = info.Length() > 2 ? info[2].As<Napi::Number>().DoubleValue() : 0;
  return Napi::Number::New(info.Env(), api->post(h, kind, payload));
}

// postMany(handles, kind, payloads) -> { ok, statuses }
Napi::Value PostMany(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const hr_api_v1* api = api_or_throw(env);
  const std::vector<hr::Handle> hs = handles_arg(info, 0);
  const uint32_t kind = u32_arg(info, 1);
  Napi::Array payloads = info[2].As<Napi::Array>();
  std::vector<hr_event_v1> events(hs.size());
  for (size_t i = 0; i < hs.size(); ++i) {
    events[i] = hr_event_v1{hs[i], kind, 0, payloads.Get(static_cast<uint32_t>(i)).As<Napi::Number>().DoubleValue()};
  }
  std::vector<int32_t> statuses(hs.size(), -1);
  const size_t ok = api->post_many(events.data(), events.size(), statuses.data());
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", Napi::Number::New(env, static_cast<double>(ok)));
  Napi::Array st = Napi::Array::New(env, statuses.size());
  for (size_t i = 0; i < statuses.size(); ++i) st.Set(static_cast<uint32_t>(i), statuses[i]);
  o.Set("statuses", st);
  return o;
}

Napi::Value StatusName(const Napi::CallbackInfo& info) {
  const int32_t st = info[0].As<Napi::Number>().Int32Value();
  // The C name and the C++ name agree.
  if (std::string(hr_status_name(st)) != hr::status_name(static_cast<hr::Status>(st))) {
    throw Napi::Error::New(info.Env(), "hr_status_name and hr::status_name disagree");
  }
  return Napi::String::New(info.Env(), hr_status_name(st));
}

// start(handles, count, kind) -> run id
Napi::Value Start(const Napi::CallbackInfo& info) {
  api_or_throw(info.Env());
  const std::vector<hr::Handle> hs = handles_arg(info, 0);
  const uint32_t count = u32_arg(info, 1);
  const uint32_t kind = u32_arg(info, 2);
  return Napi::Number::New(info.Env(), consumer::start_run(hs, count, kind));
}

Napi::Object TotalsObject(Napi::Env env, const consumer::Totals& t) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("inOrder", t.in_order);
  o.Set("posted", Napi::Number::New(env, static_cast<double>(t.posted)));
  static const char* const kNames[] = {"ok", "invalid", "stale", "foreign", "closed", "full", "mismatch", "other"};
  for (int i = 0; i < 8; ++i) o.Set(kNames[i], Napi::Number::New(env, static_cast<double>(t.by_status[i])));
  return o;
}

// poll(id) -> null while running; then the run's totals (once)
Napi::Value Poll(const Napi::CallbackInfo& info) {
  bool running = false;
  const consumer::Totals t = consumer::poll_run(u32_arg(info, 0), &running);
  if (!t.found) {
    if (running) return info.Env().Null();
    throw Napi::Error::New(info.Env(), "hr-consumer-fixture: no such run");
  }
  return TotalsObject(info.Env(), t);
}

// state(handle) -> { kind, posted, ok, stale, ..., inOrder } | undefined
Napi::Value State(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  consumer::Totals t;
  uint32_t kind = 0;
  const bool found = consumer::states().find(handle_arg(info, 0), [&](const consumer::HandleState& s) {
    kind = s.kind;
    t.in_order = s.in_order;
    t.posted = s.posted;
    for (int i = 0; i < 8; ++i) t.by_status[i] = s.by_status[i];
  });
  if (!found) return env.Undefined();
  Napi::Object o = TotalsObject(env, t);
  o.Set("kind", kind);
  return o;
}

Napi::Value Forget(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), consumer::states().take(handle_arg(info, 0)).has_value());
}

Napi::Value StateSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(consumer::states().size()));
}

Napi::Value OwnerOf(const Napi::CallbackInfo& info) {
  api_or_throw(info.Env());
  return Napi::Number::New(info.Env(), consumer::domain_owner_of(handle_arg(info, 0)));
}

// userDataRoundTrip(handle) -> from_user_data(to_user_data(handle))
Napi::Value UserDataRoundTrip(const Napi::CallbackInfo& info) {
  const hr::Handle h = handle_arg(info, 0);
  void* user_data = hr::to_user_data(h);
  if ((h == 0) != (user_data == nullptr)) throw Napi::Error::New(info.Env(), "to_user_data(0) must be null");
  return Napi::Number::New(info.Env(), static_cast<double>(hr::from_user_data(user_data)));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  napi_add_env_cleanup_hook(env, consumer::join_all_runs, nullptr);
  exports.Set("flavor", "node-addon-api");
  exports.Set("expectedAbiVersion", Napi::Number::New(env, HR_ATTACH_ABI_VERSION));
  exports.Set("headerVersion", Napi::Number::New(env, HANDLE_REGISTRY_VERSION));
  exports.Set("attach", Napi::Function::New(env, Attach, "attach"));
  exports.Set("attached", Napi::Function::New(env, Attached, "attached"));
  exports.Set("isLive", Napi::Function::New(env, IsLive, "isLive"));
  exports.Set("post", Napi::Function::New(env, Post, "post"));
  exports.Set("postMany", Napi::Function::New(env, PostMany, "postMany"));
  exports.Set("statusName", Napi::Function::New(env, StatusName, "statusName"));
  exports.Set("start", Napi::Function::New(env, Start, "start"));
  exports.Set("poll", Napi::Function::New(env, Poll, "poll"));
  exports.Set("state", Napi::Function::New(env, State, "state"));
  exports.Set("forget", Napi::Function::New(env, Forget, "forget"));
  exports.Set("stateSize", Napi::Function::New(env, StateSize, "stateSize"));
  exports.Set("ownerOf", Napi::Function::New(env, OwnerOf, "ownerOf"));
  exports.Set("userDataRoundTrip", Napi::Function::New(env, UserDataRoundTrip, "userDataRoundTrip"));
  return exports;
}

}  // namespace

NODE_API_MODULE(NODE_GYP_MODULE_NAME, Init)
