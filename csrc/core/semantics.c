/* semantics.c - the rules of the ops that are more than one expression
 * (semantics.h says what each is for). */
#include "semantics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *xo_op_name(int op) {
  switch (op) {
    case XO_OP_MATMUL: return "matmul";
    case XO_OP_CONV2D: return "conv2d";
    case XO_OP_ATTENTION: return "attention";
    default: return "op";
  }
}

double xo_attn_pairs(const xo_attn_desc *a, const int64_t *kv_lengths) {
  /* the heads of a batch see the same candidates: count per batch */
  double pairs = 0;
  xo_problem p;
  xo_args args;
  memset(&p, 0, sizeof p);
  memset(&args, 0, sizeof args);
  p.op = XO_OP_ATTENTION;
  p.attn = *a;
  p.attn.mask = 0;
  args.kv_lengths = kv_lengths;
  for (int64_t b = 0; b < a->b; b++) {
    xo_attn_row r;
    for (int64_t i = 0; i < a->lq; i++) {
      xo_attn_row_get(&p, &args, b * a->h, i, &r);
      pairs += (double)(r.hi - r.lo);
    }
  }
  return pairs * (double)a->h;
}

int xo_attn_row_sees(const xo_attn_row *r) {
  if (r->mask == NULL && r->mask64 == NULL) return r->hi > r->lo;
  for (int64_t j = r->lo; j < r->hi; j++)
    if (r->mask ? r->mask[j * r->mstride] != -INFINITY
                : r->mask64[j * r->mstride] != -INFINITY)
      return 1;
  return 0;
}

void xo_attn_scores_f32(const xo_attn_desc *a, const xo_attn_row *r, int64_t j0,
                        int64_t j1, float *s) {
  float cap = (float)a->softcap;
  for (int64_t j = j0; j < j1; j++) {
    float x = s[j - j0];
    if (j < r->lo || j >= r->hi) {
      x = -INFINITY;
    } else {
      x = xo_rule_softcap(x, cap);
      if (r->mask) x = x + r->mask[j * r->mstride];
    }
    s[j - j0] = x;
  }
}

void xo_attn_scores_f64(const xo_attn_desc *a, const xo_attn_row *r, int64_t j0,
                        int64_t j1, double *s) {
  double cap = a->softcap;
  for (int64_t j = j0; j < j1; j++) {
    double x = s[j - j0];
    if (j < r->lo || j >= r->hi) {
      x = -INFINITY;
    } else {
      if (cap > 0) x = cap * tanh(x / cap); /* fp64: the exact function */
      if (r->mask64) x = x + r->mask64[j * r->mstride];
    }
    s[j - j0] = x;
  }
}

void xo_attn_zero_unseen(const xo_problem *p, void *out) {
  xo_args args;
  memset(&args, 0, sizeof args);
  args.out = out;
  xo_attn_zero_unseen_args(p, &args);
}

void xo_attn_zero_unseen_args(const xo_problem *p, const xo_args *args) {
  const xo_attn_desc *a = &p->attn;
  size_t row = (size_t)a->dv * xo_dtype_size((xo_dtype)p->out_dtype);
  xo_attn_row r;
  for (int64_t bh = 0; bh < a->b * a->h; bh++)
    for (int64_t i = 0; i < a->lq; i++) {
      xo_attn_row_get(p, args, bh, i, &r);
      if (!xo_attn_row_sees(&r))
        memset((char *)args->out + (size_t)(bh * a->lq + i) * row, 0, row);
    }
}

int64_t xo_problem_out_numel(const xo_problem *p) {
  switch (p->op) {
    case XO_OP_MATMUL: return p->mm.batch * p->mm.m * p->mm.n;
    case XO_OP_CONV2D:
      return p->conv.in_n * p->conv.out_c * p->conv.out_h * p->conv.out_w;
    case XO_OP_ATTENTION:
      return p->attn.b * p->attn.h * p->attn.lq * p->attn.dv;
    default: return 0;
  }
}

int xo_reduction_empty(const xo_problem *p) {
  switch (p->op) {
    case XO_OP_MATMUL: return p->mm.k == 0;
    case XO_OP_CONV2D:
      return p->conv.in_c / p->conv.groups * p->conv.kh * p->conv.kw == 0;
    case XO_OP_ATTENTION: return p->attn.lk == 0;
    default: return 0;
  }
}

void xo_fill_empty(const xo_problem *p, const xo_args *args) {
  size_t es = xo_dtype_size((xo_dtype)p->out_dtype);
  memset(args->out, 0, (size_t)xo_problem_out_numel(p) * es);
  if (p->op == XO_OP_CONV2D && p->has_bias)
    xo_add_bias_nchw(p, args->bias, args->out);
}

