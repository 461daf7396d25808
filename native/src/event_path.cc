// event_path.cc: the event path of one owner, from native producers to its JS
// thread: a bounded MPSC queue (EventQueue) and a uv_async_t on the
// owner's event loop. Over 400 lines: on_async is one protocol (drain,
// fill, deliver, idle, stop) whose steps share its locals; split, they would
// not read. Opening, stopping and closing a path share the Waker spares and
// the list of this thread's paths, which are private to this file.
//
// Delivery (JS thread, in the async callback):
//   - drains up to batch.length / 4 events from the queue's cells straight
//     into the Float64Array `batch` as [handle, kind, payload, size] records
//     and calls callback(count): one boundary crossing per batch. Numeric
//     events: size 0, payload the number. Byte events (post_bytes): their
//     bytes are copied into the Uint8Array `arena` (from offset 0 each batch,
//     each at a multiple of 8), payload = offset, size = byte count, and the
//     producer's buffer is freed. An event that no longer fits the arena ends
//     the batch and stays queued for the next batch of the same wake-up;
//   - keeps `scheduled` set while it drains, and clears it only when a
//     batch comes back short (then re-checks: the wake-up protocol in
//     event_path.h; events that arrived meanwhile make it signal itself with
//     `scheduled` still set), so producers posting meanwhile do not signal;
//   - a batch that comes back short while events keep arriving waits for
//     more before it is delivered (batch_fill.h; at most kFillPerBatchNs per
//     batch, kFillPerWakeupNs per wake-up, not while another path of this
//     thread has a wake-up pending, nor when the path's live ring producers
//     and this thread outnumber the cores), so a producer slower than JS
//     still gets full batches and no wake-up per short batch;
//   - at most kMaxBatchesPerWakeup batches per wake-up; if events remain it
//     signals itself again, so a flood cannot starve the event loop;
//   - all batches of one wake-up run inside one callback scope (async
//     context "handle-registry:events"): process.nextTick callbacks and
//     microtasks queued by the callback run when the wake-up ends;
//   - events count as delivered when they are copied into `batch`, and back
//     out (into droppedAtClose) if the callback cannot be called;
//   - calls (api->call, calls.cc) are events marked kCallMark: their record
//     goes to the path's table of calls and their batch record has a negative
//     size; the replies made while the batch's callback runs wake their
//     callers once it returns, and a batch with calls keeps the wake-up
//     draining while the queue has more (their callers post again at once).
// If the callback throws, the exception goes to napi_fatal_exception, i.e.
// process 'uncaughtException' (in a worker: the worker's 'error' event), the
// same as an exception thrown from a timer. With an 'uncaughtException'
// handler installed the process goes on: the wake-up stops there and signals
// itself again if events remain.
// If the callback cannot be called at all (the env can no longer run JS: a
// worker terminating, the process exiting), the path is stopped for
// producers at once (stop_event_path) rather than at the env cleanup hook,
// which Node runs only once the env's requests in flight have finished:
// meanwhile every post would wake a drain into JS that cannot take it.
#include <algorithm>
#include <chrono>
#include <new>
#include <thread>

#include "batch_fill.h"
#include "event_path.h"

