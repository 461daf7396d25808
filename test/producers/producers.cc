// producers.cc: a test-only addon with native producer threads, built
// against handle-registry's public C ABI (handle_registry_napi.h) exactly as a
// user's addon would be. Never part of the shipped addon.
//
//   attach(registry | registry.nativeApi | native_api())
//     Resolves and checks the C ABI table (hr::attach); every other function
//     throws ERR_NOT_ATTACHED until this succeeded once in the process.
//   start_producers(handles: Float64Array, threads, eventsPerThread,
//                   kindBase, retryFull = false, chunk = 1, bytes = 0) -> id
//     Starts `threads` std::threads. Thread t posts eventsPerThread events;
//     event i goes to handles[i % handles.length] with kind kindBase + t and
//     payload i, so JS can check per-producer order. A thread never blocks:
//     on queue_full it counts and moves on, or with retryFull yields and
//     posts the same event again until the status is not queue_full.
//     chunk > 1 (up to 65536) posts through api->post_many, `chunk` events
//     per call (failed queue_full events re-posted in order).
//     bytes > 0 (chunk ignored) mixes in byte events through api->post_bytes:
//     event i with i % 3 == 2 is numeric (payload i), the others carry
//     max(bytes, 8) bytes: u32 LE i, then t, then byte j = (i + j) & 255.
//   post_bytes(handle, kind, bytes: Uint8Array) -> status
//     One api->post_bytes from the JS thread (copies the bytes).
//   producers_done(id) -> boolean      all threads finished
//   join_producers(id) -> { ok, stale, closed, full, invalid, other, posted, retries }
//     Joins (blocking the JS thread) and frees the group. posted = events
//     attempted (threads * eventsPerThread), one final status each; retries =
//     extra post calls made by retryFull. With retryFull, wait for
//     producers_done first: the JS thread drains the queue, so joining
//     while producers wait for room would never return.
//
// Lifetimes: a group (handles copy, counters) lives on the heap. If the env
// that started it is torn down first (worker terminated), its threads are
// detached by an env cleanup hook and the group is leaked on purpose: the
// threads keep posting, get registry_closed, and exit; nothing they touch is
// ever freed, and this library pins itself (pin_module) so that its code
// stays mapped after Node drops the last env that loaded it.
#include <napi.h>

#include <algorithm>
#include <memory>
#include <atomic>
#include <system_error>
#include <thread>
#include <vector>

#if defined(_WIN32)
#include <windows.h>
#else
#include <dlfcn.h>
#endif

#include "handle_registry_napi.h"

