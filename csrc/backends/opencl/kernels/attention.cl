/* attention.cl - softmax(mask(softcap(scale q kᵀ))) v, one work-item per
 * query row, BQ rows per work-group, HD and HDV (q/k and v head sizes) at
 * build time.
 * Float: key/value tiles of BK rows are staged in local memory and shared
 * by the work-group; the softmax is online (running max and sum, one
 * rescale per tile), flash-attention style. Which keys a row sees, which
 * kv head a query head reads, and the int8 scheme's steps are the core's
 * rules (core/rules.h, embedded ahead of this file): a row that sees no key
 * gives 0. */
#if defined(Q_F32)
#define LOADQ(p, i) XO_LOAD_F32(p, i)
#elif defined(Q_BF16)
#define LOADQ(p, i) XO_LOAD_BF16(p, i)
#elif defined(Q_F16)
#define LOADQ(p, i) XO_LOAD_F16(p, i)
#elif defined(Q_F8)
#define LOADQ(p, i) XO_LOAD_F8(p, i)
#endif

/* The keys row i may see are [lo, hi) by the rules (causal alignment,
 * window WL/WR, -1 unbounded, the batch's kv length); softcap and the
 * additive mask (HAS_MASK: element [b, h, i, j] at b ms0 + h ms1 + i ms2 +
 * j ms3, 0 strides broadcast) follow the core's order: scale, softcap,
 * mask; a key scoring -inf is hidden. */
#ifdef HAS_MASK
#define MASK_TERM(x, j) ((x) + mr[(long)(j) * ms3])
#else
#define MASK_TERM(x, j) (x)
#endif