namespace hr_native {

namespace {

constexpr int kMaxBatchesPerWakeup = 64;
// Batch fill (batch_fill.h): the longest a short batch waits for more events,
// and all the waiting of one wake-up (the event loop must turn).
constexpr int64_t kFillPerBatchNs = 100000;
constexpr int64_t kFillPerWakeupNs = 500000;

// Wakers of closed paths, kept initialised (and unref'd) for the next path
// opened on this thread: onEvent() + close() in a loop then costs no uv handle
// per cycle (a pending uv_close holds ~160 bytes until the loop turns). One
// env per thread: Node runs each env (main, worker) on its own thread, and the
// env's cleanup closes the spares (maybe_finish_cleanup). A spare may still
// have a signal pending from its old path: on_async then finds path null (or,
// once reused, runs one spurious drain, which the wake-up protocol allows).
constexpr uint32_t kMaxSpareWakers = 16;
thread_local Waker* t_spares = nullptr;
thread_local uint32_t t_spare_count = 0;

// The paths open on this thread (linked by next_open): a wake-up filling its
// batch stops once another of them has a wake-up pending (`scheduled`).
thread_local EventPath* t_open = nullptr;

bool other_path_pending(const EventPath* p) noexcept {
  for (const EventPath* q = t_open; q != nullptr; q = q->next_open) {
    if (q != p && q->scheduled.load(std::memory_order_relaxed)) return true;
  }
  return false;
}

// Whether this wake-up may wait for its batches to fill: only while the
// producers with a live ring here and this thread fit the machine's cores.
// With more, the JS thread's wait would hold a core the producers need to
// fill the batch. (With 4 threads to 4 registries on 2 cores the A/B could
// not tell the wait from its absence within the spread: docs/benchmark-log.md.)
bool may_fill(const EventPath* p) noexcept {
  static const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  unsigned live = 0;
  const uint32_t n = p->rings.count();
  for (uint32_t i = 0; i < n; ++i) {
    if (!p->rings.at(i)->orphaned()) ++live;
  }
  return live + 1 <= cores;
}

Waker* take_spare_waker(EnvData* ed) noexcept {
  Waker* w = t_spares;
  if (w == nullptr || w->env_data != ed) return nullptr;
  t_spares = w->next_spare;
  --t_spare_count;
  w->next_spare = nullptr;
  return w;
}

bool keep_spare_waker(Waker* w) noexcept {
  if (w->env_data->in_cleanup || t_spare_count >= kMaxSpareWakers) return false;
  w->next_spare = t_spares;
  t_spares = w;
  ++t_spare_count;
  return true;
}

void on_closed(uv_handle_t* handle) {
  Waker* w = static_cast<Waker*>(handle->data);
  EnvData* ed = w->env_data;
  delete w;
  --ed->pending_closes;
  maybe_finish_cleanup(ed);
}

// The queue looked empty: clear `scheduled`, then re-check (the wake-up
// protocol of event_path.h). True if the queue is empty and the path idle: the
// next post signals. False if events arrived (or a producer is still writing
// one): `scheduled` is true again and the caller keeps draining or signals.
// After a batch with calls: true once the queue holds something again, false
// after kCallPollNs without (then the path goes idle as usual).
bool await_next_call(EventPath* p) noexcept {
  constexpr int64_t kCallPollNs = 20000;
  const auto start = std::chrono::steady_clock::now();
  for (uint32_t i = 0;; ++i) {
    if (path_queued(p) > 0) return true;
    hr::detail::cpu_relax();
    if ((i & 63) == 63 && std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::steady_clock::now() - start).count() > kCallPollNs) {
      return false;
    }
  }
}

// A producer that saw `false` meanwhile has signalled too: that wake-up finds
// the lanes drained and goes idle.
bool try_go_idle(EventPath* p) noexcept { return lanes_try_idle(p->scheduled, p->queue, p->rings, p->full); }

// [handle, kind, payload, size] records straight from the queue's cells;
// byte events copied into the arena (false: it does not fit, left queued).
struct ToRecords {
  EventPath* path;
  double* out;  // record i at out + 4 * (base + i)
  uint8_t* arena;
  size_t arena_length;
  size_t used = 0;
  size_t calls = 0;  // calls among the records
  size_t base = 0;   // records taken by earlier drains of this batch
  bool arena_full = false;
  bool operator()(const Event& e, size_t i) noexcept {
    double* r = out + 4 * (base + i);
    // Through int64_t: a handle is below 2^53, and a signed conversion is one
    // cvtsi2sd where uint64_t -> double takes a test, a branch and two paths.
    r[0] = static_cast<double>(static_cast<int64_t>(e.handle));
    r[1] = static_cast<double>(e.kind);
    if (e.size == 0) {
      r[2] = e.payload;
      r[3] = 0;
      return true;
    }
    if (e.size == kCallMark) {  // a call (calls.cc): a record with a negative size
      if (call_to_record(path, e, r, arena, arena_length, &used)) {
        ++calls;
        return true;
      }
      arena_full = true;
      return false;
    }
    if (used > arena_length || e.size > arena_length - used) {
      arena_full = true;
      return false;
    }
    void* buf = unpack_bytes(e.payload);
    std::memcpy(arena + used, buf, e.size);
    std::free(buf);
    r[2] = static_cast<double>(used);
    r[3] = static_cast<double>(e.size);
    used += (static_cast<size_t>(e.size) + 7) & ~size_t{7};
    return true;
  }
};

void on_async(uv_async_t* handle) {
  Waker* w = static_cast<Waker*>(handle->data);
  EventPath* p = w->path;
  // Closed (and freed) since this wake-up was signalled. After each callback
  // below, w->path is read again: the callback may close the path (then p is
  // freed and must not be touched), and even open a new one.
  // Stopped (the env cannot run JS): a wake-up signalled before the stop.
  if (p == nullptr || p->stopped) return;
  const uint64_t opened = w->opened;
  // False once the callback closed p (freed), even if it opened another path
  // on this Waker at the same address.
  const auto still_open = [w, p, opened]() noexcept { return w->path == p && w->opened == opened; };
  // `scheduled` stays true while this wake-up drains: producers do not signal.
  napi_env env = p->env_data->env;
  OwnerSlot& s = g_owners[p->owner];

  napi_handle_scope hs;
  if (napi_open_handle_scope(env, &hs) != napi_ok) {
    p->scheduled.store(false, std::memory_order_seq_cst);  // the next post retries
    return;
  }
  napi_value resource;
  napi_callback_scope cs = nullptr;
  if (napi_get_global(env, &resource) != napi_ok ||
      napi_open_callback_scope(env, resource, p->context, &cs) != napi_ok) {
    napi_close_handle_scope(env, hs);
    p->scheduled.store(false, std::memory_order_seq_cst);
    return;
  }

  // How the wake-up ends: idle (queue empty, `scheduled` cleared), again
  // (events remain: signal itself, `scheduled` stays set), or stop (JS cannot
  // take events now: clear `scheduled` without re-checking, so the next post
  // wakes the path again rather than this callback spinning).
  enum class End { kIdle, kAgain, kStop } end = End::kAgain;
  int64_t fill_left = may_fill(p) ? kFillPerWakeupNs : 0;
  for (int round = 0; round < kMaxBatchesPerWakeup; ++round) {
    napi_value batch, callback, undefined, count;
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    if (napi_get_reference_value(env, p->batch, &batch) != napi_ok || batch == nullptr ||
        napi_get_typedarray_info(env, batch, &type, &length, &data, nullptr, nullptr) != napi_ok ||
        type != napi_float64_array || data == nullptr || length < 4) {
      end = End::kStop;  // batch array detached (transferred): events stay queued until close
      break;
    }
    // The arena (if any): every byte event fits an empty one (max_bytes).
    uint8_t* arena = nullptr;
    size_t arena_length = 0;
    if (p->arena != nullptr) {
      napi_value a;
      void* adata = nullptr;
      if (napi_get_reference_value(env, p->arena, &a) != napi_ok || a == nullptr ||
          napi_get_typedarray_info(env, a, &type, &arena_length, &adata, nullptr, nullptr) != napi_ok ||
          type != napi_uint8_array || adata == nullptr || arena_length < p->max_bytes) {
        end = End::kStop;  // arena detached: events stay queued until close
        break;
      }
      arena = static_cast<uint8_t*>(adata);
    }
    const size_t max = std::min(length / 4, p->batch_max);
    ToRecords sink{p, static_cast<double*>(data), arena, arena_length};
    // Shared queue, rings, then the overflow of 'grow'; wakes producers waiting for room.
    size_t n = lanes_consume(p->queue, p->rings, p->full, max, sink, event_extra);
    // A short batch while events keep arriving: let it fill (batch_fill.h)
    // rather than deliver it and have the next post wake this thread again.
    // Not with calls in it (their callers wait for the reply), nor when the
    // arena cut it short.
    int64_t batch_left = std::min(fill_left, kFillPerBatchNs);
    const int64_t batch_budget = batch_left;
    while (n > 0 && n < max && sink.calls == 0 && !sink.arena_full && batch_left > 0) {
      const size_t want = std::min(max - n, p->queue.capacity());
      const size_t queued = await_fill([p]() noexcept { return path_queued(p); }, want, &batch_left,
                                       [p]() noexcept { return other_path_pending(p); });
      if (queued == 0) break;
      sink.base = n;
      const size_t more = lanes_consume(p->queue, p->rings, p->full, max - n, sink, event_extra);
      n += more;
      if (more == 0 || queued < want) break;  // stalled or out of time: deliver what there is
    }
    fill_left -= batch_budget - batch_left;
    if (n == 0) {
      if (try_go_idle(p)) {
        end = End::kIdle;
        break;
      }
      continue;  // events arrived meanwhile (or are being written)
    }
    bump(s.delivered, n);
    if (napi_get_reference_value(env, p->callback, &callback) != napi_ok ||
        napi_get_undefined(env, &undefined) != napi_ok ||
        napi_create_uint32(env, static_cast<uint32_t>(n), &count) != napi_ok) {
      end = End::kStop;
      break;
    }
    if (sink.calls > 0) begin_delivery();  // their replies wake the callers once, after the callback
    const napi_status called = napi_call_function(env, undefined, callback, 1, &count, nullptr);
    if (sink.calls > 0) end_delivery();
    if (called != napi_ok) {
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (pending) {
        napi_value error;
        if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
        end = End::kAgain;  // the process may go on ('uncaughtException' handler)
      } else {
        // The env cannot run JS any more (worker terminating, process
        // exiting; Node never lets it run JS again): this batch never reached
        // JS. Count it where close counts the events it drops, and close the
        // path for producers now, as close() would (stop_event_path).
        s.delivered.store(s.delivered.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
        bump(s.dropped_at_close, n);
        stop_event_path(s);
        end = End::kStop;
      }
      break;
    }
    if (!still_open()) break;  // the callback closed the registry or its events: p is freed
    // Only full batches keep this wake-up going. A short one means the
    // queue was drained: rather than poll it in tiny batches (each cell then
    // bounces between the cores), go idle, or, if events arrived meanwhile,
    // signal this path again with `scheduled` still set, so the producers do
    // not pay for the signal and the loop's turn lets the next batch fill.
    // A batch cut short by a full arena is not the end of the queue: go on.
    // A batch with calls (calls.cc) goes on too while the queue has more:
    // their callers are blocked, and each one that got its reply posts its
    // next call within microseconds; a loop turn per call would cost them
    // a signal and an epoll round trip each.
    if (n < max && !sink.arena_full) {
      if (sink.calls > 0) {
        // The callers just answered usually call again within microseconds:
        // watch the queue for a short while rather than go idle at once (an
        // idle JS thread costs each of them an eventfd signal, an epoll
        // wake-up and two context switches).
        if (await_next_call(p)) continue;
        if (try_go_idle(p)) {
          end = End::kIdle;
          break;
        }
        continue;
      }
      if (!try_go_idle(p)) uv_async_send(&w->async);
      end = End::kIdle;  // idle, or signalled again (done either way)
      break;
    }
  }
  if (still_open()) {
    switch (end) {
      case End::kIdle:
        break;
      case End::kAgain:  // round limit, or the callback threw
        if (!try_go_idle(p)) uv_async_send(&w->async);
        break;
      case End::kStop:
        p->scheduled.store(false, std::memory_order_seq_cst);
        break;
    }
  }
  napi_close_callback_scope(env, cs);
  napi_close_handle_scope(env, hs);
}

}  // namespace

EventPath* open_event_path(EnvData* ed, uint32_t owner, size_t capacity,
                           napi_value batch, size_t batch_max,
                           napi_value callback, napi_value arena, size_t arena_length,
                           const char** why) {
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
  // A spare Waker of this thread (already initialised on this env's loop), or a new one.
  Waker* w = p == nullptr ? nullptr : take_spare_waker(ed);
  const bool fresh = w == nullptr;
  if (p != nullptr && fresh) {
    w = new (std::nothrow) Waker();
    if (w != nullptr) w->env_data = ed;
  }
  if (w == nullptr) {
    delete p;
    *why = "handle-registry: out of memory for the event queue";
    return nullptr;
  }
  p->waker = w;
  p->batch_max = batch_max;
  p->max_bytes = arena == nullptr ? 0 : static_cast<uint32_t>(std::min<size_t>(HR_MAX_BYTES, arena_length));
  p->owner = owner;
  p->env_data = ed;
  napi_value resource, name;
  if (napi_create_reference(env, callback, 1, &p->callback) != napi_ok ||
      napi_create_reference(env, batch, 1, &p->batch) != napi_ok ||
      (arena != nullptr && napi_create_reference(env, arena, 1, &p->arena) != napi_ok) ||
      napi_create_object(env, &resource) != napi_ok ||
      napi_create_string_utf8(env, "handle-registry:events", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, resource, name, &p->context) != napi_ok ||
      (fresh && uv_async_init(loop, &w->async, on_async) != 0)) {
    if (p->callback != nullptr) napi_delete_reference(env, p->callback);
    if (p->batch != nullptr) napi_delete_reference(env, p->batch);
    if (p->arena != nullptr) napi_delete_reference(env, p->arena);
    if (p->context != nullptr) napi_async_destroy(env, p->context);
    if (fresh) {
      delete w;  // never initialised
    } else if (!keep_spare_waker(w)) {
      ++ed->pending_closes;
      uv_close(reinterpret_cast<uv_handle_t*>(&w->async), on_closed);
    }
    delete p;
    *why = "handle-registry: could not set up the event path";
    return nullptr;
  }
  if (fresh) {
    w->async.data = w;
    // The path never keeps the process (or worker) alive by itself.
    uv_unref(reinterpret_cast<uv_handle_t*>(&w->async));
  }
  w->path = p;
  ++w->opened;
  p->next_open = t_open;
  t_open = p;
  s.path = p;
  s.events.store(p, std::memory_order_seq_cst);
  return p;
}

namespace {

// Closes p for producers: s.events is what every post, post_wait and call
// reads under the close protocol's guard, so from the store on they find no
// path (REGISTRY_CLOSED, counted droppedClosed); synchronize() waits out
// those that read it before. Then nothing pushes to p any more: wake the
// producers waiting for room (they route again and find no path) and drop
// what is queued. The JS thread only; frees nothing.
void unpublish(OwnerSlot& s, EventPath* p) noexcept {
  s.events.store(nullptr, std::memory_order_seq_cst);
  synchronize(s);  // no producer is inside push() or uv_async_send() any more
  // Producers waiting for room (outside the guard, holding the Room) wake
  // now, route again and get registry_closed.
  p->full.room->close();
  const auto discard = [](const Event& e, size_t) noexcept { free_event(e); };
  for (size_t n; (n = lanes_consume(p->queue, p->rings, p->full, p->batch_max, discard, event_extra)) > 0;) {
    bump(s.dropped_at_close, n);
  }
}

}  // namespace

void stop_event_path(OwnerSlot& s) {
  EventPath* p = s.path;
  if (p == nullptr || p->stopped) return;
  p->stopped = true;
  unpublish(s, p);
  cancel_calls(p, false);  // calls handed to JS: it will never answer them
}

void close_event_path(EnvData* ed, OwnerSlot& s) {
  EventPath* p = s.path;
  if (p == nullptr) return;
  s.path = nullptr;
  for (EventPath** link = &t_open; *link != nullptr; link = &(*link)->next_open) {
    if (*link == p) {
      *link = p->next_open;
      break;
    }
  }
  unpublish(s, p);  // again after stop_event_path: finds nothing to drop
  cancel_calls(p, true);  // calls JS has not answered: REGISTRY_CLOSED
  napi_delete_reference(ed->env, p->callback);
  napi_delete_reference(ed->env, p->batch);
  if (p->arena != nullptr) napi_delete_reference(ed->env, p->arena);
  napi_async_destroy(ed->env, p->context);
  // No producer holds p (synchronize above), and a wake-up already signalled
  // finds waker->path null: free the ring now, not when the loop turns.
  Waker* w = p->waker;
  w->path = nullptr;
  delete p;
  if (keep_spare_waker(w)) return;
  ++ed->pending_closes;
  uv_close(reinterpret_cast<uv_handle_t*>(&w->async), on_closed);
}

void maybe_finish_cleanup(EnvData* ed) {
  if (ed->in_cleanup) {
    while (Waker* w = t_spares) {
      t_spares = w->next_spare;
      --t_spare_count;
      ++ed->pending_closes;
      uv_close(reinterpret_cast<uv_handle_t*>(&w->async), on_closed);
    }
  }
  if (ed->in_cleanup && ed->cleanup != nullptr && ed->pending_closes == 0) {
    napi_async_cleanup_hook_handle h = ed->cleanup;
    ed->cleanup = nullptr;
    napi_remove_async_cleanup_hook(h);
  }
}

}  // namespace hr_native
