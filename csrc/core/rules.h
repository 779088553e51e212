/* rules.h - the rules of the ops that a kernel applies per element, written
 * once in the common subset of C99 and OpenCL C 1.2: included by the core
 * (semantics.h, for every C backend) and embedded ahead of every OpenCL
 * kernel by backends/opencl/embed.py, so the CPU backends and the OpenCL
 * kernels compute the same keys, heads and bits from one definition.
 *
 * Only arithmetic that rounds the same in both languages belongs here:
 * + - * / on float32 (contraction off: -ffp-contract=off in C, the pragma
 * below in OpenCL), rint, integer arithmetic. */
#ifndef XO_RULES_H
#define XO_RULES_H

#ifdef __OPENCL_VERSION__
#pragma OPENCL FP_CONTRACT OFF
typedef long xo_i64;
#define XO_RULE static inline
#define XO_RINTF(x) rint(x)
#define XO_F32_FROM_BITS(b) as_float(b)
#else
#include <math.h>
#include <stdint.h>
#include <string.h>
typedef int64_t xo_i64;
#define XO_RULE static inline
/* rint under the default rounding mode, without touching errno */
#define XO_RINTF(x) nearbyintf(x)
static inline float xo_rule_f32_from_bits(uint32_t b) {
  float f;
  memcpy(&f, &b, sizeof f);
  return f;
}
#define XO_F32_FROM_BITS(b) xo_rule_f32_from_bits(b)
#endif

/* ---- attention: which keys a query row sees ---------------------------- */

/* Causal alignments (xo_attn_desc.causal; xpuops.h xo_causal): 0 none, 1
 * bottom-right (causal=True, FlashAttention's), 2 top-left (PyTorch SDPA's
 * is_causal, ONNX Attention). */
#define XO_RULE_CAUSAL_TOP_LEFT 2

/* How many keys query row i (of lq) sees, counted from key 0, with no
 * window, key lengths or mask: every key, or with the causal mask the keys
 * j <= i' (the row's position, xo_rule_qpos); clamped to [0, lk]. A row
 * that sees no key gives 0. */
XO_RULE xo_i64 xo_rule_visible(xo_i64 i, xo_i64 lq, xo_i64 lk, int causal) {
  xo_i64 vis = causal == XO_RULE_CAUSAL_TOP_LEFT ? i + 1
               : causal                          ? i + (lk - lq) + 1
                                                 : lk;
  return vis < 0 ? 0 : vis > lk ? lk : vis;
}

/* Query row i's position on the key axis, which causal masks and windows
 * are aligned to: i + (lk - lq) (bottom-right, also with no causal mask),
 * or i (top-left). lk is the key axis's length, not a batch's kv length. */
XO_RULE xo_i64 xo_rule_qpos(xo_i64 i, xo_i64 lq, xo_i64 lk, int causal) {
  return causal == XO_RULE_CAUSAL_TOP_LEFT ? i : i + (lk - lq);
}

/* The first key row i sees: i' - left with a window (left >= 0, the
 * FlashAttention convention), else 0. May be >= the end: no key. */
XO_RULE xo_i64 xo_rule_key_lo(xo_i64 i, xo_i64 lq, xo_i64 lk, int causal,
                              xo_i64 left) {
  xo_i64 lo = left < 0 ? 0 : xo_rule_qpos(i, lq, lk, causal) - left;
  return lo < 0 ? 0 : lo;
}

/* One past the last key row i sees: the batch's kv length (lk without
 * kv_lengths), cut at i' + 1 by a causal mask and at i' + right + 1 by a
 * window (right >= 0); a causal mask and a window intersect. The keys
 * [xo_rule_key_lo, xo_rule_key_hi) are the row's candidates; a mask may
 * hide some of them. Both bounds grow with i. */
XO_RULE xo_i64 xo_rule_key_hi(xo_i64 i, xo_i64 lq, xo_i64 lk, int causal,
                              xo_i64 right, xo_i64 kv_len) {
  xo_i64 pos = xo_rule_qpos(i, lq, lk, causal);
  xo_i64 hi = kv_len < lk ? kv_len : lk;
  if (causal && pos + 1 < hi) hi = pos + 1;
  if (right >= 0 && pos + right + 1 < hi) hi = pos + right + 1;
  return hi < 0 ? 0 : hi;
}

/* ---- attention: grouped-query heads ------------------------------------ */

/* The key/value head that query head bh (= batch * h + head) reads: h / hkv
 * consecutive query heads share one kv head (GQA; MQA when hkv = 1). */
