/* simd.c - the simd backend's table, its ISA levels and the XPUOPS_MAX_ISA
 * cap. The kernels are in simd_<op>.c, one file per op. */
#include "simd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simd_attention.h"
#include "simd_matmul.h"
#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

static const char *const kIsaNames[XO_SIMD_ISA_COUNT] = {
    "none",
    "AVX2",
    "AVX2_VNNI",
    "AVX512_CORE",
    "AVX512_CORE_VNNI",
    "AVX512_CORE_BF16",
    "AVX512_CORE_FP16",
    "AVX512_CORE_AMX",
};

static int have[XO_SIMD_ISA_COUNT]; /* per level: the CPU's feature */
static xo_simd_isa cap = XO_SIMD_ISA_COUNT - 1;
static char cap_note[96];

const char *xo_simd_isa_name(xo_simd_isa level) {
  return level >= 0 && level < XO_SIMD_ISA_COUNT ? kIsaNames[level] : "?";
}

int xo_simd_has(xo_simd_isa level) {
  return level > XO_SIMD_NONE && level < XO_SIMD_ISA_COUNT && level <= cap &&
         have[level];
}

xo_simd_isa xo_simd_top(void) {
  for (int l = XO_SIMD_ISA_COUNT - 1; l > XO_SIMD_NONE; l--)
    if (xo_simd_has((xo_simd_isa)l)) return (xo_simd_isa)l;
  return XO_SIMD_NONE;
}

#if defined(__x86_64__)
/* Linux hands out the AMX tile state only on request (arch_prctl
 * ARCH_REQ_XCOMP_PERM for XTILEDATA, Linux 5.16+): refused, AMX is off. */
static int amx_permitted(void) {
  enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
  return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
}
#endif

static xo_status simd_init(void) {
#if !defined(__x86_64__)
  return xo_fail(XO_ERR_UNAVAILABLE, "the simd kernels are x86-64 only");
#endif
  xo_cpu_features f = xo_cpu_features_get();
  int fma_f16c = 0, avx512_core = 0;
#if defined(__x86_64__)
  unsigned a, b, c, d;
  if (__get_cpuid(1, &a, &b, &c, &d))
    fma_f16c = ((c >> 12) & 1u) && ((c >> 29) & 1u);
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d))
    /* F (16), DQ (17), BW (30), VL (31) */
    avx512_core =
        f.avx512f && ((b >> 17) & 1u) && ((b >> 30) & 1u) && ((b >> 31) & 1u);
#endif
  have[XO_SIMD_AVX2] = f.avx2 && fma_f16c;
  have[XO_SIMD_AVX2_VNNI] = have[XO_SIMD_AVX2] && f.avx_vnni;
  have[XO_SIMD_AVX512_CORE] = have[XO_SIMD_AVX2] && avx512_core;
  have[XO_SIMD_AVX512_CORE_VNNI] = have[XO_SIMD_AVX512_CORE] && f.avx512_vnni;
  have[XO_SIMD_AVX512_CORE_BF16] = have[XO_SIMD_AVX512_CORE] && f.avx512_bf16;
  have[XO_SIMD_AVX512_CORE_FP16] = have[XO_SIMD_AVX512_CORE] && f.avx512_fp16;
  have[XO_SIMD_AVX512_CORE_AMX] =
      have[XO_SIMD_AVX512_CORE_BF16] && f.amx_int8 && f.amx_bf16;
#if defined(__x86_64__)
  if (have[XO_SIMD_AVX512_CORE_AMX] && !amx_permitted())
    have[XO_SIMD_AVX512_CORE_AMX] = 0;
