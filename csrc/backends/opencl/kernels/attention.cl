/* attention.cl - softmax(scale q kᵀ + causal mask) v, one work-item per
 * query row, BQ rows per work-group, HD (head dim) at build time.
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

#ifdef LOADQ
__kernel __attribute__((reqd_work_group_size(BQ, 1, 1))) void xo_attention(
    __global const void *q, __global const void *k, __global const void *v,
    __global float *out, const int H, const int HKV, const int LQ,
    const int LK, const int causal, const float scale) {
  const int i = get_global_id(0), bh = get_global_id(1);
  const int lid = get_local_id(0);
  const int kv = (int)xo_rule_kv_head(bh, H, HKV);
  const long qo = ((long)bh * LQ + i) * HD, ko = (long)kv * LK * HD;
  __local float Kt[BK * HD];
  __local float Vt[BK * HD];
  float qi[HD], acc[HD], s[BK];
  const int vis = i < LQ ? (int)xo_rule_visible(i, LQ, LK, causal) : 0;
  /* the work-group walks the keys its last row can see */
  const int last = min((int)(get_group_id(0) * BQ + BQ - 1), LQ - 1);
  const int span = (int)xo_rule_visible(last, LQ, LK, causal);
  for (int d = 0; d < HD; d++) {
    qi[d] = i < LQ ? LOADQ(q, qo + d) : 0.0f;
    acc[d] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  for (int j0 = 0; j0 < span; j0 += BK) {
    for (int e = lid; e < BK * HD; e += BQ) {
      const int j = j0 + e / HD;
      Kt[e] = j < LK ? LOADQ(k, ko + (long)j0 * HD + e) : 0.0f;
      Vt[e] = j < LK ? LOADQ(v, ko + (long)j0 * HD + e) : 0.0f;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    const int n = min(BK, vis - j0);
    float bm = -INFINITY;
    for (int j = 0; j < n; j++) {
      float dot = 0.0f;
      for (int d = 0; d < HD; d++) dot += qi[d] * Kt[j * HD + d];
      s[j] = dot * scale;
      bm = fmax(bm, s[j]);
    }
    if (n > 0) {
      const float mnew = fmax(m, bm), corr = exp(m - mnew);
      l *= corr;
      for (int d = 0; d < HD; d++) acc[d] *= corr;
      for (int j = 0; j < n; j++) {
        const float e = exp(s[j] - mnew);
        l += e;
        for (int d = 0; d < HD; d++) acc[d] += e * Vt[j * HD + d];
      }
      m = mnew;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (i < LQ)
    for (int d = 0; d < HD; d++)
      out[qo + d] = vis > 0 ? acc[d] / l : 0.0f;
}
#endif

#ifdef INT8_ATTENTION
/* The int8 scheme v2 of DESIGN.md s2, one work-item per query row, with
 * the core's steps (rules.h), so P and the output are the CPU backends'
 * bits: acc = q kᵀ in s32; S = xo_rule_score; m = max S; P =
 * xo_rule_prob_u8 (its exp is the core's, not OpenCL's, which may differ
 * by ulps between implementations); acc2 = P v in s32; out =
 * xo_rule_attn_out. Two passes over the keys (max, then P and P v). */
__kernel void xo_attention_s8(__global const char *q, __global const char *k,
                              __global const char *v, __global float *out,
                              __global const float *sq,
                              __global const float *sk,
                              __global const float *sv, const int H,
                              const int HKV, const int LQ, const int LK,
                              const int causal, const float scale) {
  const int i = get_global_id(0), bh = get_global_id(1);
  if (i >= LQ) return;
  const int kv = (int)xo_rule_kv_head(bh, H, HKV);
  const long qo = ((long)bh * LQ + i) * HD, ko = (long)kv * LK * HD;
  const int vis = (int)xo_rule_visible(i, LQ, LK, causal);
  const float sqi = sq[(long)bh * LQ + i];
  int acc[HD];
  for (int d = 0; d < HD; d++) acc[d] = 0;
  float mx = -INFINITY;
  for (int j = 0; j < vis; j++) {
    int dot = 0;
    for (int d = 0; d < HD; d++) dot += q[qo + d] * k[ko + (long)j * HD + d];
    mx = fmax(mx, xo_rule_score(dot, sqi, sk[(long)kv * LK + j], scale));
  }
  int sum = 0;
  for (int j = 0; j < vis; j++) {
    int dot = 0;
    for (int d = 0; d < HD; d++) dot += q[qo + d] * k[ko + (long)j * HD + d];
    const int p = xo_rule_prob_u8(
        xo_rule_score(dot, sqi, sk[(long)kv * LK + j], scale), mx);
    sum += p;
    for (int d = 0; d < HD; d++) acc[d] += p * v[ko + (long)j * HD + d];
  }
  for (int d = 0; d < HD; d++)
    out[qo + d] = xo_rule_attn_out(acc[d], sv[(long)kv * HD + d], sum);
}
#endif
