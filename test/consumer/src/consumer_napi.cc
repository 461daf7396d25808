// consumer_napi.cc: a consumer addon written against plain N-API (node_api.h,
// no node-addon-api), built with node-gyp's defaults (-fno-exceptions
// -fno-rtti) against handle-registry's public header only.
// Targets consumer_b and consumer_b_abi2 (HR_ABI_VERSION_OVERRIDE=2).
// Same JS surface as consumer_addon_api.cc.
#include <node_api.h>

#include "handle_registry_napi.h"

#include <cstring>
#include <vector>

#include "consumer_core.h"

namespace {

using consumer::g_api;

// Every helper returns false with a pending JS exception on failure.
bool throw_code(napi_env env, const char* code, const char* message, bool type_error = false) {
  if (type_error) {
    napi_throw_type_error(env, code, message);
  } else {
    napi_throw_error(env, code, message);
  }
  return false;
}

bool args(napi_env env, napi_callback_info info, size_t want, napi_value* argv) {
  size_t argc = want;
  for (size_t i = 0; i < want; ++i) argv[i] = nullptr;
  return napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) == napi_ok;
}

bool api_or_throw(napi_env env, const hr_api_v1** api) {
  *api = g_api.load(std::memory_order_acquire);
  if (*api == nullptr) {
    return throw_code(env, "ERR_CONSUMER_NOT_ATTACHED", "hr-consumer-fixture: call attach(registry) first");
  }
  return true;
}

bool number_arg(napi_env env, napi_value v, double* out) {
  napi_valuetype t = napi_undefined;
  if (v == nullptr || napi_typeof(env, v, &t) != napi_ok || t != napi_number ||
      napi_get_value_double(env, v, out) != napi_ok) {
    return throw_code(env, "ERR_INVALID_ARG_TYPE", "hr-consumer-fixture: expected a number", true);
  }
  return true;
}

bool handle_arg(napi_env env, napi_value v, hr::Handle* h) {
  double d = 0;
  if (!number_arg(env, v, &d)) return false;
  if (!consumer::handle_from_double(d, h)) {
    return throw_code(env, "ERR_INVALID_ARG_TYPE", "hr-consumer-fixture: expected a handle (a number)", true);
  }
  return true;
}

bool handles_arg(napi_env env, napi_value v, std::vector<hr::Handle>* out) {
  bool is_array = false;
  uint32_t n = 0;
  if (v == nullptr || napi_is_array(env, v, &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, v, &n) != napi_ok) {
    return throw_code(env, "ERR_INVALID_ARG_TYPE", "hr-consumer-fixture: expected an array of handles", true);
  }
  for (uint32_t k = 0; k < n; ++k) {
    napi_value e = nullptr;
    hr::Handle h = 0;
    if (napi_get_element(env, v, k, &e) != napi_ok || !handle_arg(env, e, &h)) return false;
    out->push_back(h);
  }
  return true;
}

napi_value number(napi_env env, double d) {
  napi_value v = nullptr;
  napi_create_double(env, d, &v);
  return v;
}

napi_value boolean(napi_env env, bool b) {
  napi_value v = nullptr;
  napi_get_boolean(env, b, &v);
  return v;
}

void set(napi_env env, napi_value obj, const char* name, napi_value v) {
  napi_set_named_property(env, obj, name, v);
}

// attach(registry | registry.nativeApi) -> { abiVersion, size }
napi_value Attach(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!args(env, info, 1, argv)) return nullptr;
  const hr_api_v1* api = nullptr;
  if (hr::attach(env, argv[0], &api) != napi_ok) return nullptr;  // exception pending
  g_api.store(api, std::memory_order_release);
  napi_value o = nullptr;
  napi_create_object(env, &o);
  set(env, o, "abiVersion", number(env, api->abi_version));
  set(env, o, "size", number(env, api->size));
  return o;
}

napi_value Attached(napi_env env, napi_callback_info) {
  return boolean(env, g_api.load() != nullptr);
}

napi_value IsLive(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  const hr_api_v1* api = nullptr;
  hr::Handle h = 0;
  if (!args(env, info, 1, argv) || !api_or_throw(env, &api) || !handle_arg(env, argv[0], &h)) return nullptr;
  return boolean(env, api->is_live(h) != 0);
}

napi_value Post(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  const hr_api_v1* api = nullptr;
  hr::Handle h = 0;
  double kind = 0, payload = 0;
  if (!args(env, info, 3, argv) || !api_or_throw(env, &api) || !handle_arg(env, argv[0], &h) ||
      !number_arg(env, argv[1], &kind) || !number_arg(env, argv[2], &payload)) {
    return nullptr;
  }
  return number(env, api->post(h, static_cast<uint32_t>(kind), payload));
}

napi_value PostMany(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  const hr_api_v1* api = nullptr;
  std::vector<hr::Handle> hs;
  double kind = 0;
  if (!args(env, info, 3, argv) || !api_or_throw(env, &api) || !handles_arg(env, argv[0], &hs) ||
      !number_arg(env, argv[1], &kind)) {
    return nullptr;
  }
  std::vector<hr_event_v1> events(hs.size());
  for (size_t i = 0; i < hs.size(); ++i) {
    napi_value e = nullptr;
    double payload = 0;
    if (napi_get_element(env, argv[2], static_cast<uint32_t>(i), &e) != napi_ok || !number_arg(env, e, &payload)) {
      return nullptr;
    }
    events[i] = hr_event_v1{hs[i], static_cast<uint32_t>(kind), 0, payload};
  }
  std::vector<int32_t> statuses(hs.size(), -1);
  const size_t ok = api->post_many(events.data(), events.size(), statuses.data());
  napi_value o = nullptr, arr = nullptr;
  napi_create_object(env, &o);
  napi_create_array_with_length(env, statuses.size(), &arr);
  for (size_t i = 0; i < statuses.size(); ++i) napi_set_element(env, arr, static_cast<uint32_t>(i), number(env, statuses[i]));
  set(env, o, "ok", number(env, static_cast<double>(ok)));
  set(env, o, "statuses", arr);
  return o;
}