#endif
  const char *env = getenv("XPUOPS_MAX_ISA");
  if (env && *env) {
    int found = -1;
    for (int l = 1; l < XO_SIMD_ISA_COUNT; l++)
      if (strcasecmp(env, kIsaNames[l]) == 0) found = l;
    if (found < 0)
      return xo_fail(XO_ERR_UNAVAILABLE,
                     "XPUOPS_MAX_ISA=%s is not a level; use one of AVX2, "
                     "AVX2_VNNI, AVX512_CORE, AVX512_CORE_VNNI, "
                     "AVX512_CORE_BF16, AVX512_CORE_FP16, AVX512_CORE_AMX",
                     env);
    cap = (xo_simd_isa)found;
    snprintf(cap_note, sizeof cap_note, ", capped by XPUOPS_MAX_ISA=%s",
             kIsaNames[found]);
  }
  if (!xo_simd_has(XO_SIMD_AVX2))
    return xo_fail(XO_ERR_UNAVAILABLE,
                   "the simd kernels need AVX2 with FMA and F16C%s",
                   have[XO_SIMD_AVX2] ? " (XPUOPS_MAX_ISA is below AVX2)"
                                      : ", which this CPU lacks");
  return XO_OK;
}

static int simd_device_count(void) {
  return 1;
}

static xo_status simd_describe(int index, xo_device_desc *d) {
  (void)index;
  snprintf(d->name, sizeof d->name, "simd");
  snprintf(d->kind, sizeof d->kind, "cpu");
  snprintf(d->full_name, sizeof d->full_name, "xpuops kernels, %s%s",
           xo_simd_isa_name(xo_simd_top()), cap_note);
  /* native: the ISA computes the format itself (vpdpbusd for int8,
   * vdpbf16ps for bf16, FMA for fp32); emulated: exact widening in
   * registers (int8 pairs through vpmaddwd, int4 nibbles to 8 bits, bf16
   * to f32) before an instruction of a wider format */
  d->precisions[XO_PREC_FP32] = XO_SUPPORT_NATIVE;
  d->precisions[XO_PREC_BF16] = xo_simd_has(XO_SIMD_AVX512_CORE_BF16)
                                    ? XO_SUPPORT_NATIVE
                                    : XO_SUPPORT_EMULATED;
  d->precisions[XO_PREC_INT8] = xo_simd_has(XO_SIMD_AVX512_CORE_VNNI)
                                    ? XO_SUPPORT_NATIVE
                                    : XO_SUPPORT_EMULATED;
  d->precisions[XO_PREC_INT4] = XO_SUPPORT_EMULATED;
  d->exact_integer = 1;
  d->follows_threads = 1;
  snprintf(d->threads, sizeof d->threads,
           "follows set_num_threads (OpenMP num_threads per call)");
  xo_cpu_peaks_fill(d);
  return XO_OK;
}

static void simd_plan_release(void *plan) {
  xo_simd_plan *sp = plan;
  if (sp->release && sp->state) sp->release(sp->state);
  sp->state = NULL;
}

static void simd_plan_describe(const void *plan, char *impl, size_t n) {
  const xo_simd_plan *sp = plan;
  snprintf(impl, n, "simd:%s_%s (%s)", xo_op_name(sp->h.p.op),
           xo_precision_name((xo_precision)sp->h.p.prec), sp->how);
}

#if defined(__x86_64__)
static void simd_fini(void) {
  xo_simd_matmul_fini();
}
#endif

/* The ops are filled in by simd_<op>.c through the table below. */
const xo_backend xo_backend_simd = {
    .name = "simd",
    .init = simd_init,
    .device_count = simd_device_count,
    .describe = simd_describe,
/* the kernels exist on x86-64 only; elsewhere init refuses the backend and
 * its table stays empty */
#if defined(__x86_64__)
    .ops[XO_OP_MATMUL] = {.plan = xo_simd_matmul_plan,
                          .run = xo_simd_matmul_run,
                          .takes = XO_TAKES_ALL,
                          .how = "panels of 64 columns, intrinsics"},
    .ops[XO_OP_ATTENTION] = {xo_simd_attention_supports, xo_simd_attention_plan,
                             xo_simd_attention_run, 0, "fused flash attention"},
    .fini = simd_fini,
#endif
    .plan_size = sizeof(xo_simd_plan),
    .plan_release = simd_plan_release,
    .plan_describe = simd_plan_describe,
};
