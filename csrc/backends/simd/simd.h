/* simd.h - private to the simd backend: xpuops' own CPU kernels, written
 * with intrinsics for several ISA levels and chosen at plan time from what
 * this CPU has, capped by XPUOPS_MAX_ISA (as ONEDNN_MAX_CPU_ISA caps
 * oneDNN). Threads come from OpenMP (libgomp, the runtime oneDNN's gomp
 * build already loads), xo_get_num_threads() of them per parallel region. */
#ifndef XO_SIMD_H
#define XO_SIMD_H

#include "../../core/semantics.h"

/* OpenMP where the compiler has it (setup.py: Linux); elsewhere a parallel
 * region is the calling thread alone and its pragmas are ignored. */
#if defined(_OPENMP)
#include <omp.h>
#else
static inline int omp_get_thread_num(void) {
  return 0;
}
static inline int omp_get_num_threads(void) {
  return 1;
}
#endif

/* ISA levels, each adding to the one before, named as oneDNN names its
 * caps. A CPU may have a level's feature without the one before it (Zen 4
 * has AVX512-BF16 but not AVX-VNNI): xo_simd_has asks per feature, and the
 * cap removes every level above it. */
typedef enum xo_simd_isa {
  XO_SIMD_NONE = 0,
  XO_SIMD_AVX2,             /* AVX2 + FMA + F16C */
  XO_SIMD_AVX2_VNNI,        /* + AVX-VNNI (vpdpbusd on ymm) */
  XO_SIMD_AVX512_CORE,      /* AVX-512 F, BW, VL, DQ */
  XO_SIMD_AVX512_CORE_VNNI, /* + AVX512-VNNI */
  XO_SIMD_AVX512_CORE_BF16, /* + AVX512-BF16 (vdpbf16ps) */
  XO_SIMD_AVX512_CORE_FP16, /* + AVX512-FP16 */
  XO_SIMD_AVX512_CORE_AMX,  /* + AMX-INT8, AMX-BF16 (tiles granted by Linux) */
  XO_SIMD_ISA_COUNT
} xo_simd_isa;

/* 1 when this CPU has level's feature and the cap allows it. */
int xo_simd_has(xo_simd_isa level);
/* The highest level xo_simd_has allows ("AVX512_CORE_BF16"...), and the
 * name of any level. */
xo_simd_isa xo_simd_top(void);
const char *xo_simd_isa_name(xo_simd_isa level);

/* A simd plan: the head, then what the op's plan function prepared. The
 * op's own state lives behind `state`, released by `release`. */
typedef struct xo_simd_plan {
  xo_plan_head h;
  xo_simd_isa isa; /* the level the plan's kernels were chosen for */
  void *state;
  void (*release)(void *state);
  char how[96]; /* the kernel and ISA, for the impl string */
} xo_simd_plan;

#endif /* XO_SIMD_H */
