/* probe.c - what the hardware does, measured: the sustained clock of one
 * core and the memory read bandwidth of all cores. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

xo_status xo_measure_clock(double *ghz) {
  /* a chain of dependent 1-cycle integer adds: its rate is the clock */
  enum { ADDS_PER_ITER = 16 };
  uint64_t x = 0, one = 1;
  double best = 1e30;
  int64_t iters = 20 * 1000 * 1000;
  for (int rep = 0; rep < 5; rep++) {
    double t0 = xo_now();
    for (int64_t i = 0; i < iters; i++) {
#if defined(__x86_64__) || defined(__i386__)
      /* register + register: recent cores fold add-immediate chains in the
       * renamer at zero latency, but not these */
      __asm__ volatile(
          "add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\t"
          "add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\t"
          "add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\t"
          "add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0"
          : "+r"(x)
          : "r"(one));
#else
      return xo_fail(XO_ERR_UNSUPPORTED, "clock probe: x86-64 only");
#endif
    }
    double dt = xo_now() - t0;
    if (dt < best) best = dt;
  }
  *ghz = (double)iters * ADDS_PER_ITER / best / 1e9;
  return XO_OK;
}

typedef struct bw_job {
  const uint64_t *p;
  int64_t n;
  uint64_t sum;
} bw_job;

XO_CLONES static uint64_t sum_words(const uint64_t *p, int64_t n) {
  uint64_t s = 0;
  for (int64_t i = 0; i < n; i++) s += p[i];
  return s;
}

static void *bw_worker(void *v) {
  bw_job *j = v;
  j->sum = sum_words(j->p, j->n);
  return NULL;
}

xo_status xo_measure_bandwidth(int64_t bytes, int threads, double *bps) {
  enum { MAX_THREADS = 256 };
  if (bytes < 4096 || threads < 1 || threads > MAX_THREADS)
    return xo_fail(XO_ERR_INVALID_ARG,
                   "bandwidth probe: bytes >= 4096 and 1..%d threads",
                   MAX_THREADS);
  int64_t words = bytes / 8;
  uint64_t *buf = NULL;
  xo_status st = xo_alloc(words, 8, (void **)&buf);
  if (st != XO_OK) return st;
  memset(buf, 1, (size_t)words * 8); /* touch every page before timing */
  pthread_t tid[MAX_THREADS];
  bw_job job[MAX_THREADS];
  double best = 1e30;
  uint64_t check = 0;
  for (int rep = 0; rep < 5; rep++) {
    int created[MAX_THREADS] = {0};
    double t0 = xo_now();
    for (int t = 0; t < threads; t++) {
      int64_t lo = words * t / threads, hi = words * (t + 1) / threads;
      job[t] = (bw_job){buf + lo, hi - lo, 0};
      /* slice 0 is read by this thread; a thread that cannot start reads
       * its slice here too (slower, never wrong) */
      if (t > 0)
        created[t] = !pthread_create(&tid[t], NULL, bw_worker, &job[t]);
    }
    bw_worker(&job[0]);
    for (int t = 1; t < threads; t++) {
      if (created[t])
        pthread_join(tid[t], NULL);
      else
        bw_worker(&job[t]);
    }
    double dt = xo_now() - t0;
    for (int t = 0; t < threads; t++) check += job[t].sum;
    if (dt < best) best = dt;
  }
  free(buf);
  if (check == 0) return xo_fail(XO_ERR_RUNTIME, "bandwidth probe: no data");
  *bps = (double)words * 8 / best;
  return XO_OK;
}
