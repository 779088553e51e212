/* util.c - overflow-checked size arithmetic, allocation, the memory
 * budget and the clock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

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
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  /* Large buffers on transparent huge pages where the kernel leaves that
   * to the program (THP "madvise"), as NumPy does for its arrays: a stream
   * over 4 KiB pages read 30 GB/s on the Zen 4 VM where 2 MiB pages read
   * 34, so the bandwidth probe and the prepared weights (and every other
   * large buffer of the core's) would otherwise read slower than the
   * caller's NumPy arrays. The whole pages inside the block; a refusal
   * changes nothing. */
  if (bytes >= ((int64_t)4 << 20)) {
    long ps = sysconf(_SC_PAGESIZE);
    uintptr_t pg = ps > 0 ? (uintptr_t)ps : 4096;
    uintptr_t lo = ((uintptr_t)*p + pg - 1) / pg * pg;
    uintptr_t hi = ((uintptr_t)*p + (uintptr_t)bytes) / pg * pg;
    if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
  }
#endif
  return XO_OK;
}

int64_t xo_memory_available(void) {
  /* MemAvailable counts reclaimable cache as well as free pages: what can
   * be had without swapping. Read per call: it changes. */
  FILE *f = fopen("/proc/meminfo", "r");
  if (f != NULL) {
    char line[128];
    long long kb = -1;
    while (fgets(line, sizeof line, f))
      if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1) break;
    fclose(f);
    if (kb >= 0) return (int64_t)kb * 1024;
  }
#ifdef _SC_AVPHYS_PAGES
  long pages = sysconf(_SC_AVPHYS_PAGES), size = sysconf(_SC_PAGESIZE);
  if (pages > 0 && size > 0) return (int64_t)pages * size;
#endif
  return 0;
}

/* Below this many bytes of copies the memory check is skipped. */
#define XO_MEMORY_CHECK_FLOOR ((int64_t)64 << 20)

xo_status xo_check_memory(const char *op, int n, const char *const *names,
                          const int64_t *bytes) {
  /* each size fits int64 (xo_prepare_bytes checked); their sum saturates:
   * no machine has 2^63 bytes either way */
  int64_t total = 0;
  for (int i = 0; i < n; i++)
    total = bytes[i] > INT64_MAX - total ? INT64_MAX : total + bytes[i];
  /* reading /proc/meminfo costs ~8 us, more than a small call's kernel:
   * copies this small cannot be what exhausts a machine */
  if (total <= XO_MEMORY_CHECK_FLOOR) return XO_OK;
  int64_t avail = xo_memory_available();
  if (total < INT64_MAX && (avail <= 0 || total <= avail)) return XO_OK;
  char parts[192] = "";
  size_t used = 0;
  for (int i = 0; i < n && used < sizeof parts; i++)
    if (bytes[i] > 0)
      used += (size_t)snprintf(parts + used, sizeof parts - used, "%s%s %.1f",
                               used ? ", " : "", names[i],
                               (double)bytes[i] / (1 << 30));
  return xo_fail(XO_ERR_NO_MEMORY,
                 "%s: cannot allocate %.1f GiB for its operands in the "
                 "precision's format (%s GiB): only %.1f GiB of memory is "
                 "available; split the problem, or use a narrower precision",
                 op, (double)total / (1 << 30), parts,
                 (double)avail / (1 << 30));
}

double xo_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
