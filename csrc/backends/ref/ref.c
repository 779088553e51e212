/* ref.c - the reference backend's table: one CPU device, every op in every
 * precision, single-threaded, deterministic. */
#include "ref.h"

#include <stdio.h>

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

/* conv2d keeps its im2col gather map in the plan; matmul and attention
 * need nothing beyond the problem */
const xo_backend xo_backend_ref = {
    .name = "ref",
    .init = ref_init,
    .device_count = ref_device_count,
    .describe = ref_describe,
    .ops[XO_OP_MATMUL] = {.run = ref_matmul,
                          .takes = XO_TAKES_ALL,
                          .how = "blocked gemm, portable C"},
    .ops[XO_OP_CONV2D] = {.plan = xo_im2col_plan_make,
                          .run = ref_conv2d,
                          .takes = XO_TAKES_ALL,
                          .how = "im2col + blocked gemm, portable C"},
    .ops[XO_OP_ATTENTION] = {.run = ref_attention,
                             .how = "online softmax, portable C"},
    .plan_size = sizeof(xo_im2col_plan),
    .plan_release = xo_im2col_plan_release,
};