namespace hr_test {

// The checked C ABI table (static in the registry addon: valid for ever).
std::atomic<const hr_api_v1*> g_api{nullptr};
// resolve_calls.cc: the exports that exercise hr::resolve.
void init_resolve(Napi::Env env, Napi::Object exports);
// hold_calls.cc: the exports that exercise api->hold / unhold.
void init_hold(Napi::Env env, Napi::Object exports);
// pressure_calls.cc: the exports that exercise whenFull and api->post_wait.
void init_pressure(Napi::Env env, Napi::Object exports);
// call_calls.cc: the exports that exercise api->call.
void init_calls(Napi::Env env, Napi::Object exports);
// latch_calls.cc: async work that holds an env's teardown open until released.
void init_latch(Napi::Env env, Napi::Object exports);

struct ProducerGroup;
// Per-env data: producer groups started from this env and not joined yet.
struct EnvData {
  std::vector<ProducerGroup*> groups;
  uint32_t next_group = 1;
};

struct alignas(64) ProducerCounts {
  uint64_t ok = 0, stale = 0, closed = 0, full = 0, invalid = 0, other = 0, retries = 0;
};

struct ProducerGroup {
  uint32_t id = 0;
  std::vector<uint64_t> handles;
  uint32_t events = 0;
  uint32_t kind_base = 0;
  bool retry_full = false;
  uint32_t chunk = 1;
  uint32_t bytes = 0;
  std::vector<std::thread> threads;
  std::unique_ptr<ProducerCounts[]> counts;
  std::atomic<uint32_t> running{0};
};

namespace {

void count_status(ProducerCounts& c, int32_t st) {
  switch (st) {
    case HR_STATUS_OK: ++c.ok; break;
    case HR_STATUS_STALE_HANDLE: ++c.stale; break;
    case HR_STATUS_REGISTRY_CLOSED: ++c.closed; break;
    case HR_STATUS_QUEUE_FULL: ++c.full; break;
    case HR_STATUS_INVALID_HANDLE: ++c.invalid; break;
    default: ++c.other; break;
  }
}

// Numeric and byte events interleaved (see the top of the file).
void produce_bytes(ProducerGroup* g, ProducerCounts& c, uint32_t kind, uint32_t t) {
  const hr_api_v1* api = g_api.load(std::memory_order_acquire);
  const size_t n = g->handles.size();
  const uint32_t size = std::max<uint32_t>(g->bytes, 8);
  std::vector<uint8_t> buf(size);
  size_t next = 0;
  for (uint32_t i = 0; i < g->events; ++i) {
    const uint64_t h = g->handles[next];
    if (++next == n) next = 0;
    const bool numeric = i % 3 == 2;
    if (!numeric) {
      for (uint32_t j = 0; j < 4; ++j) buf[j] = static_cast<uint8_t>(i >> (8 * j));
      buf[4] = static_cast<uint8_t>(t);
      for (uint32_t j = 5; j < size; ++j) buf[j] = static_cast<uint8_t>(i + j);
    }
    auto once = [&]() {
      return numeric ? api->post(h, kind, static_cast<double>(i)) : api->post_bytes(h, kind, buf.data(), size);
    };
    int32_t st = once();
    while (st == HR_STATUS_QUEUE_FULL && g->retry_full) {
      ++c.retries;
      std::this_thread::yield();
      st = once();
    }
    count_status(c, st);
  }
}

// One post() per event.
void produce_single(ProducerGroup* g, ProducerCounts& c, uint32_t kind) {
  const hr_api_v1* api = g_api.load(std::memory_order_acquire);
  const size_t n = g->handles.size();
  size_t next = 0;
  for (uint32_t i = 0; i < g->events; ++i) {
    const uint64_t h = g->handles[next];
    if (++next == n) next = 0;
    int32_t st = api->post(h, kind, static_cast<double>(i));
    while (st == HR_STATUS_QUEUE_FULL && g->retry_full) {
      ++c.retries;
      std::this_thread::yield();
      st = api->post(h, kind, static_cast<double>(i));
    }
    count_status(c, st);
  }
}

// post_many() of `chunk` events at a time; with retry_full the events that
// got queue_full are re-posted, in order, until none does.
void produce_chunked(ProducerGroup* g, ProducerCounts& c, uint32_t kind) {
  const hr_api_v1* api = g_api.load(std::memory_order_acquire);
  const size_t n = g->handles.size();
  std::vector<hr_event_v1> buf(g->chunk);
  std::vector<int32_t> statuses(g->chunk);
  size_t next = 0;
  for (uint32_t base = 0; base < g->events; base += g->chunk) {
    size_t m = std::min<size_t>(g->chunk, g->events - base);
    for (size_t j = 0; j < m; ++j) {
      buf[j] = hr_event_v1{g->handles[next], kind, 0, static_cast<double>(base + j)};
      if (++next == n) next = 0;
    }
    for (;;) {
      api->post_many(buf.data(), m, statuses.data());
      size_t again = 0;
      for (size_t j = 0; j < m; ++j) {
        if (statuses[j] == HR_STATUS_QUEUE_FULL && g->retry_full) {
          buf[again++] = buf[j];
        } else {
          count_status(c, statuses[j]);
        }
      }
      if (again == 0) break;
      c.retries += again;
      m = again;
      std::this_thread::yield();
    }
  }
}

void produce(ProducerGroup* g, uint32_t t) {
  ProducerCounts& c = g->counts[t];
  const uint32_t kind = g->kind_base + t;
  if (g->bytes > 0) {
    produce_bytes(g, c, kind, t);
  } else if (g->chunk > 1) {
    produce_chunked(g, c, kind);
  } else {
    produce_single(g, c, kind);
  }
  g->running.fetch_sub(1, std::memory_order_release);
}

EnvData* env_data(const Napi::CallbackInfo& info) {
  return info.Env().GetInstanceData<EnvData>();
}

Napi::Value fail(Napi::Env env, const char* code, const char* message) {
  Napi::Error err = Napi::TypeError::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  err.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value not_attached(Napi::Env env) {
  Napi::Error err = Napi::Error::New(env, "hr_test_producers: call attach(registry.nativeApi) first");
  err.Set("code", Napi::String::New(env, "ERR_NOT_ATTACHED"));
  err.ThrowAsJavaScriptException();
  return env.Undefined();
}

ProducerGroup* find_group(const Napi::CallbackInfo& info, size_t* index) {
  EnvData* ed = env_data(info);
  if (info.Length() < 1 || !info[0].IsNumber()) return nullptr;
  const uint32_t id = info[0].As<Napi::Number>().Uint32Value();
  for (size_t i = 0; i < ed->groups.size(); ++i) {
    if (ed->groups[i]->id == id) {
      *index = i;
      return ed->groups[i];
    }
  }
  return nullptr;
}

Napi::Value StartProducers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (g_api.load(std::memory_order_acquire) == nullptr) return not_attached(env);
  EnvData* ed = env_data(info);
  if (info.Length() < 4 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      info[0].As<Napi::TypedArray>().ElementLength() == 0 || !info[1].IsNumber() ||
      !info[2].IsNumber() || !info[3].IsNumber()) {
    return fail(env, "ERR_INVALID_ARG_TYPE",
                "start_producers(handles: Float64Array, threads, eventsPerThread, kindBase, retryFull?)");
  }
  const uint32_t threads = info[1].As<Napi::Number>().Uint32Value();
  if (threads < 1 || threads > 64) return fail(env, "ERR_OUT_OF_RANGE", "start_producers: threads must be 1..64");
  Napi::Float64Array hs = info[0].As<Napi::Float64Array>();
  auto* g = new ProducerGroup();
  g->id = ed->next_group++;
  g->handles.resize(hs.ElementLength());
  for (size_t i = 0; i < hs.ElementLength(); ++i) {
    const double d = hs[i];
    g->handles[i] = (d >= 1 && d <= 9007199254740991.0) ? static_cast<uint64_t>(d) : 0;
  }
  g->events = info[2].As<Napi::Number>().Uint32Value();
  g->kind_base = info[3].As<Napi::Number>().Uint32Value();
  g->retry_full = info.Length() > 4 && info[4].ToBoolean().Value();
  if (info.Length() > 5 && info[5].IsNumber()) {
    g->chunk = std::max<uint32_t>(1, std::min<uint32_t>(info[5].As<Napi::Number>().Uint32Value(), 65536));
  }
  if (info.Length() > 6 && info[6].IsNumber()) {
    g->bytes = std::min<uint32_t>(info[6].As<Napi::Number>().Uint32Value(), 1u << 20);
  }
  g->counts.reset(new ProducerCounts[threads]);
  g->running.store(threads, std::memory_order_relaxed);
  try {
    for (uint32_t t = 0; t < threads; ++t) g->threads.emplace_back(produce, g, t);
  } catch (const std::system_error&) {
    // Threads not started never decrement `running`; join those that did.
    for (auto& th : g->threads) th.join();
    delete g;
    return fail(env, "ERR_INVALID_STATE", "start_producers: could not start a thread");
  }
  ed->groups.push_back(g);
  return Napi::Number::New(env, g->id);
}

Napi::Value PostBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (g_api.load(std::memory_order_acquire) == nullptr) return not_attached(env);
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsTypedArray() ||
      info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    return fail(env, "ERR_INVALID_ARG_TYPE", "post_bytes(handle, kind, bytes: Uint8Array)");
  }
  const double d = info[0].As<Napi::Number>().DoubleValue();
  const uint64_t h = (d >= 1 && d <= 9007199254740991.0) ? static_cast<uint64_t>(d) : 0;
  Napi::Uint8Array bytes = info[2].As<Napi::Uint8Array>();
  const size_t n = bytes.ElementLength();
  const uint32_t size = n > 0xffffffffu ? 0xffffffffu : static_cast<uint32_t>(n);
  return Napi::Number::New(env, g_api.load(std::memory_order_acquire)->post_bytes(h, info[1].As<Napi::Number>().Uint32Value(),
                                                        bytes.Data(), size));
}

