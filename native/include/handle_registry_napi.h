// handle_registry_napi.h: attach a separately compiled addon to the
// handle-registry addon loaded in the same process (N-API).
//
// Include this file (and only this one needs Node's headers) in the addon
// that posts events to handle-registry; it includes handle_registry.h (handles,
// user_data, statuses) and handle_registry_abi.h (the C ABI table), which stay
// free of N-API. In binding.gyp, one line:
//
//   'include_dirs': ["<!(node -p \"require('handle-registry').include_dir\")"]
//
// Plain N-API (node_api.h), so addons without node-addon-api can use it:
//
//   #include <node_api.h>
//   #include "handle_registry_napi.h"
//
//   static const hr_api_v1* g_api;   // static table: valid for the process's life
//
//   static napi_value Attach(napi_env env, napi_callback_info info) {
//     size_t argc = 1;
//     napi_value argv[1];
//     napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
//     if (hr::attach(env, argc > 0 ? argv[0] : nullptr, &g_api) != napi_ok) {
//       return nullptr;                 // a JS exception is pending
//     }
//     return nullptr;
//   }
//   // later, from any thread: g_api->post(h, kind, payload)
//
//   // JS: addon.attach(registry)        // or addon.attach(registry.nativeApi)
//
// With node-addon-api, include napi.h BEFORE this file to also get
//
//   const hr_api_v1* api = hr::attach(info.Env(), info[0]);
//
// which throws a Napi::Error when C++ exceptions are enabled in
// node-addon-api, and otherwise returns nullptr with the JS exception pending.
//
// `registry.nativeApi` is an opaque napi_external tagged (napi_type_tag_object)
// with HR_API_TYPE_TAG_LOWER/UPPER (handle_registry_abi.h). JS cannot forge
// one: attach() reads a table only from a value carrying that tag, and no
// address is ever shown to JS.
//
// On failure attach() throws a JS Error with a stable `code`:
//   ERR_INVALID_NATIVE_API       (TypeError) neither a HandleRegistry nor
//                                registry.nativeApi: a number, bigint, string,
//                                symbol, null/undefined, an ArrayBuffer, a plain
//                                object or one whose `nativeApi` is not the
//                                tagged external, an external of another addon
//   ERR_HANDLE_REGISTRY_ABI      the loaded handle-registry speaks another C ABI
//                                version (or an older, smaller table, or another
//                                domain layout) than this addon was compiled for:
//                                "handle-registry: this addon was built against C
//                                ABI version 1 but the loaded handle-registry
//                                provides version 2; rebuild it against the
//                                installed handle-registry"
// Any exception thrown by the `nativeApi` getter (ERR_NATIVE_UNAVAILABLE: no
// native addon; ERR_REGISTRY_CLOSED) is left pending unchanged.
//
// Testing knob: compile with -DHR_ABI_VERSION_OVERRIDE=N to make this addon
// expect C ABI version N instead of HR_ABI_VERSION (used by the package's own
// tests to exercise the mismatch error). Define it the same way in every
// translation unit of an addon, or not at all.
//
// Thread safety: attach() calls N-API, so call it on a JS thread (the one
// whose env you pass). The table it hands out is static and its functions may
// be called from any thread.

#ifndef HANDLE_REGISTRY_NAPI_H_
#define HANDLE_REGISTRY_NAPI_H_

#include <node_api.h>

#include <cstdint>
#include <cstdio>

#include "handle_registry.h"
#include "handle_registry_abi.h"
#include "handle_registry_diagnostics.h"  // DomainView::check(): the domain layout version

#if !defined(NAPI_VERSION) || NAPI_VERSION < 8
#error "handle_registry_napi.h needs NAPI_VERSION >= 8 (napi_type_tag_object)"
#endif

/// The C ABI version this addon expects from the loaded handle-registry:
/// HR_ABI_VERSION, or HR_ABI_VERSION_OVERRIDE when defined (tests only).
#ifdef HR_ABI_VERSION_OVERRIDE
#define HR_ATTACH_ABI_VERSION (HR_ABI_VERSION_OVERRIDE)
#else
#define HR_ATTACH_ABI_VERSION HR_ABI_VERSION
#endif

