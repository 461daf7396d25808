/* clib.c: see clib.h. */
#include "clib.h"

double clib_run(clib_fn fn, void* user_data, uint32_t n) {
  double sum = 0;
  for (uint32_t i = 0; i < n; ++i) sum += fn(user_data, (double)i);
  return sum;
}
