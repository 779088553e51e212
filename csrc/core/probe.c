/* probe.c - what the hardware is and does: the CPU's ISA features and its
 * theoretical per-core peaks, the sustained clock of one core (measured)
 * and the memory read bandwidth of all cores (measured). */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "internal.h"

#if defined(__x86_64__) || defined(__i386__)
/* XCR0: the register state the OS saves on a context switch. A feature
 * whose registers the OS does not save cannot be used, whatever CPUID says. */
static uint64_t xcr0(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !((c >> 27) & 1u)) /* OSXSAVE */
    return 0;
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((uint64_t)hi << 32) | lo;
}
#endif

xo_cpu_features xo_cpu_features_get(void) {
  xo_cpu_features f = {0};
#if defined(__x86_64__) || defined(__i386__)
  unsigned a, b, c, d;
  uint64_t x = xcr0();
  /* SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM: the AVX-512 state */
  int zmm = (x & 0xE6) == 0xE6;
  /* SSE and AVX: the YMM state */
  int ymm = (x & 0x6) == 0x6;
  /* XTILECFG and XTILEDATA: the AMX state */
  int tiles = (x & 0x60000) == 0x60000;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    f.avx512f = zmm && ((b >> 16) & 1u);
    f.avx512_fp16 = zmm && ((d >> 23) & 1u);
    f.amx_bf16 = tiles && ((d >> 22) & 1u);
    f.amx_int8 = tiles && ((d >> 25) & 1u);
    f.avx2 = ymm && ((b >> 5) & 1u);
    f.avx512_vnni = f.avx512f && ((c >> 11) & 1u);
  }
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) {
    f.avx512_bf16 = f.avx512f && ((a >> 5) & 1u);
    f.amx_fp16 = tiles && ((a >> 21) & 1u);
    f.avx_vnni = ymm && ((a >> 4) & 1u);
  }
#endif
  return f;
}

/* Operations per cycle per core of the widest instruction of each
 * precision, best first. AVX-512 and AVX2 assume two FMA ports, as on Xeon
 * cores; AMX is one TMUL unit per core. */
typedef struct cpu_rate {
  int prec;
  size_t feature; /* offset of the flag in xo_cpu_features */
  double ops_per_cycle;
  const char *what;
} cpu_rate;

#define XO_FEATURE(f) offsetof(xo_cpu_features, f)
static const cpu_rate kRates[] = {
    {XO_PREC_FP64, XO_FEATURE(avx512f), 32, "2 x AVX-512 FMA x 8 lanes x 2"},
    {XO_PREC_FP64, XO_FEATURE(avx2), 16, "2 x AVX2 FMA x 4 lanes x 2"},
    {XO_PREC_FP32, XO_FEATURE(avx512f), 64, "2 x AVX-512 FMA x 16 lanes x 2"},
    {XO_PREC_FP32, XO_FEATURE(avx2), 32, "2 x AVX2 FMA x 8 lanes x 2"},
    {XO_PREC_BF16, XO_FEATURE(amx_bf16), 1024, "AMX-BF16 TMUL"},
    {XO_PREC_BF16, XO_FEATURE(avx512_bf16), 128,
     "2 x AVX512-BF16 dot x 32 pairs x 2"},
    {XO_PREC_FP16, XO_FEATURE(amx_fp16), 1024, "AMX-FP16 TMUL"},
    {XO_PREC_FP16, XO_FEATURE(avx512_fp16), 128,
     "2 x AVX512-FP16 FMA x 32 lanes x 2"},
    {XO_PREC_INT8, XO_FEATURE(amx_int8), 2048, "AMX-INT8 TMUL"},
    {XO_PREC_INT8, XO_FEATURE(avx512_vnni), 256,
     "2 x AVX-512 VNNI x 64 MACs x 2"},
    {XO_PREC_INT8, XO_FEATURE(avx_vnni), 128, "2 x AVX-VNNI x 32 MACs x 2"},
};
#undef XO_FEATURE

void xo_cpu_peak(xo_precision prec, xo_peak *peak) {
  xo_cpu_features f = xo_cpu_features_get();
  xo_cpu_peak_of(&f, prec, peak);
}

void xo_cpu_peak_of(const xo_cpu_features *features, xo_precision prec,
                    xo_peak *peak) {
  const xo_cpu_features f = *features;
  /* no x86 instruction computes fp8 or int4: they run on another format's
   * units (an exact widening), whose rate is then their ceiling */
  xo_precision host = prec == XO_PREC_FP8    ? XO_PREC_BF16
                      : prec == XO_PREC_INT4 ? XO_PREC_INT8
                                             : prec;
  memset(peak, 0, sizeof *peak);
  for (size_t i = 0; i < sizeof kRates / sizeof kRates[0]; i++) {
    const cpu_rate *r = &kRates[i];
    if (r->prec != (int)host || !*(const int *)((const char *)&f + r->feature))
      continue;
    peak->ops_per_cycle = r->ops_per_cycle;
    snprintf(peak->source, sizeof peak->source, "theoretical");
    if (host == prec)
      snprintf(peak->formula, sizeof peak->formula, "%s", r->what);
    else
      snprintf(peak->formula, sizeof peak->formula,
               "no native %s instruction: runs on the %s units, %s",
               xo_precision_name(prec), xo_precision_name(host), r->what);
    return;
  }
}

void xo_cpu_peaks_fill(xo_device_desc *desc) {
  for (int p = 0; p < XO_PREC_COUNT; p++)
    if (desc->precisions[p] != XO_SUPPORT_NONE)
      xo_cpu_peak((xo_precision)p, &desc->peak[p]);
}

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
