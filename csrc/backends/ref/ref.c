/* ref.c - the reference backend's table: one CPU device, every op in every
 * precision, single-threaded, deterministic. */
#include "ref.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static xo_status ref_init(void) {
  return XO_OK;
}

static int ref_device_count(void) {
  return 1;
}

static xo_status ref_describe(int index, xo_device_desc *desc) {
  (void)index;
  snprintf(desc->name, sizeof desc->name, "ref");
  snprintf(desc->kind, sizeof desc->kind, "cpu");
  snprintf(desc->full_name, sizeof desc->full_name,
           "portable C reference (single thread)");
  desc->exact_integer = 1;
  snprintf(desc->threads, sizeof desc->threads,
           "1 thread: the reference is single-threaded by design");
  /* fp64/fp32/int8 are plain C arithmetic on the operand type; the narrow
   * formats are widened exactly to f32 (int4 to s16) before computing */
  for (int p = 0; p < XO_PREC_COUNT; p++)
    desc->precisions[p] = XO_SUPPORT_EMULATED;
  desc->precisions[XO_PREC_FP64] = XO_SUPPORT_NATIVE;
  desc->precisions[XO_PREC_FP32] = XO_SUPPORT_NATIVE;
  desc->precisions[XO_PREC_INT8] = XO_SUPPORT_NATIVE;
  return XO_OK;
}

static xo_status ref_supports(int index, const xo_problem *p) {
  (void)index;
  if (p->op == XO_OP_ATTENTION && p->prec == XO_PREC_INT4)
    return xo_fail(XO_ERR_UNSUPPORTED, "ref: attention has no int4 scheme");
  return XO_OK;
}

static void ref_plan_free(void *vplan) {
  ref_plan *plan = vplan;
  if (plan == NULL) return;
  free(plan->im2col);
  free(plan);
}

static xo_status ref_plan_create(int index, const xo_problem *p, void **out) {
  (void)index;
  ref_plan *plan = calloc(1, sizeof *plan);
  if (plan == NULL) return xo_fail(XO_ERR_NO_MEMORY, "ref: no memory");
  plan->p = *p;
  if (p->op == XO_OP_CONV2D) {
    xo_status st = ref_conv2d_plan(plan);
    if (st != XO_OK) {
      ref_plan_free(plan);
      return st;
    }
  }
  *out = plan;
  return XO_OK;
}

static xo_status ref_run(void *vplan, const xo_args *args,
                         xo_run_stats *stats) {
  const ref_plan *plan = vplan;
  stats->kernel_s = 0; /* the core's wall clock is the kernel time */
  switch (plan->p.op) {
    case XO_OP_MATMUL: return ref_matmul(plan, args);
    case XO_OP_CONV2D: return ref_conv2d(plan, args);
    case XO_OP_ATTENTION: return ref_attention(plan, args);
    default: return xo_fail(XO_ERR_UNSUPPORTED, "ref: unknown op");
  }
}

static void ref_plan_describe(const void *vplan, char *impl, size_t n) {
  const ref_plan *plan = vplan;
  static const char *const ops[] = {"", "matmul", "conv2d", "attention"};
  const char *how = plan->p.op == XO_OP_CONV2D      ? "im2col + blocked gemm"
                    : plan->p.op == XO_OP_ATTENTION ? "online softmax"
                                                    : "blocked gemm";
  snprintf(impl, n, "ref:%s_%s (%s, portable C)", ops[plan->p.op],
           xo_precision_name((xo_precision)plan->p.prec), how);
}

const xo_backend xo_backend_ref = {
    .name = "ref",
    .init = ref_init,
    .device_count = ref_device_count,
    .describe = ref_describe,
    .supports = ref_supports,
    .plan = ref_plan_create,
    .run = ref_run,
    .plan_free = ref_plan_free,
    .plan_describe = ref_plan_describe,
};
