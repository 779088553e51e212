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
  xo_cpu_peaks_fill(desc);
  desc->peak_cores = 1; /* one thread: one core's peak */
  return XO_OK;
}

static void ref_plan_free(void *vplan) {
  ref_plan *plan = vplan;
  if (plan == NULL) return;
  free(plan->im2col);
  free(plan);
}

/* A plan that names how it computes: for matmul and attention the problem
 * is all a run needs. */
static xo_status ref_plan_with(const xo_problem *p, const char *how,
                               void **out) {
  xo_status st = xo_plan_new(sizeof(ref_plan), p, "ref", out);
  if (st == XO_OK) ((ref_plan *)*out)->how = how;
  return st;
}

static xo_status ref_plan_matmul(int index, const xo_problem *p, void **out) {
  (void)index;
  return ref_plan_with(p, "blocked gemm", out);
}

static xo_status ref_plan_attention(int index, const xo_problem *p,
                                    void **out) {
  (void)index;
  return ref_plan_with(p, "online softmax", out);
}

/* conv2d: the im2col gather map is built once, here */
static xo_status ref_plan_conv(int index, const xo_problem *p, void **out) {
  (void)index;
  ref_plan *plan = NULL;
  xo_status st = ref_plan_with(p, "im2col + blocked gemm", (void **)&plan);
  if (st == XO_OK) st = ref_conv2d_plan(plan);
  if (st != XO_OK) {
    ref_plan_free(plan);
    return st;
  }
  *out = plan;
  return XO_OK;
}

static void ref_plan_describe(const void *vplan, char *impl, size_t n) {
  const ref_plan *plan = vplan;
  snprintf(impl, n, "ref:%s_%s (%s, portable C)", xo_op_name(plan->p.op),
           xo_precision_name((xo_precision)plan->p.prec), plan->how);
}

const xo_backend xo_backend_ref = {
    .name = "ref",
    .init = ref_init,
    .device_count = ref_device_count,
    .describe = ref_describe,
    .ops[XO_OP_MATMUL] = {.plan = ref_plan_matmul, .run = ref_matmul},
    .ops[XO_OP_CONV2D] = {.plan = ref_plan_conv, .run = ref_conv2d},
    .ops[XO_OP_ATTENTION] = {.plan = ref_plan_attention, .run = ref_attention},
    .plan_free = ref_plan_free,
    .plan_describe = ref_plan_describe,
};
