// latch_calls.cc: the test addon's way to hold an env's teardown open: an
// async work item in flight, as an fs read or a crypto job would be, that
// ends only when another thread opens its latch. Node runs an env's cleanup
// hooks (handle-registry closes the env's registries there) only after every
// such request finished, turning the env's event loop meanwhile with JS no
// longer able to run; this is the window where a worker that was terminated
// still receives wake-ups (test/worker-teardown.test.ts). Exported by
// producers.cc's module init (init_latch):
//
//   new_latch() -> id          a closed latch (process-wide, any env)
//   wait_on_latch(id)          queues async work in this env that blocks a
//                              libuv pool thread until the latch opens
//   open_latch(id)             opens it (any thread); false if unknown
//
// Latches are never freed (a few per test run): a work item still waiting
// when its env is torn down keeps a valid pointer.
#include <napi.h>

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <unordered_map>

namespace hr_test {

namespace {

struct Latch {
  std::mutex m;
  std::condition_variable cv;
  bool open = false;
};

std::mutex g_latches_lock;
std::unordered_map<uint32_t, Latch*> g_latches;  // never erased
uint32_t g_next_latch = 1;

Latch* find_latch(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) return nullptr;
  std::lock_guard<std::mutex> lock(g_latches_lock);
  const auto it = g_latches.find(info[0].As<Napi::Number>().Uint32Value());
  return it == g_latches.end() ? nullptr : it->second;
}

struct Wait {
  Latch* latch;
  napi_async_work work = nullptr;
};

void execute(napi_env, void* data) {
  Latch* l = static_cast<Wait*>(data)->latch;
  std::unique_lock<std::mutex> lock(l->m);
  l->cv.wait(lock, [l] { return l->open; });
}

// Runs on the env's thread when the work ended, also during its teardown
// (no JS: only the work item is deleted).
void complete(napi_env env, napi_status, void* data) {
  Wait* w = static_cast<Wait*>(data);
  napi_delete_async_work(env, w->work);
  delete w;
}

Napi::Value NewLatch(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(g_latches_lock);
  const uint32_t id = g_next_latch++;
  g_latches.emplace(id, new Latch());
  return Napi::Number::New(info.Env(), id);
}

Napi::Value WaitOnLatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Latch* l = find_latch(info);
  if (l == nullptr) {
    Napi::TypeError::New(env, "wait_on_latch(id): unknown latch").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* w = new Wait{l};
  napi_value name;
  if (napi_create_string_utf8(env, "hr_test_latch", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, nullptr, name, execute, complete, w, &w->work) != napi_ok ||
      napi_queue_async_work(env, w->work) != napi_ok) {
    if (w->work != nullptr) napi_delete_async_work(env, w->work);
    delete w;
    Napi::Error::New(env, "wait_on_latch: could not queue the work").ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

Napi::Value OpenLatch(const Napi::CallbackInfo& info) {
  Latch* l = find_latch(info);
  if (l == nullptr) return Napi::Boolean::New(info.Env(), false);
  {
    std::lock_guard<std::mutex> lock(l->m);
    l->open = true;
  }
  l->cv.notify_all();
  return Napi::Boolean::New(info.Env(), true);
}

}  // namespace

void init_latch(Napi::Env env, Napi::Object exports) {
  exports.Set("new_latch", Napi::Function::New(env, NewLatch, "new_latch"));
  exports.Set("wait_on_latch", Napi::Function::New(env, WaitOnLatch, "wait_on_latch"));
  exports.Set("open_latch", Napi::Function::New(env, OpenLatch, "open_latch"));
}

}  // namespace hr_test
