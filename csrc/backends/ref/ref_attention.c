/* ref_attention.c - reference attention: float precisions with an online
 * softmax; int8 is the scheme of DESIGN.md s2 as the core writes it. */
#include <math.h>
#include <stdlib.h>

#include "ref.h"

enum { ATTN_BLOCK = 64 };

#define REAL float
#define ATTN_FN attention_f32
#define EXP expf
#define SCORES xo_attn_scores_f32
#include "ref_attention_impl.inc"
#undef REAL
#undef ATTN_FN
#undef EXP
#undef SCORES

#define REAL double
#define ATTN_FN attention_f64
#define EXP exp
#define SCORES xo_attn_scores_f64
#include "ref_attention_impl.inc"
#undef REAL
#undef ATTN_FN
#undef EXP
#undef SCORES

xo_status ref_attention(void *plan, const xo_args *args, xo_run_stats *stats) {
  const xo_problem *p = &((const xo_plan_head *)plan)->p;
  const xo_attn_desc *a = &p->attn;
  xo_precision prec = (xo_precision)p->prec;
  void *buf[4] = {NULL, NULL, NULL, NULL};
  xo_status st;
  (void)stats;
  /* int8: the scheme v2 as the core writes it (semantics.c) */
  if (prec == XO_PREC_INT8) return xo_attn_s8_scalar(p, args);
  if (prec == XO_PREC_FP64) {
    st = xo_alloc(ATTN_BLOCK, sizeof(double), &buf[0]);
    if (st == XO_OK) st = xo_alloc(a->dv, sizeof(double), &buf[1]);
    if (st == XO_OK)
      attention_f64(p, args, args->in[0], args->in[1], args->in[2], args->out,
                    buf[0], buf[1]);
  } else {
    /* narrow formats decode to f32, then compute in f32 */
    xo_dtype d = xo_prec_operand_dtype(prec);
    int64_t nq = a->b * a->h * a->lq * a->d, nk = a->b * a->hkv * a->lk * a->d;
    int64_t nv = a->b * a->hkv * a->lk * a->dv;
    const float *in[3] = {args->in[0], args->in[1], args->in[2]};
    st = xo_alloc(ATTN_BLOCK, sizeof(float), &buf[0]);
    if (st == XO_OK) st = xo_alloc(a->dv, sizeof(float), &buf[1]);
    if (st == XO_OK && prec != XO_PREC_FP32) {
      st = xo_alloc(nq, sizeof(float), &buf[2]);
      if (st == XO_OK) st = xo_alloc(nk + nv, sizeof(float), &buf[3]);
      if (st == XO_OK) {
        xo_decode_f32(d, args->in[0], nq, buf[2]);
        xo_decode_f32(d, args->in[1], nk, buf[3]);
        xo_decode_f32(d, args->in[2], nv, (float *)buf[3] + nk);
        in[0] = buf[2];
        in[1] = buf[3];
        in[2] = (float *)buf[3] + nk;
      }
    }
    if (st == XO_OK)
      attention_f32(p, args, in[0], in[1], in[2], args->out, buf[0], buf[1]);
  }
  for (int i = 0; i < 4; i++) free(buf[i]);
  return st;
}
