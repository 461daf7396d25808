// hold.cc: keeping the event loop alive while native work is pending
// (hold.h). Node's convention for handles (timers, sockets, MessagePort):
// a registry is ref'd by default and unref() lets the process exit anyway.
// Unlike a timer, a registry alone never keeps the loop alive: only native
// holds do, so an idle registry never stops a process from exiting.
//
// One uv_async_t per env (HoldLoop, made at the env's first owner claim,
// closed at env cleanup), ref'd exactly while some owner of the env "wants"
// the loop: count > 0 && js_ref. Per owner (static, trivially destructible):
// `count` changes on any thread; `wanted` and the uv ref state only on the
// loop thread: directly when the hold is taken or dropped there, else through
// uv_async_send, whose callback re-reads every owner of the env (signals
// coalesce; hold transitions are rare). One handle per env, not per owner, so
// that a registry's claim and close allocate nothing that must wait for the
// loop to turn (uv_close) to be freed: 100,000 registries created and closed
// in one synchronous loop must not pile up loop handles.
// Producers touch an owner's hold state only under the owner's InflightGuard
// with the owner admitted (post.cc); close_owner clears it after
// synchronize(), and env cleanup closes every owner before the HoldLoop.
#include "hold.h"
#include "status_codes.h"

#include <uv.h>

#include <atomic>
#include <new>
#include <thread>
#include <type_traits>

#include "event_path.h"  // maybe_finish_cleanup
#include "owners.h"

namespace hr_native {

struct HoldLoop {
  uv_async_t async;  // async.data points here
  std::thread::id thread;  // the env's JS (loop) thread
  EnvData* env_data;
  uint32_t wanting;  // owners with wanted == true (loop thread only)
  bool refd;         // uv_ref state of `async` (loop thread only)
};

namespace {

using hr::Status;

struct OwnerHold {
  std::atomic<HoldLoop*> loop;  // the owner's env's loop while open, else null
  std::atomic<int64_t> count;
  // --- the loop thread only ---
  bool js_ref;  // registry.ref() / unref()
  bool wanted;  // counted in loop->wanting
};
static_assert(std::is_trivially_destructible<OwnerHold>::value,
              "process-wide state must be trivially destructible");

OwnerHold g_holds[dom::kOwnerWords];

// Loop thread: make the uv ref state match (wanting > 0).
void apply_loop(HoldLoop* hl) noexcept {
  const bool want = hl->wanting > 0;
  if (want == hl->refd) return;
  hl->refd = want;
  if (want) {
    uv_ref(reinterpret_cast<uv_handle_t*>(&hl->async));
  } else {
    uv_unref(reinterpret_cast<uv_handle_t*>(&hl->async));
  }
}

// Loop thread: owner o's (count > 0 && js_ref) into its loop's tally.
void apply(HoldLoop* hl, OwnerHold& oh) noexcept {
  const bool want = oh.js_ref && oh.count.load(std::memory_order_acquire) > 0;
  if (want == oh.wanted) return;
  oh.wanted = want;
  if (want) {
    ++hl->wanting;
  } else {
    --hl->wanting;
  }
  apply_loop(hl);
}

void on_async(uv_async_t* handle) {
  HoldLoop* hl = static_cast<HoldLoop*>(handle->data);
  for (uint32_t o = 1; o <= lay::kMaxOwners; ++o) {
    if (g_holds[o].loop.load(std::memory_order_acquire) == hl) apply(hl, g_holds[o]);
  }
}

void on_closed(uv_handle_t* handle) {
  HoldLoop* hl = static_cast<HoldLoop*>(handle->data);
  EnvData* ed = hl->env_data;
  delete hl;
  --ed->pending_closes;
  maybe_finish_cleanup(ed);
}

// The count of `oh` crossed 0 <-> 1: apply now on the loop thread, else signal it.
void changed(HoldLoop* hl, OwnerHold& oh) noexcept {
  if (std::this_thread::get_id() == hl->thread) {
    apply(hl, oh);
  } else {
    uv_async_send(&hl->async);
  }
}

}  // namespace

bool open_holds(EnvData* ed, uint32_t owner) noexcept {
  if (ed->holds == nullptr && !ed->in_cleanup) {
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(ed->env, &loop) != napi_ok || loop == nullptr) return false;
    HoldLoop* hl = new (std::nothrow) HoldLoop();
    if (hl == nullptr) return false;
    if (uv_async_init(loop, &hl->async, on_async) != 0) {
      delete hl;
      return false;
    }
    hl->async.data = hl;
    hl->thread = std::this_thread::get_id();
    hl->env_data = ed;
    uv_unref(reinterpret_cast<uv_handle_t*>(&hl->async));  // until a hold arrives
    ed->holds = hl;
  }
  if (ed->holds == nullptr) return false;
  OwnerHold& oh = g_holds[owner];
  oh.count.store(0, std::memory_order_relaxed);
  oh.js_ref = true;
  oh.wanted = false;
  oh.loop.store(ed->holds, std::memory_order_seq_cst);
  return true;
}

int32_t add_hold(uint32_t owner) noexcept {
  OwnerHold& oh = g_holds[owner];
  HoldLoop* hl = oh.loop.load(std::memory_order_seq_cst);
  if (hl == nullptr) return static_cast<int32_t>(Status::kNotAttached);
  if (oh.count.fetch_add(1, std::memory_order_acq_rel) == 0) changed(hl, oh);
  return status::kOk;
}

int32_t drop_hold(uint32_t owner) noexcept {
  OwnerHold& oh = g_holds[owner];
  HoldLoop* hl = oh.loop.load(std::memory_order_seq_cst);
  if (hl == nullptr) return static_cast<int32_t>(Status::kNotAttached);
  int64_t n = oh.count.load(std::memory_order_acquire);
  do {
    if (n <= 0) return static_cast<int32_t>(Status::kInvalidHandle);  // more unholds than holds
  } while (!oh.count.compare_exchange_weak(n, n - 1, std::memory_order_acq_rel));
  if (n == 1) changed(hl, oh);
  return status::kOk;
}

void set_ref(uint32_t owner, bool ref) noexcept {
  OwnerHold& oh = g_holds[owner];
  HoldLoop* hl = oh.loop.load(std::memory_order_seq_cst);
  if (hl == nullptr) return;
  oh.js_ref = ref;
  apply(hl, oh);
}

void close_holds(EnvData*, uint32_t owner) noexcept {
  OwnerHold& oh = g_holds[owner];
  HoldLoop* hl = oh.loop.exchange(nullptr, std::memory_order_seq_cst);
  if (hl == nullptr) return;
  oh.count.store(0, std::memory_order_relaxed);  // dropped: nothing holds a closed registry
  apply(hl, oh);  // js_ref && 0 > 0 is false: leaves the tally
}

void close_hold_loop(EnvData* ed) noexcept {
  HoldLoop* hl = ed->holds;
  if (hl == nullptr) return;
  ed->holds = nullptr;
  ++ed->pending_closes;
  uv_close(reinterpret_cast<uv_handle_t*>(&hl->async), on_closed);
}

}  // namespace hr_native