Napi::Value ProducersDone(const Napi::CallbackInfo& info) {
  size_t index;
  ProducerGroup* g = find_group(info, &index);
  if (g == nullptr) return fail(info.Env(), "ERR_INVALID_ARG_VALUE", "producers_done: unknown producer id");
  return Napi::Boolean::New(info.Env(), g->running.load(std::memory_order_acquire) == 0);
}

Napi::Value JoinProducers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t index;
  ProducerGroup* g = find_group(info, &index);
  if (g == nullptr) return fail(env, "ERR_INVALID_ARG_VALUE", "join_producers: unknown producer id");
  for (auto& th : g->threads) th.join();
  ProducerCounts sum;
  for (size_t t = 0; t < g->threads.size(); ++t) {
    const ProducerCounts& c = g->counts[t];
    sum.ok += c.ok;
    sum.stale += c.stale;
    sum.closed += c.closed;
    sum.full += c.full;
    sum.invalid += c.invalid;
    sum.other += c.other;
    sum.retries += c.retries;
  }
  const uint64_t posted = static_cast<uint64_t>(g->events) * g->threads.size();
  EnvData* ed = env_data(info);
  ed->groups.erase(ed->groups.begin() + static_cast<std::ptrdiff_t>(index));
  delete g;
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", static_cast<double>(sum.ok));
  o.Set("stale", static_cast<double>(sum.stale));
  o.Set("closed", static_cast<double>(sum.closed));
  o.Set("full", static_cast<double>(sum.full));
  o.Set("invalid", static_cast<double>(sum.invalid));
  o.Set("other", static_cast<double>(sum.other));
  o.Set("posted", static_cast<double>(posted));
  o.Set("retries", static_cast<double>(sum.retries));
  return o;
}