void xo_add_bias_nchw(const xo_problem *p, const void *bias, void *out) {
  const xo_conv_desc *c = &p->conv;
  int64_t plane = c->out_h * c->out_w;
  for (int64_t n = 0; n < c->in_n; n++)
    for (int64_t oc = 0; oc < c->out_c; oc++) {
      int64_t o = (n * c->out_c + oc) * plane;
      if (p->out_dtype == XO_DTYPE_F64) {
        double *y = (double *)out + o, b = ((const double *)bias)[oc];
        for (int64_t e = 0; e < plane; e++) y[e] += b;
      } else {
        float *y = (float *)out + o, b = ((const float *)bias)[oc];
        for (int64_t e = 0; e < plane; e++) y[e] += b;
      }
    }
}

/* ---- the int8 attention scheme v2 --------------------------------------- */

float xo_expf(float x) {
  return xo_rule_expf(x);
}

int32_t xo_attn_probs_u8(const int32_t *acc, int64_t n, float sq,
                         const float *sk, float scale, float *f, uint8_t *p) {
  float mx = -INFINITY;
  for (int64_t j = 0; j < n; j++) {
    f[j] = xo_rule_score(acc[j], sq, sk[j], scale);
    if (f[j] > mx) mx = f[j];
  }
  int32_t sum = 0;
  for (int64_t j = 0; j < n; j++) {
    p[j] = (uint8_t)xo_rule_prob_u8(f[j], mx);
    sum += p[j];
  }
  return sum;
}

int32_t xo_attn_probs_u8_row(const xo_attn_desc *a, const xo_attn_row *r,
                             const int32_t *acc, float sq, const float *sk,
                             float *f, uint8_t *p) {
  float mx = -INFINITY, scale = (float)a->scale, cap = (float)a->softcap;
  for (int64_t j = r->lo; j < r->hi; j++) {
    float x = xo_rule_softcap(xo_rule_score(acc[j], sq, sk[j], scale), cap);
    if (r->mask) x = x + r->mask[j * r->mstride];
    f[j] = x;
    if (x > mx) mx = x;
  }
  int32_t sum = 0;
  for (int64_t j = r->lo; j < r->hi; j++) {
    p[j] = f[j] == -INFINITY ? 0 : (uint8_t)xo_rule_prob_u8(f[j], mx);
    sum += p[j];
  }
  return sum;
}

void xo_attn_out_f32(const int32_t *acc, int64_t d, const float *sv,
                     int32_t sum, float *out) {
  for (int64_t c = 0; c < d; c++) out[c] = xo_rule_attn_out(acc[c], sv[c], sum);
}

xo_status xo_attn_s8_scalar(const xo_problem *p, const xo_args *args) {
  const xo_attn_desc *a = &p->attn;
  const int8_t *q = args->in[0], *k = args->in[1], *v = args->in[2];
  int64_t d = a->d, dv = a->dv, lq = a->lq, lk = a->lk;
  int32_t *s = NULL, *acc = NULL;
  float *f = NULL;
  uint8_t *pu = NULL;
  xo_status st = xo_alloc(lk, sizeof(int32_t), (void **)&s);
  if (st == XO_OK) st = xo_alloc(lk, sizeof(float), (void **)&f);
  if (st == XO_OK) st = xo_alloc(lk, 1, (void **)&pu);
  if (st == XO_OK) st = xo_alloc(dv, sizeof(int32_t), (void **)&acc);
  if (st != XO_OK) goto fail;
  for (int64_t bh = 0; bh < a->b * a->h; bh++) {
    int64_t kv = xo_attn_kv_head(a, bh);
    const int8_t *kh = k + kv * lk * d, *vh = v + kv * lk * dv;
    const float *sk = args->scale[1] + kv * lk, *sv = args->scale[2] + kv * dv;
    for (int64_t i = 0; i < lq; i++) {
      const int8_t *qi = q + (bh * lq + i) * d;
      xo_attn_row r;
      xo_attn_row_get(p, args, bh, i, &r);
      for (int64_t j = r.lo; j < r.hi; j++) {
        int32_t dot = 0;
        for (int64_t c = 0; c < d; c++)
          dot += (int32_t)qi[c] * (int32_t)kh[j * d + c];
        s[j] = dot;
      }
      int32_t sum = xo_attn_probs_u8_row(a, &r, s, args->scale[0][bh * lq + i],
                                         sk, f, pu);
      for (int64_t c = 0; c < dv; c++) acc[c] = 0;
      for (int64_t j = r.lo; j < r.hi; j++)
        for (int64_t c = 0; c < dv; c++)
          acc[c] += (int32_t)pu[j] * (int32_t)vh[j * dv + c];
      xo_attn_out_f32(acc, dv, sv, sum,
                      (float *)args->out + (bh * lq + i) * dv);
    }
  }
fail:
  free(s);
  free(f);
  free(pu);
  free(acc);
  return st;
}
