/* util.c - overflow-checked size arithmetic, allocation and the clock. */
#include <stdlib.h>
#include <time.h>

#include "internal.h"

xo_status xo_mul_size(int64_t a, int64_t b, int64_t *r) {
  if (a < 0 || b < 0)
    return xo_fail(XO_ERR_INVALID_ARG, "negative size %lld x %lld",
                   (long long)a, (long long)b);
  if (a != 0 && b > INT64_MAX / a)
    return xo_fail(XO_ERR_OVERFLOW, "size %lld x %lld overflows 64 bits",
                   (long long)a, (long long)b);
  *r = a * b;
  return XO_OK;
}

xo_status xo_prod_size(const int64_t *dims, int n, int64_t *r) {
  int64_t acc = 1;
  for (int i = 0; i < n; i++) {
    xo_status st = xo_mul_size(acc, dims[i], &acc);
    if (st != XO_OK) return st;
  }
  *r = acc;
  return XO_OK;
}

xo_status xo_alloc(int64_t count, size_t size, void **p) {
  int64_t bytes = 0;
  *p = NULL;
  xo_status st = xo_mul_size(count, (int64_t)size, &bytes);
  if (st != XO_OK) return st;
  /* malloc(0) may return NULL; ask for one byte so NULL always means
   * failure. */
  *p = malloc(bytes > 0 ? (size_t)bytes : 1);
  if (*p == NULL)
    return xo_fail(XO_ERR_NO_MEMORY, "cannot allocate %lld bytes",
                   (long long)bytes);
  return XO_OK;
}

double xo_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