namespace hr {
inline namespace HANDLE_REGISTRY_ABI_NAMESPACE {

/// Resolves `value` to the C ABI table of the handle-registry addon loaded in
/// this process and checks that this addon can use it.
///
/// `value` is either a HandleRegistry (its `nativeApi` property is read) or
/// `registry.nativeApi` itself. On success sets *out and returns napi_ok. On
/// failure leaves *out untouched, leaves a JS exception pending (see the
/// codes at the top of this file) and returns napi_pending_exception; the
/// addon should return to JS at once.
///
/// Checks, in order: the value is an external carrying the handle-registry
/// type tag (ERR_INVALID_NATIVE_API; nothing is read before this holds); the
/// table's abi_version equals HR_ATTACH_ABI_VERSION, its size covers this
/// header's hr_api_v1 (hr_api_v1_check), and the domain table it points to
/// has this header's MAGIC and LAYOUT_VERSION (ERR_HANDLE_REGISTRY_ABI).
///
/// JS thread only (the thread of `env`). Cheap: call it once per addon load,
/// or once per registry.
inline napi_status attach(napi_env env, napi_value value, const hr_api_v1** out) noexcept;

namespace detail {

/// Throws a JS Error (or TypeError) with `code` and `message`; always returns
/// napi_pending_exception.
inline napi_status throw_attach_error(napi_env env, const char* code, const char* message,
                                      bool type_error = false) noexcept {
  napi_value js_code = nullptr;
  napi_value js_message = nullptr;
  napi_value error = nullptr;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &js_code) == napi_ok &&
      napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &js_message) == napi_ok &&
      (type_error ? napi_create_type_error(env, js_code, js_message, &error)
                  : napi_create_error(env, js_code, js_message, &error)) == napi_ok) {
    napi_throw(env, error);
  } else {
    // Could not even build the error object (out of memory?): still leave
    // something pending so the caller's contract holds.
    napi_throw_error(env, code, message);
  }
  return napi_pending_exception;
}

/// The type tag of registry.nativeApi (handle_registry_abi.h).
inline const napi_type_tag* api_type_tag() noexcept {
  static const napi_type_tag tag = {HR_API_TYPE_TAG_LOWER, HR_API_TYPE_TAG_UPPER};
  return &tag;
}

/// Throws ERR_INVALID_NATIVE_API naming what `value` was.
inline napi_status throw_invalid_api(napi_env env, const char* what) noexcept {
  char message[200];
  std::snprintf(message, sizeof message,
                "handle-registry: expected a HandleRegistry or registry.nativeApi, got %s", what);
  return throw_attach_error(env, "ERR_INVALID_NATIVE_API", message, true);
}

/// The checks of attach() on a table taken from a tagged external, against
/// `expected` ABI version.
inline napi_status check_api(napi_env env, const hr_api_v1* api, uint32_t expected,
                             const hr_api_v1** out) noexcept {
  char message[320];
  if (api == nullptr) return throw_invalid_api(env, "an empty external");
  if (api->abi_version != expected) {
    std::snprintf(message, sizeof message,
                  "handle-registry: this addon was built against C ABI version %u but the "
                  "loaded handle-registry provides version %u; rebuild it against the "
                  "installed handle-registry",
                  static_cast<unsigned>(expected), static_cast<unsigned>(api->abi_version));
    return throw_attach_error(env, "ERR_HANDLE_REGISTRY_ABI", message);
  }
  if (hr_api_v1_check(api) != HR_STATUS_OK) {
    std::snprintf(message, sizeof message,
                  "handle-registry: the loaded handle-registry provides a C ABI table of %u "
                  "bytes but this addon needs at least %u; rebuild it against the installed "
                  "handle-registry",
                  static_cast<unsigned>(api->size), static_cast<unsigned>(sizeof(hr_api_v1)));
    return throw_attach_error(env, "ERR_HANDLE_REGISTRY_ABI", message);
  }
  if (DomainView(api->domain_words, api->domain_word_count).check() != Status::kOk) {
    return throw_attach_error(env, "ERR_HANDLE_REGISTRY_ABI",
                              "handle-registry: the loaded handle-registry's domain table has "
                              "another layout than this addon was built for; rebuild it against "
                              "the installed handle-registry");
  }
  *out = api;
  return napi_ok;
}

}  // namespace detail