Napi::Value Attach(const Napi::CallbackInfo& info) {
  const hr_api_v1* api = hr::attach(info.Env(), info.Length() > 0 ? info[0] : info.Env().Undefined());
  if (api == nullptr) return info.Env().Undefined();  // exception pending
  g_api.store(api, std::memory_order_release);
  return info.Env().Undefined();
}

// Env teardown (worker exit, process exit): detach this env's running
// threads; their groups are leaked on purpose (the threads still use them).
void detach_producers(void* arg) {
  EnvData* ed = static_cast<EnvData*>(arg);
  for (ProducerGroup* g : ed->groups) {
    for (auto& th : g->threads) th.detach();
  }
  ed->groups.clear();
}

void finalize_env_data(napi_env, void* data, void*) {
  delete static_cast<EnvData*>(data);
}

// Keeps this library mapped until the process ends: detached producer
// threads run its code after Node drops the last env that loaded it.
void pin_module() {
  static std::atomic<bool> pinned{false};
  if (pinned.exchange(true)) return;
#if defined(_WIN32)
  HMODULE self = nullptr;
  GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_PIN,
                     reinterpret_cast<LPCWSTR>(&pin_module), &self);
#else
  Dl_info dl;
  if (dladdr(reinterpret_cast<void*>(&pin_module), &dl) != 0 && dl.dli_fname != nullptr) {
    dlopen(dl.dli_fname, RTLD_LAZY | RTLD_NODELETE);  // handle leaked on purpose
  }
#endif
}

}  // namespace
}  // namespace hr_test

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  using namespace hr_test;
  pin_module();
  EnvData* ed = new (std::nothrow) EnvData();
  if (ed == nullptr) {
    napi_throw_error(env, "ERR_OUT_OF_MEMORY", "hr_test_producers: out of memory");
    return nullptr;
  }
  if (napi_set_instance_data(env, ed, finalize_env_data, nullptr) != napi_ok) {
    delete ed;
    return nullptr;
  }
  if (napi_add_env_cleanup_hook(env, detach_producers, ed) != napi_ok) return nullptr;
  Napi::Env e(env);
  Napi::Object o(env, exports);
  o.Set("attach", Napi::Function::New(e, Attach, "attach"));
  o.Set("start_producers", Napi::Function::New(e, StartProducers, "start_producers"));
  o.Set("post_bytes", Napi::Function::New(e, PostBytes, "post_bytes"));
  o.Set("producers_done", Napi::Function::New(e, ProducersDone, "producers_done"));
  o.Set("join_producers", Napi::Function::New(e, JoinProducers, "join_producers"));
  hr_test::init_resolve(e, o);  // resolve, resolve_on_thread, resolve_call (resolve_calls.cc)
  hr_test::init_hold(e, o);     // hold, unhold, start_timer (hold_calls.cc)
  hr_test::init_pressure(e, o);  // post_wait, start_pacer, ... (pressure_calls.cc)
  hr_test::init_calls(e, o);    // call, start_callers, join_callers (call_calls.cc)
  hr_test::init_latch(e, o);    // new_latch, wait_on_latch, open_latch (latch_calls.cc)
  return exports;
}
