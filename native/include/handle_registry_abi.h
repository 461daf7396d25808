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
 *   - Every function is thread-safe, never blocks, never throws, never calls
 *     JS, and accepts any 64-bit value as a handle. None allocates, except
 *     post_bytes, which copies its bytes into one malloc'd buffer.
 *   - Fields are only ever appended: a provider with a larger `size` is
 *     compatible; check `size >= sizeof(hr_api_v1)` (hr_api_v1_check does).
 *     An incompatible change bumps HR_ABI_VERSION and the table's name.
 *
 * Handles: the guarantees of handle_registry.h (0 is never a handle, at most
 * 2^53-1). Statuses: handle_registry_status.h (HR_STATUS_*; a post returns
 * OK, INVALID_HANDLE, STALE_HANDLE, REGISTRY_CLOSED, QUEUE_FULL or, for
 * post_bytes, PAYLOAD_TOO_LARGE).
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
   * for diagnostics, not to decide whether post() is safe (post always is). */
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
