/* ref_attention.c - reference attention: float precisions with an online
 * softmax, and the int8 scheme of DESIGN.md s2. */
#include <math.h>
#include <stdlib.h>

#include "ref.h"

enum { ATTN_BLOCK = 64 };

#define REAL float
#define ATTN_FN attention_f32
#define EXP expf
#include "ref_attention_impl.inc"
#undef REAL
#undef ATTN_FN
#undef EXP

#define REAL double
#define ATTN_FN attention_f64
#define EXP exp
#include "ref_attention_impl.inc"
#undef REAL
#undef ATTN_FN
#undef EXP

/* int8, scheme v2 (DESIGN.md s2): acc = q k^T in s32; P as u8 and its sum
 * from the core's xo_attn_probs_u8; acc2 = P v in s32; out from
 * xo_attn_out_f32. */
static void attention_s8(const xo_problem *p, const xo_args *args, int32_t *s,
                         uint8_t *pu, float *f, int32_t *acc) {
  const int8_t *q = args->in[0], *k = args->in[1], *v = args->in[2];
  float *out = args->out;
  int64_t d = p->d, lq = p->lq, lk = p->lk, rep = p->h / p->hkv;
  for (int64_t bh = 0; bh < p->b * p->h; bh++) {
    int64_t kv = (bh / p->h) * p->hkv + (bh % p->h) / rep;
    const int8_t *kh = k + kv * lk * d, *vh = v + kv * lk * d;
    const float *sk = args->scale[1] + kv * lk, *sv = args->scale[2] + kv * d;
    for (int64_t i = 0; i < lq; i++) {
      const int8_t *qi = q + (bh * lq + i) * d;
      float *oi = out + (bh * lq + i) * d;
      int64_t vis = p->causal ? i + (lk - lq) + 1 : lk;
      if (vis > lk) vis = lk;
      if (vis <= 0) {
        for (int64_t c = 0; c < d; c++) oi[c] = 0.0f;
        continue;
      }
      for (int64_t j = 0; j < vis; j++) {
        int32_t dot = 0;
        for (int64_t c = 0; c < d; c++)
          dot += (int32_t)qi[c] * (int32_t)kh[j * d + c];
        s[j] = dot;
      }
      int32_t sum = xo_attn_probs_u8(s, vis, args->scale[0][bh * lq + i], sk,
                                     (float)p->scale, f, pu);
      for (int64_t c = 0; c < d; c++) acc[c] = 0;
      for (int64_t j = 0; j < vis; j++)
        for (int64_t c = 0; c < d; c++)
          acc[c] += (int32_t)pu[j] * (int32_t)vh[j * d + c];
      xo_attn_out_f32(acc, d, sv, sum, oi);
    }
  }
}

xo_status ref_attention(const ref_plan *plan, const xo_args *args) {
  const xo_problem *p = &plan->p;
  xo_precision prec = (xo_precision)p->prec;
  void *buf[4] = {NULL, NULL, NULL, NULL};
  xo_status st;
  if (prec == XO_PREC_INT8) {
    st = xo_alloc(p->lk, sizeof(int32_t), &buf[0]);
    if (st == XO_OK) st = xo_alloc(p->lk, 1, &buf[1]);
    if (st == XO_OK) st = xo_alloc(p->lk, sizeof(float), &buf[2]);
    if (st == XO_OK) st = xo_alloc(p->d, sizeof(int32_t), &buf[3]);
    if (st == XO_OK) attention_s8(p, args, buf[0], buf[1], buf[2], buf[3]);
  } else if (prec == XO_PREC_FP64) {
    st = xo_alloc(ATTN_BLOCK, sizeof(double), &buf[0]);
    if (st == XO_OK) st = xo_alloc(p->d, sizeof(double), &buf[1]);
    if (st == XO_OK)
      attention_f64(p, args->in[0], args->in[1], args->in[2], args->out, buf[0],
                    buf[1]);
  } else {
    /* narrow formats decode to f32, then compute in f32 */
    xo_dtype d = xo_prec_operand_dtype(prec);
    int64_t nq = p->b * p->h * p->lq * p->d, nk = p->b * p->hkv * p->lk * p->d;
    const float *in[3] = {args->in[0], args->in[1], args->in[2]};
    st = xo_alloc(ATTN_BLOCK, sizeof(float), &buf[0]);
    if (st == XO_OK) st = xo_alloc(p->d, sizeof(float), &buf[1]);
    if (st == XO_OK && prec != XO_PREC_FP32) {
      st = xo_alloc(nq, sizeof(float), &buf[2]);
      if (st == XO_OK) st = xo_alloc(2 * nk, sizeof(float), &buf[3]);
      if (st == XO_OK) {
        xo_decode_f32(d, args->in[0], nq, buf[2]);
        xo_decode_f32(d, args->in[1], nk, buf[3]);
        xo_decode_f32(d, args->in[2], nk, (float *)buf[3] + nk);
        in[0] = buf[2];
        in[1] = buf[3];
        in[2] = (float *)buf[3] + nk;
      }
    }
    if (st == XO_OK)
      attention_f32(p, in[0], in[1], in[2], args->out, buf[0], buf[1]);
  }
  for (int i = 0; i < 4; i++) free(buf[i]);
  return st;
}