inline napi_status attach(napi_env env, napi_value value, const hr_api_v1** out) noexcept {
  if (env == nullptr || out == nullptr) return napi_invalid_arg;
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) != napi_ok || pending) {
    return napi_pending_exception;
  }
  napi_valuetype type = napi_undefined;
  if (value != nullptr && napi_typeof(env, value, &type) != napi_ok) {
    return detail::throw_invalid_api(env, "a value attach() could not read");
  }
  if (type == napi_object) {
    // A registry: its `nativeApi` getter throws ERR_NATIVE_UNAVAILABLE or
    // ERR_REGISTRY_CLOSED itself; leave that exception as it is.
    napi_value api_value = nullptr;
    if (napi_get_named_property(env, value, "nativeApi", &api_value) != napi_ok) {
      if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
        return napi_pending_exception;
      }
      return detail::throw_invalid_api(env, "an object whose nativeApi could not be read");
    }
    if (napi_typeof(env, api_value, &type) != napi_ok || type != napi_external) {
      return detail::throw_invalid_api(env, "an object whose nativeApi is not registry.nativeApi");
    }
    value = api_value;
  }
  if (type != napi_external) {
    static const char* const kTypeNames[] = {"undefined", "null",     "boolean",  "number",
                                             "string",    "symbol",   "object",   "function",
                                             "external",  "bigint"};
    const char* name = static_cast<size_t>(type) < sizeof kTypeNames / sizeof kTypeNames[0]
                           ? kTypeNames[type]
                           : "another type";
    return detail::throw_invalid_api(env, name);
  }
  // Only an external that handle-registry tagged holds its table: check the
  // tag before reading the external's data.
  bool tagged = false;
  if (napi_check_object_type_tag(env, value, detail::api_type_tag(), &tagged) != napi_ok || !tagged) {
    return detail::throw_invalid_api(env, "an external that is not registry.nativeApi");
  }
  void* data = nullptr;
  if (napi_get_value_external(env, value, &data) != napi_ok) {
    return detail::throw_invalid_api(env, "an external attach() could not read");
  }
  return detail::check_api(env, static_cast<const hr_api_v1*>(data),
                           static_cast<uint32_t>(HR_ATTACH_ABI_VERSION), out);
}

}  // inline namespace HANDLE_REGISTRY_ABI_NAMESPACE
}  // namespace hr

// ---------------------------------------------------------------------------
// node-addon-api overload (only when napi.h was included before this file)
// ---------------------------------------------------------------------------
#if defined(SRC_NAPI_H_)
namespace hr {
inline namespace HANDLE_REGISTRY_ABI_NAMESPACE {

/// As attach(napi_env, napi_value, const hr_api_v1**), for node-addon-api.
/// Returns the checked table. On failure: with node-addon-api's C++
/// exceptions enabled, throws the JS error as a Napi::Error; without them,
/// returns nullptr with the JS exception pending. JS thread only.
inline const hr_api_v1* attach(Napi::Env env, Napi::Value value) {
  const hr_api_v1* api = nullptr;
  if (attach(static_cast<napi_env>(env), static_cast<napi_value>(value), &api) != napi_ok) {
#if defined(NODE_ADDON_API_CPP_EXCEPTIONS) || defined(NAPI_CPP_EXCEPTIONS)
    throw Napi::Error::New(env);  // takes the pending exception
#else
    return nullptr;
#endif
  }
  return api;
}

}  // inline namespace HANDLE_REGISTRY_ABI_NAMESPACE
}  // namespace hr
#endif  // SRC_NAPI_H_

#endif  // HANDLE_REGISTRY_NAPI_H_