XO_RULE xo_i64 xo_rule_kv_head(xo_i64 bh, xo_i64 h, xo_i64 hkv) {
  return (bh / h) * hkv + (bh % h) / (h / hkv);
}

/* The inverse: the first of the h / hkv consecutive query heads (batch * h
 * + head) that read kv head g (= batch * hkv + kv head). */
XO_RULE xo_i64 xo_rule_q_head0(xo_i64 g, xo_i64 h, xo_i64 hkv) {
  return (g / hkv) * h + (g % hkv) * (h / hkv);
}

/* ---- attention: the int8 scheme v2 (DESIGN.md s2) ----------------------- */

/* e^x in float32 from + - * and rint only (Cody-Waite reduction by ln 2, a
 * degree-6 Taylor polynomial on |r| <= ln2 / 2, then 2^n): within about 2
 * ulp of e^x, and the same bits wherever float arithmetic is IEEE and not
 * contracted, which libm's expf and OpenCL's exp do not promise. The tests'
 * NumPy twin spells out the same steps. */
XO_RULE float xo_rule_expf(float x) {
  if (!(x > -87.0f)) return 0.0f; /* below FLT_MIN: the scheme's P is 0 */
  if (x > 88.0f) x = 88.0f;
  float n = XO_RINTF(x * 1.44269504f);
  float r = x - n * 0.693359375f; /* exact: 9 bits x 8 bits */
  r = r + n * 2.12194440e-4f;
  float e = 1.0f / 720.0f;
  e = e * r + 1.0f / 120.0f;
  e = e * r + 1.0f / 24.0f;
  e = e * r + 1.0f / 6.0f;
  e = e * r + 0.5f;
  e = e * r + 1.0f;
  e = e * r + 1.0f;
  return e * XO_F32_FROM_BITS((unsigned)((int)n + 127) << 23);
}

/* tanh in float32 from xo_rule_expf, + - * / only: an odd Taylor
 * polynomial below |x| = 1/8, 1 - 2 / (e^2|x| + 1) above (1 past 9): within
 * a few ulp of 1, and the same bits in C and OpenCL (divisions correctly
 * rounded). */
XO_RULE float xo_rule_tanhf(float x) {
  float a = x < 0.0f ? -x : x, t;
  if (a > 9.0f) {
    t = 1.0f;
  } else if (a < 0.125f) {
    float a2 = a * a;
    t = a +
        a * a2 * (-1.0f / 3.0f + a2 * (2.0f / 15.0f + a2 * (-17.0f / 315.0f)));
  } else {
    t = 1.0f - 2.0f / (xo_rule_expf(2.0f * a) + 1.0f);
  }
  return x < 0.0f ? -t : t;
}

/* softcap c > 0 (Gemma 2): a scaled score s becomes c * tanh(s / c), before
 * any mask is added; c = 0 leaves it. */
XO_RULE float xo_rule_softcap(float s, float c) {
  return c > 0.0f ? c * xo_rule_tanhf(s / c) : s;
}

/* The score of one (query, key) pair: S = acc * sq * sk * scale in float32,
 * in that order (acc = q . k in s32). */
XO_RULE float xo_rule_score(int acc, float sq, float sk, float scale) {
  return (float)acc * sq * sk * scale;
}

/* P~ = rint(255 * e^(s - m)) as an integer in [0, 255], m the row's
 * largest visible score. */
XO_RULE int xo_rule_prob_u8(float s, float m) {
  float r = XO_RINTF(255.0f * xo_rule_expf(s - m));
  return r < 0.0f ? 0 : r > 255.0f ? 255 : (int)r;
}

/* One output channel: acc2 * sv / sum in float32, with sum the row's integer
 * sum of P~ (0 when it is 0: a row that sees no key). The division must be
 * correctly rounded (OpenCL: -cl-fp32-correctly-rounded-divide-sqrt). */
XO_RULE float xo_rule_attn_out(int acc, float sv, int sum) {
  return sum > 0 ? (float)acc * sv / (float)sum : 0.0f;
}

/* ---- quantized outputs (QLinearMatMul, QLinearConv) --------------------- */

/* The s8 result of float32 y (the op's result, bias included) with output
 * scale s and zero point zp: saturate(rint(y / s) + zp), y / s in float32,
 * ties to even (ONNX QuantizeLinear's rounding). |zp| <= 128, so once the
 * quotient passes 2^24 the sum saturates whatever it rounds to. */
XO_RULE int xo_rule_requant_s8(float y, float s, int zp) {
  float r = XO_RINTF(y / s) + (float)zp;
  return r < -128.0f ? -128 : r > 127.0f ? 127 : (int)r;
}

#endif /* XO_RULES_H */
