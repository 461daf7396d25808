// hold.cc: keeping the event loop alive while native work is pending
// (hold.h). Node's convention for handles (timers, sockets, MessagePort):
// a registry is ref'd by default and unref() lets the process exit anyway.
// Unlike a timer, a registry alone never keeps the loop alive: only native
// holds do, so an idle registry never stops a process from exiting.
//
// Per owner: a uv_async_t on the owner's loop, ref'd exactly while
// (count > 0 && js_ref). `count` changes on any thread; uv_ref/uv_unref only
// on the loop thread: directly when the hold is taken or dropped there, else
// through uv_async_send (the callback re-reads the count, so signals coalesce).
// The state is published in g_holds (static, trivially destructible) and freed
// by the uv close callback after close_owner's synchronize(): producers touch
// it only under the owner's InflightGuard with the owner admitted (post.cc).
#include "hold.h"

#include <uv.h>

#include <atomic>
#include <new>
#include <thread>

#include "event_path.h"  // maybe_finish_cleanup
#include "owners.h"

namespace hr_native {

namespace {

using hr::Status;

struct HoldState {
  uv_async_t async;  // async.data points here
  std::atomic<int64_t> count{0};
  std::thread::id thread;  // the owner's JS (loop) thread
  // --- the loop thread only ---
  EnvData* env_data = nullptr;
  bool js_ref = true;  // registry.ref() / unref()
  bool refd = false;   // uv_ref state of `async`
};

std::atomic<HoldState*> g_holds[dom::kOwnerWords];

// Loop thread: make the uv ref state match (count > 0 && js_ref).
void apply(HoldState* hs) noexcept {
  const bool want = hs->js_ref && hs->count.load(std::memory_order_acquire) > 0;
  if (want == hs->refd) return;
  hs->refd = want;
  if (want) {
    uv_ref(reinterpret_cast<uv_handle_t*>(&hs->async));
  } else {
    uv_unref(reinterpret_cast<uv_handle_t*>(&hs->async));
  }
}

void on_async(uv_async_t* handle) { apply(static_cast<HoldState*>(handle->data)); }

void on_closed(uv_handle_t* handle) {
  HoldState* hs = static_cast<HoldState*>(handle->data);
  EnvData* ed = hs->env_data;
  delete hs;
  --ed->pending_closes;
  maybe_finish_cleanup(ed);
}

// The count reached a boundary (0 <-> 1): apply now on the loop thread, else signal it.
void changed(HoldState* hs) noexcept {
  if (std::this_thread::get_id() == hs->thread) {
    apply(hs);
  } else {
    uv_async_send(&hs->async);
  }
}

}  // namespace

bool open_holds(EnvData* ed, uint32_t owner) noexcept {
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(ed->env, &loop) != napi_ok || loop == nullptr) return false;
  HoldState* hs = new (std::nothrow) HoldState();
  if (hs == nullptr) return false;
  if (uv_async_init(loop, &hs->async, on_async) != 0) {
    delete hs;
    return false;
  }
  hs->async.data = hs;
  hs->thread = std::this_thread::get_id();
  hs->env_data = ed;
  uv_unref(reinterpret_cast<uv_handle_t*>(&hs->async));  // until a hold arrives
  g_holds[owner].store(hs, std::memory_order_seq_cst);
  return true;
}

int32_t add_hold(uint32_t owner) noexcept {
  HoldState* hs = g_holds[owner].load(std::memory_order_seq_cst);
  if (hs == nullptr) return static_cast<int32_t>(Status::kNotAttached);
  if (hs->count.fetch_add(1, std::memory_order_acq_rel) == 0) changed(hs);
  return static_cast<int32_t>(Status::kOk);
}

int32_t drop_hold(uint32_t owner) noexcept {
  HoldState* hs = g_holds[owner].load(std::memory_order_seq_cst);
  if (hs == nullptr) return static_cast<int32_t>(Status::kNotAttached);
  int64_t n = hs->count.load(std::memory_order_acquire);
  do {
    if (n <= 0) return static_cast<int32_t>(Status::kInvalidHandle);  // more unholds than holds
  } while (!hs->count.compare_exchange_weak(n, n - 1, std::memory_order_acq_rel));
  if (n == 1) changed(hs);
  return static_cast<int32_t>(Status::kOk);
}

void set_ref(uint32_t owner, bool ref) noexcept {
  HoldState* hs = g_holds[owner].load(std::memory_order_seq_cst);
  if (hs == nullptr) return;
  hs->js_ref = ref;
  apply(hs);
}

void close_holds(EnvData* ed, uint32_t owner) noexcept {
  HoldState* hs = g_holds[owner].exchange(nullptr, std::memory_order_seq_cst);
  if (hs == nullptr) return;
  hs->count.store(0, std::memory_order_relaxed);  // dropped: nothing holds a closed registry
  ++ed->pending_closes;
  uv_close(reinterpret_cast<uv_handle_t*>(&hs->async), on_closed);
}

}  // namespace hr_native
