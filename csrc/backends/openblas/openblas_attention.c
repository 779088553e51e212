/* openblas_attention.c - attention on OpenBLAS GEMMs, fp32 and fp64. */
#include <math.h>
#include <stdlib.h>

#include "openblas.h"

enum { QB = 128 }; /* query rows per block: bounds the score buffer */

#define REAL float
#define ATTN_FN attention_f32
#define GEMM blas_gemm_f32
#define EXP expf
#define SCORES xo_attn_scores_f32
#include "attention_impl.inc"
#undef REAL
#undef ATTN_FN
#undef GEMM
#undef EXP
#undef SCORES

#define REAL double
#define ATTN_FN attention_f64
#define GEMM blas_gemm_f64
#define EXP exp
#define SCORES xo_attn_scores_f64
#include "attention_impl.inc"
#undef REAL
#undef ATTN_FN
#undef GEMM
#undef EXP
#undef SCORES

xo_status blas_attention(void *vplan, const xo_args *args,
                         xo_run_stats *stats) {
  const xo_problem *pp = &((const xo_plan_head *)vplan)->p;
  const xo_attn_desc *p = &pp->attn;
  int dbl = pp->prec == XO_PREC_FP64;
  void *s = NULL;
  (void)stats; /* the core's wall clock is the kernel time */
  xo_status st = xo_alloc(QB * p->lk, dbl ? 8 : 4, &s);
  if (st != XO_OK) return st;
  if (dbl)
    attention_f64(pp, args, args->in[0], args->in[1], args->in[2], args->out,
                  s);
  else
    attention_f32(pp, args, args->in[0], args->in[1], args->in[2], args->out,
                  s);
  free(s);
  return XO_OK;
}
