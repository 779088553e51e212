/* ref_conv.c - reference conv2d: im2col per (image, group), then GEMM.
 * The gather map is built once per plan (the core's xo_im2col_plan_make);
 * each run only gathers. */
#include <stdlib.h>
#include <string.h>

#include "ref.h"

xo_status ref_conv2d(void *vplan, const xo_args *args, xo_run_stats *stats) {
  const xo_im2col_plan *plan = vplan;
  const xo_problem *p = &plan->h.p;
  const xo_conv_desc *cv = &p->conv;
  (void)stats;
  xo_precision prec = (xo_precision)p->prec;
  int integer = xo_precision_is_integer(prec);
  int64_t cg = cv->in_c / cv->groups, ocg = cv->out_c / cv->groups;
  int64_t r = plan->rows, cols = plan->cols, hw = cv->in_h * cv->in_w;
  int64_t nx = cv->in_n * cv->in_c * hw, nw = cv->out_c * r;
  /* working element: f64 for fp64, s16 for integers, else f32 */
  size_t es = prec == XO_PREC_FP64 ? 8 : integer ? 2 : 4;
  void *x = NULL, *w = NULL, *col = NULL;
  int32_t *acc = NULL;
  xo_status st = xo_alloc(r * cols, es, &col);
  if (st == XO_OK && integer)
    st = xo_alloc(ocg * cols, sizeof(int32_t), (void **)&acc);
  if (st != XO_OK) goto fail;
  if (integer) {
    ref_ints rx = ref_operand(p, args, 0), rw = ref_operand(p, args, 1);
    rw.div = r; /* a zero point per output channel: per row of w */
    if (p->b_granularity == XO_Q_AXIS) rw.mod = cv->out_c;
    st = xo_alloc(nx, es, &x);
    if (st == XO_OK) st = xo_alloc(nw, es, &w);
    if (st != XO_OK) goto fail;
    ref_widen(&rx, 0, nx, x);
    ref_widen(&rw, 0, nw, w);
  } else if (prec != XO_PREC_FP64 && prec != XO_PREC_FP32) {
    xo_dtype d = xo_prec_operand_dtype(prec);
    st = xo_alloc(nx, es, &x);
    if (st == XO_OK) st = xo_alloc(nw, es, &w);
    if (st != XO_OK) goto fail;
    xo_decode_f32(d, args->in[0], nx, x);
    xo_decode_f32(d, args->in[1], nw, w);
  }
  const char *xs = x ? x : args->in[0], *ws = w ? w : args->in[1];
  for (int64_t n = 0; n < cv->in_n; n++)
    for (int64_t g = 0; g < cv->groups; g++) {
      xo_im2col_gather(xs + (size_t)((n * cv->in_c + g * cg) * hw) * es, es,
                       plan->map, r * cols, col);
      const void *wg = ws + (size_t)(g * ocg * r) * es;
      int64_t o = (n * cv->out_c + g * ocg) * cols; /* first output element */
      if (es == 8) {
        ref_gemm_f64(ocg, cols, r, wg, col, (double *)args->out + o);
      } else if (es == 4) {
        ref_gemm_f32(ocg, cols, r, wg, col, (float *)args->out + o);
      } else if (p->out_dtype == XO_DTYPE_S32) {
        ref_gemm_s16s32(ocg, cols, r, wg, col, (int32_t *)args->out + o);
      } else {
        ref_gemm_s16s32(ocg, cols, r, wg, col, acc);
        float *out = (float *)args->out + o;
        float sx = args->scale[0][0];
        for (int64_t oc = 0; oc < ocg; oc++) {
          int64_t c = g * ocg + oc;
          float s = sx * args->scale[1][p->b_granularity ? c : 0];
          for (int64_t e = 0; e < cols; e++)
            out[oc * cols + e] = (float)acc[oc * cols + e] * s;
        }
      }
    }
  if (p->has_bias) xo_add_bias_nchw(p, args->bias, args->out);
fail:
  free(x);
  free(w);
  free(col);
  free(acc);
  return st;
}
