/* clib.h: a tiny stand-in for a C library with synchronous callbacks, the
 * shape of sqlite3_create_function's xFunc + pApp (or qsort_r's comparator +
 * context): the library keeps a callback and an opaque user_data, and calls
 * back on the caller's thread, before clib_run returns. Compiled as C in its
 * own translation unit (clib.c), so the callback is a real indirect call the
 * compiler cannot inline. */
#ifndef BENCH_RESOLVE_CLIB_H_
#define BENCH_RESOLVE_CLIB_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef double (*clib_fn)(void* user_data, double x);

/* Calls fn(user_data, i) for i in 0..n-1 and returns the sum of the results. */
double clib_run(clib_fn fn, void* user_data, uint32_t n);

#ifdef __cplusplus
}
#endif

#endif /* BENCH_RESOLVE_CLIB_H_ */