napi_value StatusName(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  double st = 0;
  if (!args(env, info, 1, argv) || !number_arg(env, argv[0], &st)) return nullptr;
  const int32_t s = static_cast<int32_t>(st);
  if (std::strcmp(hr_status_name(s), hr::status_name(static_cast<hr::Status>(s))) != 0) {
    throw_code(env, "ERR_ASSERTION", "hr_status_name and hr::status_name disagree");
    return nullptr;
  }
  napi_value v = nullptr;
  napi_create_string_utf8(env, hr_status_name(s), NAPI_AUTO_LENGTH, &v);
  return v;
}

napi_value Start(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  const hr_api_v1* api = nullptr;
  std::vector<hr::Handle> hs;
  double count = 0, kind = 0;
  if (!args(env, info, 3, argv) || !api_or_throw(env, &api) || !handles_arg(env, argv[0], &hs) ||
      !number_arg(env, argv[1], &count) || !number_arg(env, argv[2], &kind)) {
    return nullptr;
  }
  return number(env, consumer::start_run(hs, static_cast<uint32_t>(count), static_cast<uint32_t>(kind)));
}

napi_value TotalsObject(napi_env env, const consumer::Totals& t) {
  static const char* const kNames[] = {"ok", "invalid", "stale", "foreign", "closed", "full", "mismatch", "other"};
  napi_value o = nullptr;
  napi_create_object(env, &o);
  set(env, o, "inOrder", boolean(env, t.in_order));
  set(env, o, "posted", number(env, static_cast<double>(t.posted)));
  for (int i = 0; i < 8; ++i) set(env, o, kNames[i], number(env, static_cast<double>(t.by_status[i])));
  return o;
}

napi_value Poll(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  double id = 0;
  if (!args(env, info, 1, argv) || !number_arg(env, argv[0], &id)) return nullptr;
  bool running = false;
  const consumer::Totals t = consumer::poll_run(static_cast<uint32_t>(id), &running);
  if (!t.found) {
    if (running) {
      napi_value null = nullptr;
      napi_get_null(env, &null);
      return null;
    }
    throw_code(env, "ERR_CONSUMER_NO_RUN", "hr-consumer-fixture: no such run");
    return nullptr;
  }
  return TotalsObject(env, t);
}

napi_value State(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  hr::Handle h = 0;
  if (!args(env, info, 1, argv) || !handle_arg(env, argv[0], &h)) return nullptr;
  consumer::Totals t;
  uint32_t kind = 0;
  const bool found = consumer::states().find(h, [&](const consumer::HandleState& s) {
    kind = s.kind;
    t.in_order = s.in_order;
    t.posted = s.posted;
    for (int i = 0; i < 8; ++i) t.by_status[i] = s.by_status[i];
  });
  if (!found) {
    napi_value undef = nullptr;
    napi_get_undefined(env, &undef);
    return undef;
  }
  napi_value o = TotalsObject(env, t);
  set(env, o, "kind", number(env, kind));
  return o;
}

napi_value Forget(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  hr::Handle h = 0;
  if (!args(env, info, 1, argv) || !handle_arg(env, argv[0], &h)) return nullptr;
  return boolean(env, consumer::states().erase(h));
}

napi_value StateSize(napi_env env, napi_callback_info) {
  return number(env, static_cast<double>(consumer::states().size()));
}

napi_value OwnerOf(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  const hr_api_v1* api = nullptr;
  hr::Handle h = 0;
  if (!args(env, info, 1, argv) || !api_or_throw(env, &api) || !handle_arg(env, argv[0], &h)) return nullptr;
  return number(env, consumer::domain_owner_of(h));
}

napi_value UserDataRoundTrip(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  hr::Handle h = 0;
  if (!args(env, info, 1, argv) || !handle_arg(env, argv[0], &h)) return nullptr;
  void* user_data = hr::to_user_data(h);
  if ((h == 0) != (user_data == nullptr)) {
    throw_code(env, "ERR_ASSERTION", "to_user_data(0) must be null");
    return nullptr;
  }
  return number(env, static_cast<double>(hr::from_user_data(user_data)));
}

napi_value Init(napi_env env, napi_value exports) {
  napi_add_env_cleanup_hook(env, consumer::join_all_runs, nullptr);
  napi_value flavor = nullptr;
  napi_create_string_utf8(env, "napi", NAPI_AUTO_LENGTH, &flavor);
  set(env, exports, "flavor", flavor);
  set(env, exports, "expectedAbiVersion", number(env, HR_ATTACH_ABI_VERSION));
  set(env, exports, "headerVersion", number(env, HANDLE_REGISTRY_VERSION));
  const napi_property_descriptor fns[] = {
      {"attach", nullptr, Attach, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"attached", nullptr, Attached, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"isLive", nullptr, IsLive, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"post", nullptr, Post, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"postMany", nullptr, PostMany, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"statusName", nullptr, StatusName, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"start", nullptr, Start, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"poll", nullptr, Poll, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"state", nullptr, State, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"forget", nullptr, Forget, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"stateSize", nullptr, StateSize, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"ownerOf", nullptr, OwnerOf, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"userDataRoundTrip", nullptr, UserDataRoundTrip, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
