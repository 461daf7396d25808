// events.cc: the event path of one owner, from native producers to its JS
// thread: a bounded MPSC queue (hr::EventQueue) and a uv_async_t on the
// owner's event loop.
//
// Delivery (JS thread, in the async callback):
//   - clears `scheduled`, then drains up to batch.length / 3 events into the
//     Float64Array `batch` as [handle, kind, payload] triples and calls
//     callback(count): one boundary crossing per batch;
//   - at most kMaxBatchesPerWakeup batches per wake-up; if events remain it
//     signals itself again, so a flood cannot starve the event loop;
//   - all batches of one wake-up run inside one callback scope (async
//     context "handle-registry:events"): process.nextTick callbacks and
//     microtasks queued by the callback run when the wake-up ends;
//   - events count as delivered when they are copied into `batch`.
// If the callback throws, the exception goes to napi_fatal_exception, i.e.
// process 'uncaughtException' (in a worker: the worker's 'error' event), the
// same as an exception thrown from a timer. With an 'uncaughtException'
// handler installed the process goes on: the wake-up stops there and signals
// itself again if events remain.
#include <algorithm>
#include <new>

#include "internal.h"

namespace hr_native {

namespace {

constexpr int kMaxBatchesPerWakeup = 64;

void on_closed(uv_handle_t* handle) {
  EventPath* p = static_cast<EventPath*>(handle->data);
  EnvData* ed = p->env_data;
  delete[] p->scratch;
  delete p;
  --ed->pending_closes;
  maybe_finish_cleanup(ed);
}

void on_async(uv_async_t* handle) {
  EventPath* p = static_cast<EventPath*>(handle->data);
  if (p->closing) return;
  p->scheduled.exchange(false, std::memory_order_acq_rel);
  napi_env env = p->env_data->env;
  OwnerSlot& s = g_owners[p->owner];

  napi_handle_scope hs;
  if (napi_open_handle_scope(env, &hs) != napi_ok) return;
  napi_value resource;
  napi_callback_scope cs = nullptr;
  if (napi_get_global(env, &resource) != napi_ok ||
      napi_open_callback_scope(env, resource, p->context, &cs) != napi_ok) {
    napi_close_handle_scope(env, hs);
    return;
  }

  bool again = false;
  for (int round = 0; round < kMaxBatchesPerWakeup; ++round) {
    napi_value batch, callback, undefined, count;
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    if (napi_get_reference_value(env, p->batch, &batch) != napi_ok || batch == nullptr ||
        napi_get_typedarray_info(env, batch, &type, &length, &data, nullptr, nullptr) != napi_ok ||
        type != napi_float64_array || data == nullptr || length < 3) {
      break;  // batch array detached (transferred): events stay queued until close
    }
    const size_t max = std::min(length / 3, p->batch_max);
    const size_t n = p->queue.drain(p->scratch, max);
    if (n == 0) break;
    double* out = static_cast<double*>(data);
    for (size_t i = 0; i < n; ++i) {
      const hr::Event& e = p->scratch[i];
      out[3 * i] = static_cast<double>(e.handle);
      out[3 * i + 1] = static_cast<double>(e.kind);
      out[3 * i + 2] = e.payload;
    }
    bump(s.delivered, n);
    if (napi_get_reference_value(env, p->callback, &callback) != napi_ok ||
        napi_get_undefined(env, &undefined) != napi_ok ||
        napi_create_uint32(env, static_cast<uint32_t>(n), &count) != napi_ok) {
      break;
    }
    if (napi_call_function(env, undefined, callback, 1, &count, nullptr) != napi_ok) {
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (pending) {
        napi_value error;
        if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
        again = true;  // the process may go on ('uncaughtException' handler)
      }
      // not pending: the env cannot run JS any more (worker terminating)
      break;
    }
    if (p->closing) break;  // the callback closed the registry or its events
    if (n < max) break;     // drained
    if (round == kMaxBatchesPerWakeup - 1) again = true;
  }
  if (again && !p->closing && p->queue.approx_size() > 0) {
    p->scheduled.store(true, std::memory_order_release);
    uv_async_send(&p->async);
  }
  napi_close_callback_scope(env, cs);
  napi_close_handle_scope(env, hs);
}

}  // namespace

EventPath* open_event_path(EnvData* ed, uint32_t owner, size_t capacity,
                           napi_value batch, size_t batch_max,
                           napi_value callback, const char** why) {
  napi_env env = ed->env;
  OwnerSlot& s = g_owners[owner];
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    *why = "handle-registry: no event loop in this thread";
    return nullptr;
  }
  EventPath* p = nullptr;
  try {
    p = new EventPath(capacity);
  } catch (const std::bad_alloc&) {
    p = nullptr;
  }
  hr::Event* scratch = p != nullptr ? new (std::nothrow) hr::Event[batch_max] : nullptr;
  if (p == nullptr || scratch == nullptr) {
    delete p;
    *why = "handle-registry: out of memory for the event queue";
    return nullptr;
  }
  p->scratch = scratch;
  p->batch_max = batch_max;
  p->owner = owner;
  p->env_data = ed;
  napi_value resource, name;
  if (napi_create_reference(env, callback, 1, &p->callback) != napi_ok ||
      napi_create_reference(env, batch, 1, &p->batch) != napi_ok ||
      napi_create_object(env, &resource) != napi_ok ||
      napi_create_string_utf8(env, "handle-registry:events", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, resource, name, &p->context) != napi_ok ||
      uv_async_init(loop, &p->async, on_async) != 0) {
    if (p->callback != nullptr) napi_delete_reference(env, p->callback);
    if (p->batch != nullptr) napi_delete_reference(env, p->batch);
    if (p->context != nullptr) napi_async_destroy(env, p->context);
    delete[] scratch;
    delete p;
    *why = "handle-registry: could not set up the event path";
    return nullptr;
  }
  p->async.data = p;
  // The path never keeps the process (or worker) alive by itself.
  uv_unref(reinterpret_cast<uv_handle_t*>(&p->async));
  s.path = p;
  s.events.store(p, std::memory_order_seq_cst);
  return p;
}

void close_event_path(EnvData* ed, OwnerSlot& s) {
  EventPath* p = s.path;
  if (p == nullptr) return;
  s.path = nullptr;
  s.events.store(nullptr, std::memory_order_seq_cst);
  synchronize(s);  // no producer is inside push() or uv_async_send() any more
  for (size_t n; (n = p->queue.drain(p->scratch, p->batch_max)) > 0;) bump(s.dropped_at_close, n);
  p->closing = true;
  napi_delete_reference(ed->env, p->callback);
  napi_delete_reference(ed->env, p->batch);
  napi_async_destroy(ed->env, p->context);
  p->callback = p->batch = nullptr;
  p->context = nullptr;
  ++ed->pending_closes;
  uv_close(reinterpret_cast<uv_handle_t*>(&p->async), on_closed);
}

void maybe_finish_cleanup(EnvData* ed) {
  if (ed->in_cleanup && ed->cleanup != nullptr && ed->pending_closes == 0) {
    napi_async_cleanup_hook_handle h = ed->cleanup;
    ed->cleanup = nullptr;
    napi_remove_async_cleanup_hook(h);
  }
}

}  // namespace hr_native
