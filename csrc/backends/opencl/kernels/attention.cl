/* attention.cl - softmax(scale q kᵀ + causal mask) v, one work-item per
 * query row, BQ rows per work-group, HD (head dim) at build time.
 * Float: key/value tiles of BK rows are staged in local memory and shared
 * by the work-group; the softmax is online (running max and sum, one
 * rescale per tile), flash-attention style. The causal mask is aligned
 * bottom-right; a row that sees no key gives 0. GQA: query head h reads
 * key head h / (H / HKV). */
#if defined(Q_F32)
#define LOADQ(p, i) XO_LOAD_F32(p, i)
#elif defined(Q_BF16)
#define LOADQ(p, i) XO_LOAD_BF16(p, i)
#elif defined(Q_F16)
#define LOADQ(p, i) XO_LOAD_F16(p, i)
#elif defined(Q_F8)
#define LOADQ(p, i) XO_LOAD_F8(p, i)
#endif

int xo_visible(int i, int LQ, int LK, int causal) {
  int vis = causal ? i + (LK - LQ) + 1 : LK;
  return vis < 0 ? 0 : vis > LK ? LK : vis;
}

#ifdef LOADQ
__kernel __attribute__((reqd_work_group_size(BQ, 1, 1))) void xo_attention(
    __global const void *q, __global const void *k, __global const void *v,
    __global float *out, const int H, const int HKV, const int LQ,
    const int LK, const int causal, const float scale) {
  const int i = get_global_id(0), bh = get_global_id(1);
  const int lid = get_local_id(0);
  const int kv = (bh / H) * HKV + (bh % H) / (H / HKV);
  const long qo = ((long)bh * LQ + i) * HD, ko = (long)kv * LK * HD;
  __local float Kt[BK * HD];
  __local float Vt[BK * HD];
  float qi[HD], acc[HD], s[BK];
  const int vis = i < LQ ? xo_visible(i, LQ, LK, causal) : 0;
  /* the work-group walks the keys its last row can see */
  const int last = min((int)(get_group_id(0) * BQ + BQ - 1), LQ - 1);
  const int span = xo_visible(last, LQ, LK, causal);
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
/* e^x exactly as the core's xo_expf (csrc/ops/attention.c): the same + - *
 * and rint steps, so P below is the CPU backends' P bit for bit (OpenCL's
 * own exp may differ by ulps between implementations). */
float xo_expf(float x) {
  if (!(x > -87.0f)) return 0.0f;
  if (x > 88.0f) x = 88.0f;
  const float n = rint(x * 1.44269504f);
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float e = 1.0f / 720.0f;
  e = e * r + 1.0f / 120.0f;
  e = e * r + 1.0f / 24.0f;
  e = e * r + 1.0f / 6.0f;
  e = e * r + 0.5f;
  e = e * r + 1.0f;
  e = e * r + 1.0f;
  return e * as_float((uint)((int)n + 127) << 23);
}

/* The int8 scheme v2 of DESIGN.md s2, one work-item per query row: acc =
 * q kᵀ in s32; S = acc * sq_i * sk_j * scale in f32; m = max S; P =
 * rint(255 xo_expf(S - m)) as u8; acc2 = P v in s32; out = acc2 * sv_c /
 * sum(P). Two passes over the keys (max, then P and P v). */
__kernel void xo_attention_s8(__global const char *q, __global const char *k,
                              __global const char *v, __global float *out,
                              __global const float *sq,
                              __global const float *sk,
                              __global const float *sv, const int H,
                              const int HKV, const int LQ, const int LK,
                              const int causal, const float scale) {
  const int i = get_global_id(0), bh = get_global_id(1);
  if (i >= LQ) return;
  const int kv = (bh / H) * HKV + (bh % H) / (H / HKV);
  const long qo = ((long)bh * LQ + i) * HD, ko = (long)kv * LK * HD;
  const int vis = xo_visible(i, LQ, LK, causal);
  const float sqi = sq[(long)bh * LQ + i];
  int acc[HD];
  for (int d = 0; d < HD; d++) acc[d] = 0;
  float mx = -INFINITY;
  for (int j = 0; j < vis; j++) {
    int dot = 0;
    for (int d = 0; d < HD; d++) dot += q[qo + d] * k[ko + (long)j * HD + d];
    mx = fmax(mx, (float)dot * sqi * sk[(long)kv * LK + j] * scale);
  }
  int sum = 0;
  for (int j = 0; j < vis; j++) {
    int dot = 0;
    for (int d = 0; d < HD; d++) dot += q[qo + d] * k[ko + (long)j * HD + d];
    const float s = (float)dot * sqi * sk[(long)kv * LK + j] * scale;
    const float r = rint(255.0f * xo_expf(s - mx));
    const int p = (int)clamp(r, 0.0f, 255.0f);
    sum += p;
    for (int d = 0; d < HD; d++) acc[d] += p * v[ko + (long)j * HD + d];
  }
  for (int d = 0; d < HD; d++)
    out[qo + d] = sum > 0 ? (float)acc[d] * sv[(long)kv * HD + d] / (float)sum
                          : 0.0f;
}
#endif
