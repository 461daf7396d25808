/* handle_registry_status.h: the status codes of handle-registry, one table
 * for C and C++.
 *
 * Plain C (C99 and C++). Included by handle_registry.h (hr::Status,
 * hr::status_name) and handle_registry_abi.h (HR_STATUS_*, hr_status_name);
 * there is no need to include it directly. The values cross the C ABI: they
 * never change, new codes are only appended.
 */
#ifndef HANDLE_REGISTRY_STATUS_H_
#define HANDLE_REGISTRY_STATUS_H_

#include <stdint.h>

/* Version of the binary interface between separately compiled addons and the
 * registry addon (handle encoding, domain table, event layout, C entry
 * points). Bumped on any incompatible change; checked when an addon attaches. */
#define HR_ABI_VERSION 1

/* X(NAME, value, "name"): every status, in value order. */
#define HR_STATUS_LIST(X)                                                         \
  X(OK, 0, "ok")                                                                  \
  X(INVALID_HANDLE, 1, "invalid_handle")     /* 0, > 2^53-1, or never issued */   \
  X(STALE_HANDLE, 2, "stale_handle")         /* released: generation moved on */  \
  X(FOREIGN_HANDLE, 3, "foreign_handle")     /* another registry or domain */     \
  X(REGISTRY_CLOSED, 4, "registry_closed")   /* owner closed or worker ended */   \
  X(QUEUE_FULL, 5, "queue_full")             /* bounded queue full: dropped */    \
  X(VERSION_MISMATCH, 6, "version_mismatch") /* ABI version or layout differs */  \
  X(NOT_ATTACHED, 7, "not_attached")         /* no table / domain attached */     \
  X(PAYLOAD_TOO_LARGE, 8, "payload_too_large") /* post_bytes over the limit */ \
  X(WRONG_THREAD, 9, "wrong_thread")         /* resolve off the owner's JS thread */ \
  X(COLLECTED, 10, "collected")              /* weak value garbage-collected */  \
  X(NAPI_FAILED, 11, "napi_failed")          /* N-API refused (exception pending) */ \
  X(TIMEOUT, 12, "timeout")                  /* a blocking entry waited its limit */ \
  X(WOULD_DEADLOCK, 13, "would_deadlock")    /* blocking entry on the owner's JS thread */ \
  X(THREW, 14, "threw")                      /* the JS call handler threw */

#define HR_STATUS_ENUMERATOR_(name, value, text) HR_STATUS_##name = value,
#define HR_STATUS_NAME_CASE_(name, value, text) \
  case value:                                   \
    return text;

#ifdef __cplusplus
extern "C" {
#endif

/* HR_STATUS_OK, HR_STATUS_INVALID_HANDLE, ... (equal to hr::Status). */
enum { HR_STATUS_LIST(HR_STATUS_ENUMERATOR_) };

/* "ok", "invalid_handle", ...; "unknown" for any other value. Never NULL. */
static inline const char* hr_status_name(int32_t status) {
  switch (status) {
    HR_STATUS_LIST(HR_STATUS_NAME_CASE_)
    default:
      return "unknown";
  }
}

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif /* HANDLE_REGISTRY_STATUS_H_ */
