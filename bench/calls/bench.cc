// bench.cc: the native side of the calls benchmark (bench/calls/run.js).
//
// `threads` std::threads each make `calls` blocking calls with a reply, to a
// JS function that answers payload + 1, through one of two paths:
//   start_lib   this library: api->call(handle, 0, i, ..., HR_WAIT_FOREVER,
//               &reply) per call; the JS side is registry.onCall's handler,
//               called in batches on the JS thread.
//   start_tsfn  the koffi / Deno UnsafeCallback pattern: one
//               napi_call_threadsafe_function(napi_tsfn_blocking) per call
//               with a request on the caller's stack, then a wait on that
//               request's condition variable; the TSFN's call_js calls the JS
//               function (handle, payload), stores its number and notifies.
// Every reply is checked (payload + 1). done() tells JS when all threads
// finished; result() gives the time from start to the last thread's end.
// Plain N-API (no node-addon-api), so that the TSFN is exactly the one
// koffi and Deno use.
#include <node_api.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "handle_registry_abi.h"

namespace {

using Clock = std::chrono::steady_clock;

const hr_api_v1* g_api = nullptr;

struct Run {
  std::vector<std::thread> threads;
  std::atomic<uint32_t> running{0};
  std::atomic<uint64_t> bad{0};  // wrong reply or non-ok status
  Clock::time_point start;
  std::atomic<int64_t> end_ns{0};
  napi_threadsafe_function tsfn = nullptr;
};
std::unique_ptr<Run> g_run;

struct Request {
  uint64_t handle;
  double payload;
  double reply = 0;
  bool done = false;
  bool ok = false;
  std::mutex m;
  std::condition_variable cv;
};

void finish(Run* r) {
  const int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - r->start).count();
  int64_t prev = r->end_ns.load();
  while (prev < ns && !r->end_ns.compare_exchange_weak(prev, ns)) {
  }
  r->running.fetch_sub(1);
}

void lib_thread(Run* r, uint64_t h, uint32_t calls) {
  for (uint32_t i = 0; i < calls; ++i) {
    hr_reply_v1 reply;
    const int32_t st = g_api->call(h, 0, static_cast<double>(i), nullptr, 0, HR_WAIT_FOREVER, &reply);
    if (st != HR_STATUS_OK || reply.is_bytes || reply.number != i + 1.0) r->bad.fetch_add(1);
  }
  finish(r);
}

void tsfn_thread(Run* r, uint64_t h, uint32_t calls) {
  for (uint32_t i = 0; i < calls; ++i) {
    Request req;
    req.handle = h;
    req.payload = static_cast<double>(i);
    if (napi_call_threadsafe_function(r->tsfn, &req, napi_tsfn_blocking) != napi_ok) {
      r->bad.fetch_add(1);
      continue;
    }
    std::unique_lock<std::mutex> lock(req.m);
    req.cv.wait(lock, [&] { return req.done; });
    if (!req.ok || req.reply != i + 1.0) r->bad.fetch_add(1);
  }
  finish(r);
}

// The TSFN's call_js, on the JS thread: fn(handle, payload) -> number.
void call_js(napi_env env, napi_value fn, void*, void* data) {
  Request* req = static_cast<Request*>(data);
  double reply = 0;
  bool ok = false;
  if (env != nullptr && fn != nullptr) {
    napi_value args[2], undefined, result;
    ok = napi_create_double(env, static_cast<double>(req->handle), &args[0]) == napi_ok &&
         napi_create_double(env, req->payload, &args[1]) == napi_ok &&
         napi_get_undefined(env, &undefined) == napi_ok &&
         napi_call_function(env, undefined, fn, 2, args, &result) == napi_ok &&
         napi_get_value_double(env, result, &reply) == napi_ok;
  }
  {
    std::lock_guard<std::mutex> lock(req->m);
    req->reply = reply;
    req->ok = ok;
    req->done = true;
  }
  req->cv.notify_one();
}

napi_value throw_error(napi_env env, const char* message) {
  napi_throw_error(env, nullptr, message);
  return nullptr;
}

uint32_t u32(napi_env env, napi_value v) {
  uint32_t out = 0;
  napi_get_value_uint32(env, v, &out);
  return out;
}

// attach(nativeApi): the manual way of handle_registry_abi.h.
napi_value Attach(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  static const napi_type_tag tag = {HR_API_TYPE_TAG_LOWER, HR_API_TYPE_TAG_UPPER};
  bool ok = false;
  void* data = nullptr;
  if (argc < 1 || napi_check_object_type_tag(env, argv[0], &tag, &ok) != napi_ok || !ok ||
      napi_get_value_external(env, argv[0], &data) != napi_ok ||
      hr_api_v1_check(static_cast<const hr_api_v1*>(data)) != HR_STATUS_OK) {
    return throw_error(env, "attach(registry.nativeApi): not a compatible table");
  }
  g_api = static_cast<const hr_api_v1*>(data);
  return nullptr;
}

// start(kind, handle, threads, calls, fn?): kind 0 = library, 1 = TSFN.
napi_value Start(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < 4 || g_run != nullptr) return throw_error(env, "start(kind, handle, threads, calls, fn?) while no run is active");
  const uint32_t kind = u32(env, argv[0]);
  double hd = 0;
  napi_get_value_double(env, argv[1], &hd);
  const uint64_t h = static_cast<uint64_t>(hd);
  const uint32_t threads = u32(env, argv[2]);
  const uint32_t calls = u32(env, argv[3]);
  if (kind == 0 && g_api == nullptr) return throw_error(env, "attach first");
  auto run = std::make_unique<Run>();
  if (kind == 1) {
    napi_value name;
    napi_create_string_utf8(env, "calls-bench", NAPI_AUTO_LENGTH, &name);
    if (argc < 5 || napi_create_threadsafe_function(env, argv[4], nullptr, name, 0, 1, nullptr, nullptr, nullptr,
                                                    call_js, &run->tsfn) != napi_ok) {
      return throw_error(env, "could not create the thread-safe function");
    }
  }
  Run* r = run.get();
  g_run = std::move(run);
  r->running.store(threads);
  r->start = Clock::now();
  for (uint32_t t = 0; t < threads; ++t) {
    if (kind == 0) {
      r->threads.emplace_back(lib_thread, r, h, calls);
    } else {
      r->threads.emplace_back(tsfn_thread, r, h, calls);
    }
  }
  return nullptr;
}

napi_value Done(napi_env env, napi_callback_info) {
  napi_value out;
  napi_get_boolean(env, g_run == nullptr || g_run->running.load() == 0, &out);
  return out;
}

// result() -> { ms, bad }: joins (call after done()), frees the run.
napi_value Result(napi_env env, napi_callback_info) {
  if (g_run == nullptr) return throw_error(env, "no run");
  for (auto& t : g_run->threads) t.join();
  if (g_run->tsfn != nullptr) napi_release_threadsafe_function(g_run->tsfn, napi_tsfn_release);
  napi_value o, ms, bad;
  napi_create_object(env, &o);
  napi_create_double(env, static_cast<double>(g_run->end_ns.load()) / 1e6, &ms);
  napi_create_double(env, static_cast<double>(g_run->bad.load()), &bad);
  napi_set_named_property(env, o, "ms", ms);
  napi_set_named_property(env, o, "bad", bad);
  g_run.reset();
  return o;
}

}  // namespace

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"attach", nullptr, Attach, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"start", nullptr, Start, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"done", nullptr, Done, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"result", nullptr, Result, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
