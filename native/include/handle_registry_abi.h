/* handle_registry_abi.h: the C ABI of the handle-registry addon, version 1.
 *
 * Plain C (C99 and C++), no Node/N-API dependency. A separately compiled
 * addon reaches the registry addon already loaded in the process through one
 * table of function pointers, `hr_api_v1`, that JS hands over as an opaque,
 * type-tagged napi_external (never as an address):
 *
 *   // JS:     myAddon.attach(registry)   // or registry.nativeApi
 *
 *   // Addon, on the JS thread: hr::attach (handle_registry_napi.h), or by hand:
 *   static const napi_type_tag tag = {HR_API_TYPE_TAG_LOWER, HR_API_TYPE_TAG_UPPER};
 *   bool ok = false; void* data = NULL;
 *   napi_typeof(env, v, &t) -> napi_external, then
 *   napi_check_object_type_tag(env, v, &tag, &ok), then if ok:
 *   napi_get_value_external(env, v, &data);
 *   const hr_api_v1* api = (const hr_api_v1*)data;
 *   int32_t st = hr_api_v1_check(api);       // HR_STATUS_OK or a reason
 *   if (st != HR_STATUS_OK) { throw: hr_status_name(st) }
 *
 *   // Later, from any thread (the C library's own threads included):
 *   int32_t st = api->post(handle, kind, payload);
 *
 * Contract of the table (what version 1 promises):
 *   - The table is static, read-only, and valid for the life of the process
 *     (it is never freed, even after every registry and worker is gone).
 *   - Every function is thread-safe, never throws, never calls JS, and
 *     accepts any 64-bit value as a handle. None blocks, except post_wait and
 *     call (both refuse at once on the owner's own JS thread), and post /
 *     post_bytes / post_many to a registry whose onEvent option whenFull is
 *     'block' (they wait for room in its full queue, up to its
 *     blockTimeoutMs; never on that registry's own JS thread). None allocates, except
 *     post_bytes, which copies its bytes into one malloc'd buffer, and
 *     resolve, which caches a napi_ref on its owner's JS thread. resolve
 *     works on the owner's JS thread only (WRONG_THREAD elsewhere).
 *   - Fields are only ever appended: a provider with a larger `size` is
 *     compatible; check `size >= sizeof(hr_api_v1)` (hr_api_v1_check does).
 *     An incompatible change bumps HR_ABI_VERSION and the table's name.
 *
 * Handles: the guarantees of handle_registry.h (0 is never a handle, at most
 * 2^53-1). Statuses: handle_registry_status.h (HR_STATUS_*; a post returns
 * OK, INVALID_HANDLE, STALE_HANDLE, REGISTRY_CLOSED, QUEUE_FULL or, for
 * post_bytes, PAYLOAD_TOO_LARGE; under whenFull 'block' and from post_wait,
 * TIMEOUT and WOULD_DEADLOCK instead of QUEUE_FULL).
 */
#ifndef HANDLE_REGISTRY_ABI_H_
#define HANDLE_REGISTRY_ABI_H_

#include <stddef.h>
#include <stdint.h>

/* HR_ABI_VERSION, HR_STATUS_* and hr_status_name(): one table shared with
 * the C++ headers (hr::Status has the same values). */
#include "handle_registry_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* N-API's opaque value type (napi_value of node_api.h), declared here so
 * that this header needs no Node headers. */
struct napi_value__;

/* The most bytes one post_bytes event may carry (64 KiB). */
#define HR_MAX_BYTES 65536u

/* One event (24 bytes). post_many posts numeric events only:
 * it ignores `size` (set it to 0); byte payloads go through post_bytes. */
typedef struct hr_event_v1 {
  uint64_t handle;
  uint32_t kind;
  uint32_t size;
  double payload;
} hr_event_v1;

/* timeout_ms of api->post_wait and api->call for "no limit". */
#define HR_WAIT_FOREVER 0xFFFFFFFFu

/* The reply of api->call (24 bytes): a number, or bytes the registry addon
 * allocated (free them with api->free_reply). */
typedef struct hr_reply_v1 {
  double number;   /* the reply when is_bytes == 0 */
  void* bytes;     /* when is_bytes == 1: `size` bytes (NULL when size == 0) */
  uint32_t size;
  uint32_t is_bytes;
} hr_reply_v1;

