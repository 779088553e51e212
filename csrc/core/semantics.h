/* semantics.h - the rules of the ops, written once in the core; every
 * backend calls these instead of restating them (DESIGN.md s4):
 *   which keys a query row sees, and the grouped-query head map (rules.h,
 *   shared with the OpenCL kernels); empty reductions; bias; rows that see
 *   no key; the int8 attention scheme v2 step by step; zero-point
 *   compensation, dequantization and requantization of integer results.
 * Quantization itself is in quant.c; npusim's fixed-point requantization in
 * backends/npusim/requant.c (public: xpuops.h). */
#ifndef XO_SEMANTICS_H
#define XO_SEMANTICS_H

#include "internal.h"
#include "rules.h"

/* ---- attention: keys and heads ------------------------------------------ */

_Static_assert(XO_CAUSAL_TOP_LEFT == XO_RULE_CAUSAL_TOP_LEFT,
               "rules.h and xpuops.h name the alignments alike");

/* How many keys row i of query head bh sees, counted from key 0, for a
 * problem with no window, kv_lengths or mask (the keys [0, n) are visible;
 * 0: none). Problems with those read xo_attn_row. */
static inline int64_t xo_attn_visible(const xo_attn_desc *a, int64_t bh,
                                      int64_t i) {
  (void)bh;
  return xo_rule_visible(i, a->lq, a->lk, (int)a->causal);
}

/* The keys one query row may see: candidates [lo, hi) by the causal mask,
 * the window and the batch's kv length (rules.h), and the additive mask
 * along them (key j's term at mask[j * mstride], f32, or mask64 for fp64;
 * NULL: none), where -inf hides a key. */
typedef struct xo_attn_row {
  int64_t lo, hi;
  const float *mask;
  const double *mask64;
  int64_t mstride;
} xo_attn_row;

/* Row i of query head bh (= batch * h + head) of problem p with the call's
 * kv_lengths and mask (args). */
static inline void xo_attn_row_get(const xo_problem *p, const xo_args *args,
                                   int64_t bh, int64_t i, xo_attn_row *r) {
  const xo_attn_desc *a = &p->attn;
  int causal = (int)a->causal;
  int64_t kv_len = a->kv_lengths ? args->kv_lengths[bh / a->h] : a->lk;
  r->lo =
      xo_rule_key_lo(i, a->lq, a->lk, causal, a->has_window ? a->win_left : -1);
  r->hi = xo_rule_key_hi(i, a->lq, a->lk, causal,
                         a->has_window ? a->win_right : -1, kv_len);
  if (r->lo > r->hi) r->lo = r->hi; /* none; both stay in [0, lk] */
  r->mask = NULL;
  r->mask64 = NULL;
  r->mstride = 0;
  if (a->mask) {
    const int64_t *ms = args->mask_stride;
    int64_t off = (bh / a->h) * ms[0] + (bh % a->h) * ms[1] + i * ms[2];
    if (p->prec == XO_PREC_FP64)
      r->mask64 = (const double *)args->mask + off;
    else
      r->mask = (const float *)args->mask + off;
    r->mstride = ms[3];
  }
}

/* 1 when the row sees at least one key (a candidate the mask leaves). */
int xo_attn_row_sees(const xo_attn_row *r);

/* Finish one row's scores for keys [j0, j1): s[j - j0] holds scale * q.k on
 * entry; it gets the softcap (rules.h xo_rule_softcap), then the mask's
 * term; keys outside [lo, hi) become -inf. f32 and f64 (fp64) forms. */
void xo_attn_scores_f32(const xo_attn_desc *a, const xo_attn_row *r, int64_t j0,
                        int64_t j1, float *s);
void xo_attn_scores_f64(const xo_attn_desc *a, const xo_attn_row *r, int64_t j0,
                        int64_t j1, double *s);

/* The kv head (batch * hkv + kv head) that query head bh reads. */
static inline int64_t xo_attn_kv_head(const xo_attn_desc *a, int64_t bh) {
  return xo_rule_kv_head(bh, a->h, a->hkv);
}

/* The first query head (batch * h + head) reading kv head g; the h / hkv
 * heads from there on share it. */
static inline int64_t xo_attn_q_head0(const xo_attn_desc *a, int64_t g) {
  return xo_rule_q_head0(g, a->h, a->hkv);
}

/* Number of (query, key) pairs the causal mask, window and kv_lengths
 * leave visible over the whole problem (every batch and head; a mask is
 * not subtracted): the operations count (DESIGN.md s3). kv_lengths may be
 * NULL when a->kv_lengths is 0. */
double xo_attn_pairs(const xo_attn_desc *a, const int64_t *kv_lengths);

/* Zero the output rows that see no key (out in p's out_dtype, [b, h, lq,
 * dv]): 0, as flash attention gives, where a softmax over nothing would be
 * NaN. For backends whose kernels compute every row. The first form is for
 * problems without kv_lengths or mask. */
void xo_attn_zero_unseen(const xo_problem *p, void *out);
void xo_attn_zero_unseen_args(const xo_problem *p, const xo_args *args);