#ifdef LOADQ
__kernel __attribute__((reqd_work_group_size(BQ, 1, 1))) void xo_attention(
    __global const void *q, __global const void *k, __global const void *v,
    __global float *out, const int H, const int HKV, const int LQ,
    const int LK, const int causal, const float scale, const int WL,
    const int WR, const float softcap, __global const long *kvlen,
    __global const float *mask, const long ms0, const long ms1, const long ms2,
    const long ms3) {
  const int i = get_global_id(0), bh = get_global_id(1);
  const int lid = get_local_id(0);
  const int kv = (int)xo_rule_kv_head(bh, H, HKV);
  const long qo = ((long)bh * LQ + i) * HD, ko = (long)kv * LK * HD;
  const long vo = (long)kv * LK * HDV, oo = ((long)bh * LQ + i) * HDV;
  const long kvl = kvlen[bh / H];
  __local float Kt[BK * HD];
  __local float Vt[BK * HDV];
  float qi[HD], acc[HDV], s[BK];
  int lo = 0, hi = 0;
  if (i < LQ) {
    lo = (int)xo_rule_key_lo(i, LQ, LK, causal, WL);
    hi = (int)xo_rule_key_hi(i, LQ, LK, causal, WR, kvl);
  }
  __global const float *mr =
      mask + (bh / H) * ms0 + (bh % H) * ms1 + (long)min(i, LQ - 1) * ms2;
  /* the work-group walks the keys from its first row's first to its last
   * row's end: both bounds grow with the row */
  const int first = (int)get_group_id(0) * BQ;
  const int last = min(first + BQ - 1, LQ - 1);
  const int jb = (int)xo_rule_key_lo(first, LQ, LK, causal, WL);
  const int je = (int)xo_rule_key_hi(last, LQ, LK, causal, WR, kvl);
  for (int d = 0; d < HD; d++) qi[d] = i < LQ ? LOADQ(q, qo + d) : 0.0f;
  for (int d = 0; d < HDV; d++) acc[d] = 0.0f;
  float m = -INFINITY, l = 0.0f;
  for (int j0 = jb; j0 < je; j0 += BK) {
    for (int e = lid; e < BK * HD; e += BQ) {
      const int j = j0 + e / HD;
      Kt[e] = j < LK ? LOADQ(k, ko + (long)j0 * HD + e) : 0.0f;
    }
    for (int e = lid; e < BK * HDV; e += BQ) {
      const int j = j0 + e / HDV;
      Vt[e] = j < LK ? LOADQ(v, vo + (long)j0 * HDV + e) : 0.0f;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    float bm = -INFINITY;
    for (int jj = 0; jj < BK; jj++) {
      const int j = j0 + jj;
      float x = -INFINITY;
      if (j >= lo && j < hi) {
        float dot = 0.0f;
        for (int d = 0; d < HD; d++) dot += qi[d] * Kt[jj * HD + d];
        x = MASK_TERM(xo_rule_softcap(dot * scale, softcap), j);
      }
      s[jj] = x;
      bm = fmax(bm, x);
    }
    if (bm > -INFINITY) {
      const float mnew = fmax(m, bm), corr = exp(m - mnew);
      l *= corr;
      for (int d = 0; d < HDV; d++) acc[d] *= corr;
      for (int jj = 0; jj < BK; jj++) {
        const float e = exp(s[jj] - mnew); /* 0 for a hidden key */
        l += e;
        for (int d = 0; d < HDV; d++) acc[d] += e * Vt[jj * HDV + d];
      }
      m = mnew;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (i < LQ)
    for (int d = 0; d < HDV; d++) out[oo + d] = l > 0.0f ? acc[d] / l : 0.0f;
}
#endif

#ifdef INT8_ATTENTION
/* DOT4: Q.K and P.V through packed 4 x 8-bit dot products
 * (cl_khr_integer_dot_product): s8 x s8 for Q.K over four channels, u8 x
 * s8 (the extension's mixed-signedness dot) for P.V over four keys. Every
 * product and sum is exact in s32, so the bits are the scalar path's.
 * XO_DOT_SOFT: a software dot of the same semantics instead of the
 * extension's (tests the path on devices without it). */
#ifdef DOT4
#if defined(XO_DOT_SOFT)
int xo_attn_dot_ss(char4 a, char4 b) {
  return (int)a.x * b.x + (int)a.y * b.y + (int)a.z * b.z + (int)a.w * b.w;
}
int xo_attn_dot_us(uchar4 a, char4 b) {
  return (int)a.x * b.x + (int)a.y * b.y + (int)a.z * b.z + (int)a.w * b.w;
}
#elif defined(__opencl_c_integer_dot_product_input_4x8bit) || \
    defined(cl_khr_integer_dot_product)
#pragma OPENCL EXTENSION cl_khr_integer_dot_product : enable
#define xo_attn_dot_ss(a, b) dot((a), (b))
#define xo_attn_dot_us(a, b) dot((a), (b))
#else
#error "DOT4 needs cl_khr_integer_dot_product (or XO_DOT_SOFT)"
#endif
#endif

/* q_i . k_j over HD channels in s32 (qr, kr: the two rows) */
int xo_attn_qk_s8(__global const char *qr, __global const char *kr) {
  int s = 0, d = 0;
#ifdef DOT4
  for (; d + 4 <= HD; d += 4)
    s += xo_attn_dot_ss(vload4(0, qr + d), vload4(0, kr + d));
#endif
  for (; d < HD; d++) s += qr[d] * kr[d];
  return s;
}

/* The score of key j for the kernel's row: scale, softcap, mask term */
#define XO_S8_SCORE(j)                                                    \
  MASK_TERM(xo_rule_softcap(                                              \
                xo_rule_score(xo_attn_qk_s8(q + qo, k + ko + (long)(j) * HD), \
                              sqi, sk[(long)kv * LK + (j)], scale),       \
                softcap),                                                 \
            j)

/* The int8 scheme v2 of DESIGN.md s2, one work-item per query row, with
 * the core's steps (rules.h), so P and the output are the CPU backends'
 * bits: acc = q kᵀ in s32; S = xo_rule_score, softcap, mask term; m = max
 * S over the keys left; P = xo_rule_prob_u8 (its exp is the core's, not
 * OpenCL's, which may differ by ulps between implementations), 0 for a
 * hidden key; acc2 = P v in s32; out = xo_rule_attn_out. Two passes over
 * the keys (max, then P and P v). */
__kernel void xo_attention_s8(
    __global const char *q, __global const char *k, __global const char *v,
    __global float *out, __global const float *sq, __global const float *sk,
    __global const float *sv, const int H, const int HKV, const int LQ,
    const int LK, const int causal, const float scale, const int WL,
    const int WR, const float softcap, __global const long *kvlen,
    __global const float *mask, const long ms0, const long ms1, const long ms2,
    const long ms3) {
  const int i = get_global_id(0), bh = get_global_id(1);
  if (i >= LQ) return;
  const int kv = (int)xo_rule_kv_head(bh, H, HKV);
  const long qo = ((long)bh * LQ + i) * HD, ko = (long)kv * LK * HD;
  const long vo = (long)kv * LK * HDV, oo = ((long)bh * LQ + i) * HDV;
  const int lo = (int)xo_rule_key_lo(i, LQ, LK, causal, WL);
  const int hi = (int)xo_rule_key_hi(i, LQ, LK, causal, WR, kvlen[bh / H]);
  __global const float *mr =
      mask + (bh / H) * ms0 + (bh % H) * ms1 + (long)i * ms2;
  const float sqi = sq[(long)bh * LQ + i];
  int acc[HDV];
  for (int d = 0; d < HDV; d++) acc[d] = 0;
  float mx = -INFINITY;
  for (int j = lo; j < hi; j++) mx = fmax(mx, XO_S8_SCORE(j));
  int sum = 0;
#ifdef DOT4
  /* four keys at a time: their P as a uchar4 (0 for a hidden key and past
   * hi), each channel's four v values as a char4 */
  for (int j0 = lo; j0 < hi; j0 += 4) {
    int pj[4];
    for (int t = 0; t < 4; t++) {
      const int j = j0 + t;
      const float x = j < hi ? XO_S8_SCORE(j) : -INFINITY;
      pj[t] = x == -INFINITY ? 0 : xo_rule_prob_u8(x, mx);
      sum += pj[t];
    }
    const uchar4 p4 =
        (uchar4)((uchar)pj[0], (uchar)pj[1], (uchar)pj[2], (uchar)pj[3]);
    __global const char *vr = v + vo + (long)j0 * HDV;
    const int n = hi - j0; /* keys of this group inside the row's range */
    for (int d = 0; d < HDV; d++) {
      const char4 v4 = (char4)(vr[d], n > 1 ? vr[HDV + d] : (char)0,
                               n > 2 ? vr[2 * HDV + d] : (char)0,
                               n > 3 ? vr[3 * HDV + d] : (char)0);
      acc[d] += xo_attn_dot_us(p4, v4);
    }
  }
#else
  for (int j = lo; j < hi; j++) {
    const float x = XO_S8_SCORE(j);
    if (x == -INFINITY) continue; /* hidden: P = 0 */
    const int p = xo_rule_prob_u8(x, mx);
    sum += p;
    for (int d = 0; d < HDV; d++) acc[d] += p * v[vo + (long)j * HDV + d];
  }
#endif
  for (int d = 0; d < HDV; d++)
    out[oo + d] = xo_rule_attn_out(acc[d], sv[(long)kv * HDV + d], sum);
}
#endif