typedef struct hr_api_v1 {
  /* HR_ABI_VERSION of the addon that filled the table. */
  uint32_t abi_version;
  /* sizeof(hr_api_v1) as compiled by that addon. */
  uint32_t size;

  /* Posts (handle, kind, payload) to the registry that owns `handle`; it is
   * delivered on that registry's JS thread in a batch. Returns HR_STATUS_OK,
   * or INVALID_HANDLE / STALE_HANDLE / REGISTRY_CLOSED / QUEUE_FULL, in which
   * case the event was dropped and counted in the owner's event stats.
   * Events one thread posts to one registry arrive in the order posted. */
  int32_t (*post)(uint64_t handle, uint32_t kind, double payload);

  /* 1 if `handle` is live right now (its registry is open and the slot still
   * holds that generation), else 0. The answer may change at once: use it
   * for diagnostics, not to decide whether post() is safe (post always is).
   * A weak handle whose value was collected gets 0 at once on its registry's
   * JS thread, and 1 on other threads until the registry's finalization
   * callback has released it (docs/native.md). */
  int32_t (*is_live)(uint64_t handle);

  /* Posts count events in order, as post() each, and writes each status to
   * statuses[i] when statuses is not NULL. Returns how many got HR_STATUS_OK.
   * Cheaper per event than post() for runs of consecutive events of one
   * registry: the close-protocol guard and the wake-up are paid once per run.
   * Once an event gets QUEUE_FULL, every later event of the same call to the
   * same registry gets QUEUE_FULL too (not queued), so re-posting the failed
   * events in order keeps the per-producer order. */
  size_t (*post_many)(const hr_event_v1* events, size_t count, int32_t* statuses);

  /* The process-wide domain table: int32 words, read-only for users, valid
   * for ever. Its layout is not part of the ABI promise (it is versioned by
   * its LAYOUT_VERSION word); read it through hr::DomainView of
   * handle_registry_diagnostics.h. */
  const int32_t* domain_words;
  size_t domain_word_count;

  /* Appended after the first version-1 table (append-only rule above): an
   * addon built with this header gets VERSION_MISMATCH from hr_api_v1_check
   * against an older handle-registry whose table ends before this field.
   * Posts (handle, kind, bytes): copies data[0..size) into one malloc'd
   * buffer (the only allocation of the table's functions) and queues it like
   * post(): same routing, liveness check, statuses and order (byte and
   * numeric events of one thread keep their relative order). JS receives a
   * Uint8Array of the bytes. `data` must point to `size` readable bytes (it is
   * not read after the call returns). size == 0 posts a numeric event with
   * payload 0. size > HR_MAX_BYTES returns HR_STATUS_PAYLOAD_TOO_LARGE (after
   * the handle checks; counted as droppedTooLarge). If the allocation fails
   * the event is dropped with HR_STATUS_QUEUE_FULL (counted as droppedFull). */
  int32_t (*post_bytes)(uint64_t handle, uint32_t kind, const void* data, uint32_t size);

  /* Appended (same rule as post_bytes). Resolves `handle` to its value, for
   * C callbacks that run synchronously on a JS thread (a comparator, an
   * SQLite function, a parser callback) and get only a user_data. The one
   * entry that works on one thread only, and the one that yields N-API values;
   * it never calls JS. Use it through hr::resolve (handle_registry_napi.h),
   * which gives the types their N-API names.
   * On the JS thread of the registry that owns `handle`: writes the value to
   * *value (a napi_value in the caller's current handle scope: call it inside
   * an N-API call or an open handle scope) and returns HR_STATUS_OK. Use it
   * with your own addon's napi_env of this thread (each addon has its own
   * env; hr::bind_env / hr::resolve keep it for you). A weak handle (registerWeak) whose
   * object was garbage-collected returns HR_STATUS_COLLECTED.
   * Otherwise, in this order: INVALID_HANDLE or REGISTRY_CLOSED from the
   * handle's block (any thread; REGISTRY_CLOSED also for a handle that an
   * earlier, closed owner of a reused block issued, as post); WRONG_THREAD on any other thread (the owner
   * is read from process-wide bookkeeping only: nothing of the registry is
   * touched); then STALE_HANDLE, INVALID_HANDLE (never issued) or COLLECTED
   * as registry.get would throw; NAPI_FAILED if N-API refused (a JS exception
   * is pending, or the env is shutting down). On any status but OK, *value is left
   * untouched. Costs one napi_get_reference_value once the
   * handle was resolved before (its value is cached as a weak napi_ref). */
  int32_t (*resolve)(uint64_t handle, struct napi_value__** value);

  /* Appended (same rule). Keep the event loop of the registry that owns
   * `handle` alive while a C library has work pending for it (a timer armed,
   * a parse running), as a ref'd timer or socket does; the process or worker
   * exits on its own once the last hold goes. Counted per registry, any
   * thread, never blocks. hold: HR_STATUS_OK, or the statuses of post
   * (INVALID_HANDLE, STALE_HANDLE, REGISTRY_CLOSED: nothing held). unhold
   * needs the registry open but not the handle live (unhold after JS released
   * it is fine): OK, INVALID_HANDLE (malformed, or more unholds than holds),
   * REGISTRY_CLOSED (the registry closed or its worker ended: its holds were
   * already dropped, nothing to do). Take the hold on the JS thread before
   * starting the work (from another thread it keeps the loop alive only if it
   * is still running when the hold arrives). registry.unref() lets the
   * process exit despite holds. */
  int32_t (*hold)(uint64_t handle);
  int32_t (*unhold)(uint64_t handle);

  /* Appended (same rule). Posts (handle, kind, payload) as post() does, but
   * when the registry's queue is full it waits, whatever the registry's
   * whenFull policy, until the event is queued or `timeout_ms` passed
   * (HR_WAIT_FOREVER: no limit). For C callbacks that return void and
   * cannot retry: the C library's thread is paced by JS instead of losing
   * events. Returns HR_STATUS_OK once queued; TIMEOUT (not queued, counted
   * as droppedTimeout; timeout_ms 0 never waits); WOULD_DEADLOCK at once,
   * without waiting, if the queue is full and this is the JS thread of the
   * registry (it would wait for itself; counted as droppedFull); or the
   * statuses of post(). Closing the registry, offEvent() and the end of its
   * worker wake every waiting thread, which returns REGISTRY_CLOSED. It waits
   * on a condition variable, never spinning. Events of one thread keep their order. */
  int32_t (*post_wait)(uint64_t handle, uint32_t kind, double payload, uint32_t timeout_ms);

  /* Appended (same rule). Calls the JS handler of the registry that owns
   * `handle` (registry.onCall) and waits for its reply, blocking the
   * calling thread. The call travels through the owner's event
   * queue like a post (calls and events one thread posts arrive in the order
   * posted; calls waiting from many threads are delivered in one batch).
   * Request: size == 0: the number `payload`; size > 0: a copy of
   * data[0..size) (at most HR_MAX_BYTES; `payload` is ignored), which JS sees
   * as a Uint8Array. Waits until the handler returned (or its Promise
   * settled), or `timeout_ms` passed (HR_WAIT_FOREVER: no limit; teardown
   * still wakes it). `reply` may be NULL (the reply is discarded); it is
   * zeroed unless the status is OK, and on OK holds the reply: a number, or
   * bytes to free with free_reply. Statuses:
   *   OK                 the handler's reply is in *reply
   *   THREW              the handler threw, rejected, or answered with
   *                      something that is neither a number nor a Uint8Array
   *                      (the error also reaches JS as an event handler's does)
   *   TIMEOUT            no reply within timeout_ms. The call may still be
   *                      delivered and run later; its reply is then discarded.
   *   WOULD_DEADLOCK     called on the owner's own JS thread (refused at once)
   *   INVALID_HANDLE, STALE_HANDLE, REGISTRY_CLOSED, QUEUE_FULL,
   *   PAYLOAD_TOO_LARGE  as for post/post_bytes (nothing was queued), also
   *                      STALE_HANDLE if JS released the handle before the call
   *                      was delivered, and REGISTRY_CLOSED when the registry
   *                      has no onCall handler, or closes, calls offCall or
   *                      its worker ends while the call waits. */
  int32_t (*call)(uint64_t handle, uint32_t kind, double payload, const void* data, uint32_t size,
                  uint32_t timeout_ms, struct hr_reply_v1* reply);
  /* Frees the bytes of a reply from call() (if any) and zeroes it. NULL is fine. */
  void (*free_reply)(struct hr_reply_v1* reply);
} hr_api_v1;

/* registry.nativeApi is a napi_external whose data is the table, tagged with
 * napi_type_tag_object and this 128-bit tag (never an address JS could
 * forge). hr::attach (handle_registry_napi.h) checks the tag before it reads
 * the data; plain-C users do the same with napi_check_object_type_tag. */
#define HR_API_TYPE_TAG_LOWER 0x6a8f3c2d91e74b05ull
#define HR_API_TYPE_TAG_UPPER 0xb4d27e1f5c0a9836ull

/* HR_STATUS_OK if `api` is a version-1 table this header can use;
 * HR_STATUS_NOT_ATTACHED for NULL; HR_STATUS_VERSION_MISMATCH otherwise. */
static inline int32_t hr_api_v1_check(const hr_api_v1* api) {
  if (api == NULL) return HR_STATUS_NOT_ATTACHED;
  if (api->abi_version != HR_ABI_VERSION || api->size < sizeof(hr_api_v1)) {
    return HR_STATUS_VERSION_MISMATCH;
  }
  return HR_STATUS_OK;
}

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif /* HANDLE_REGISTRY_ABI_H_ */