/* ---- empty reductions and bias ------------------------------------------ */

/* Number of output elements of p. */
int64_t xo_problem_out_numel(const xo_problem *p);

/* 1 when every output of p is an empty sum: matmul K = 0, conv2d C/groups
 * x KH x KW = 0, attention Lk = 0. */
int xo_reduction_empty(const xo_problem *p);

/* The result of an empty reduction, as NumPy and torch give it: 0 in every
 * output, plus the bias for conv2d. The core writes it (xo_dispatch) and
 * never runs a backend on it: vendor runtimes reject, miscompute or crash
 * on such problems (found by `make fuzz`). */
void xo_fill_empty(const xo_problem *p, const xo_args *args);

/* conv2d: out [n, oc, oh, ow] += bias [oc], in p's out_dtype (f64 or f32),
 * after any scaling: the bias is added to the result, never to the
 * accumulators. */
void xo_add_bias_nchw(const xo_problem *p, const void *bias, void *out);

/* matmul: out [batch, m, n] += bias [n], in p's out_dtype (f64 or f32):
 * the core adds it after every backend's float result (Gemm's C). */
void xo_add_bias_cols(const xo_problem *p, const void *bias, void *out);

/* ---- integer results (DESIGN.md s2) --------------------------------------
 * Zero points, written once: with a, w the stored values (activations u8
 * with za, weights s8 / s4 with zw, ops/prepare.c) and K taps,
 *   sum (a - za)(w - zw) = sum a w - za sum w - zw sum a + K za zw
 *                        = sum a w - za sum w - zw sum (a - za).
 * A backend that cannot subtract a zero point computes the raw s32 sums
 * (convolutions padded with the value za, so that a padded tap is a - za
 * = 0) and calls xo_zp_matmul / xo_zp_conv, which add the other terms in
 * s64; the exact result fits s32 (xo_check_accumulator bounds it), so the
 * raw sums do too (|sum a w| <= K 255 128). a_done: the backend already
 * subtracted za itself (acc = sum (a - za) w); only zw's term is left. */

/* acc [batch, m, n] as above, for the reduction k0 <= k < k1 (one group of
 * group-wise scales, whose zero points it reads; else 0, K). */
xo_status xo_zp_matmul(const xo_problem *p, const xo_args *args, int64_t k0,
                       int64_t k1, int a_done, int32_t *acc);
/* acc [n, oc, oh, ow] as above; sum (a - za) counts padded taps as 0. */
xo_status xo_zp_conv(const xo_problem *p, const xo_args *args, int a_done,
                     int32_t *acc);

/* The float result of integer accumulators, as ref computes it: float(acc)
 * * (sa * sb[channel]) in f32 (the scale product first), then a conv's
 * bias. acc [batch, m, n] (matmul, not group-wise) or [n, oc, oh, ow]. */
void xo_dequant_result(const xo_problem *p, const xo_args *args,
                       const int32_t *acc, float *out);

/* out[i] = xo_rule_requant_s8(y[i], scale, zp) for n values. */
void xo_requant_s8(const float *y, int64_t n, float scale, int32_t zp,
                   int8_t *out);

/* ---- the int8 attention scheme v2 (DESIGN.md s2) ------------------------ */

/* e^x from + - * and rint only (rules.h xo_rule_expf): exported for the
 * tests' checks and the fuzz target. */
float xo_expf(float x);

/* One query row's probabilities, for its n visible keys: S_j = acc_j * sq *
 * sk_j * scale in f32, in that order; m = max S; p_j = rint(255 *
 * xo_expf(S_j - m)) as u8. Returns the sum of p (at most 255 n; 0 for n =
 * 0). f is n floats of scratch. */
int32_t xo_attn_probs_u8(const int32_t *acc, int64_t n, float sq,
                         const float *sk, float scale, float *f, uint8_t *p);

/* The same for one row of a problem with every argument (xo_attn_row):
 * for keys j in [r->lo, r->hi), S_j = xo_rule_score(acc[j], sq, sk[j],
 * scale), then the softcap, then the mask's term (f32 adds); m = max over
 * the keys the mask leaves; p[j] = rint(255 xo_expf(S_j - m)), 0 for a
 * hidden key. acc, sk, f, p are indexed by key; p outside [lo, hi) is not
 * written. Returns the sum of p. */
int32_t xo_attn_probs_u8_row(const xo_attn_desc *a, const xo_attn_row *r,
                             const int32_t *acc, float sq, const float *sk,
                             float *f, uint8_t *p);

/* One query row's output: out_c = acc_c * sv_c / sum in f32 (0 when sum is
 * 0), for d channels. */
void xo_attn_out_f32(const int32_t *acc, int64_t d, const float *sv,
                     int32_t sum, float *out);

/* The whole scheme with scalar loops, one query row at a time (q k^T and
 * P v as plain s32 dot products): the oracle, run by ref and npusim. args
 * as xo_args describes for int8 attention; out is f32. */
xo_status xo_attn_s8_scalar(const xo_problem *p, const xo_args *args);

#endif /* XO_SEMANTICS_H */
