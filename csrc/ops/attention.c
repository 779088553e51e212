/* attention.c - scaled dot-product attention with grouped-query heads and a
 * bottom-right aligned causal mask. The int8 scheme (DESIGN.md s2) quantizes
 * here, once, so every backend gets the same integer operands. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"

/* Query rows see keys j <= i + (lk - lq) when causal. */
double xo_attention_pairs(int64_t lq, int64_t lk, int causal) {
  if (!causal) return (double)lq * (double)lk;
  double pairs = 0;
  for (int64_t i = 0; i < lq; i++) {
    int64_t vis = i + (lk - lq) + 1;
    pairs += (double)(vis < 0 ? 0 : vis > lk ? lk : vis);
  }
  return pairs;
}

/* Quantize a contiguous f32 [heads, per_head] per head (symmetric s8). */
static xo_status quantize_heads(float *x, int64_t heads, int64_t per_head,
                                int8_t **q, float **scale) {
  xo_tensor t = {.dtype = XO_DTYPE_F32,
                 .ndim = 2,
                 .shape = {heads, per_head},
                 .strides = {per_head * 4, 4},
                 .data = x};
  xo_qspec spec = {.prec = XO_PREC_INT8,
                   .granularity = XO_Q_AXIS,
                   .axis = 0,
                   .symmetric = 1};
  xo_status st = xo_alloc(heads * per_head, 1, (void **)q);
  if (st == XO_OK) st = xo_alloc(heads, sizeof(float), (void **)scale);
  if (st == XO_OK) st = xo_quantize(&t, &spec, *q, *scale, NULL);
  return st;
}

/* k [heads, lk, d] -= its mean over keys (softmax is invariant to it); the
 * mean is summed in double and rounded to f32. */
static void subtract_key_mean(float *k, int64_t heads, int64_t lk, int64_t d,
                              double *sum) {
  for (int64_t h = 0; h < heads; h++) {
    float *kh = k + h * lk * d;
    for (int64_t c = 0; c < d; c++) sum[c] = 0;
    for (int64_t j = 0; j < lk; j++)
      for (int64_t c = 0; c < d; c++) sum[c] += kh[j * d + c];
    for (int64_t c = 0; c < d; c++) {
      float mean = (float)(sum[c] / (double)lk);
      for (int64_t j = 0; j < lk; j++) kh[j * d + c] -= mean;
    }
  }
}

typedef struct attn_bufs {
  void *f[3];   /* converted operands */
  int8_t *q[3]; /* int8: quantized */
  float *scale[3];
  double *sum;
} attn_bufs;

static void attn_bufs_free(attn_bufs *b) {
  for (int i = 0; i < 3; i++) {
    free(b->f[i]);
    free(b->q[i]);
    free(b->scale[i]);
  }
  free(b->sum);
}

xo_status xo_attention(xo_device_t dev, xo_precision prec, const xo_tensor *q,
                       const xo_tensor *k, const xo_tensor *v, int causal,
                       double scale, xo_tensor *out, xo_op_info *info) {
  attn_bufs bufs = {0};
  xo_problem p;
  xo_status st;
  xo_op_info local = {0};
  if (info == NULL) info = &local;
  memset(info, 0, sizeof *info);
  if (dev == NULL || q == NULL || k == NULL || v == NULL || out == NULL)
    return xo_fail(XO_ERR_INVALID_ARG, "xo_attention: NULL argument");
  if ((unsigned)prec >= XO_PREC_COUNT)
    return xo_fail(XO_ERR_INVALID_ARG, "unknown precision %d", (int)prec);
  if (q->ndim != 4 || k->ndim != 4 || v->ndim != 4)
    return xo_fail(XO_ERR_INVALID_ARG,
                   "attention: q, k, v must be 4-d "
                   "[B, heads, L, D]");
  const int64_t *qs = q->shape, *ks = k->shape, *vs = v->shape;
  for (int i = 0; i < 4; i++)
    if (ks[i] != vs[i])
      return xo_fail(XO_ERR_INVALID_ARG, "k and v must have the same shape");
  if (qs[0] != ks[0] || qs[3] != ks[3])
    return xo_fail(XO_ERR_INVALID_ARG,
                   "q [%lld, %lld, %lld, %lld] and k "
                   "[%lld, %lld, %lld, %lld] must agree in batch and D",
                   (long long)qs[0], (long long)qs[1], (long long)qs[2],
                   (long long)qs[3], (long long)ks[0], (long long)ks[1],
                   (long long)ks[2], (long long)ks[3]);
  if (ks[1] == 0 ? qs[1] != 0 : qs[1] % ks[1] != 0)
    return xo_fail(XO_ERR_INVALID_ARG,
                   "q has %lld heads, which is not a "
                   "multiple of the %lld key/value heads",
                   (long long)qs[1], (long long)ks[1]);
  if (!isfinite(scale))
    return xo_fail(XO_ERR_INVALID_ARG, "scale must be finite");
  if (prec == XO_PREC_INT4)
    return xo_fail(XO_ERR_UNSUPPORTED,
                   "attention has no int4 scheme: int4 "
                   "is for weights (W4A8) and attention has none; use int8 "
                   "or a float precision");
  memset(&p, 0, sizeof p);
  p.op = XO_OP_ATTENTION;
  p.prec = prec;
  p.b = qs[0];
  p.h = qs[1];
  p.hkv = ks[1];
  p.lq = qs[2];
  p.lk = ks[2];
  p.d = qs[3];
  p.causal = causal != 0;
  p.scale = scale;
  p.out_dtype = prec == XO_PREC_FP64 ? XO_DTYPE_F64 : XO_DTYPE_F32;
  st = xo_check_output(out, 4, qs, (xo_dtype)p.out_dtype);
  if (st != XO_OK) return st;

  double t0 = xo_now();
  const xo_tensor *in[3] = {q, k, v};
  int64_t n[3];
  xo_args args = {.out = out->data};
  if (prec == XO_PREC_INT8) {
    /* QK^T over D and PV over Lk (P as u8 up to 255) must fit s32 */
    st = xo_check_accumulator(p.d, 127, 127, "D");
    if (st == XO_OK) st = xo_check_accumulator(p.lk, 255, 127, "Lk");
    if (st != XO_OK) return st;
  }
  /* every operand is copied: f32 then s8 for int8, else the operand format;
   * refused up front when that cannot fit memory */
  int64_t need[3];
  static const char *const names[3] = {"q", "k", "v"};
  size_t es =
      prec == XO_PREC_INT8 ? 5 : xo_dtype_size(xo_prec_operand_dtype(prec));
  for (int i = 0; i < 3 && st == XO_OK; i++) {
    st = xo_tensor_numel(in[i], &n[i]);
    if (st == XO_OK) st = xo_mul_size(n[i], (int64_t)es, &need[i]);
  }
  if (st == XO_OK) st = xo_check_memory("attention", 3, names, need);
  if (st != XO_OK) return st;
  if (prec == XO_PREC_INT8) {
    for (int i = 0; i < 3 && st == XO_OK; i++)
      st = xo_to_contiguous(in[i], XO_DTYPE_F32, &bufs.f[i], &n[i]);
    if (st == XO_OK) st = xo_alloc(p.d, sizeof(double), (void **)&bufs.sum);
    if (st != XO_OK) goto fail;
    if (p.lk > 0)
      subtract_key_mean(bufs.f[1], p.b * p.hkv, p.lk, p.d, bufs.sum);
    int64_t heads[3] = {p.b * p.h, p.b * p.hkv, p.b * p.hkv};
    int64_t len[3] = {p.lq * p.d, p.lk * p.d, p.lk * p.d};
    for (int i = 0; i < 3 && st == XO_OK; i++) {
      st = quantize_heads(bufs.f[i], heads[i], len[i], &bufs.q[i],
                          &bufs.scale[i]);
      args.in[i] = bufs.q[i];
      args.scale[i] = bufs.scale[i];
    }
    info->bytes = (double)(n[0] + n[1] + n[2]);
  } else {
    xo_dtype d = xo_prec_operand_dtype(prec);
    for (int i = 0; i < 3 && st == XO_OK; i++) {
      st = xo_to_contiguous(in[i], d, &bufs.f[i], &n[i]);
      args.in[i] = bufs.f[i];
    }
    info->bytes = (double)(n[0] + n[1] + n[2]) * (double)xo_dtype_size(d);
  }
  if (st != XO_OK) goto fail;
  info->prepare_s = xo_now() - t0;
  info->bytes += (double)n[0] * (double)xo_dtype_size((xo_dtype)p.out_dtype);
  info->ops = 4.0 * (double)p.b * (double)p.h * (double)p.d *
              xo_attention_pairs(p.lq, p.lk, p.causal);
  if (n[0] == 0) goto fail; /* nothing to compute, st OK */
  args.ops = info->ops;
  args.bytes = info->bytes;
  st = xo_dispatch(dev, &p, &args, info);
fail:
  attn_bufs_free(&bufs);
  return st;
}

void xo_softmax_u8(const int32_t *s, int64_t n, float alpha, float *f,
                   uint8_t *p) {
  float mx = -INFINITY, sum = 0.0f;
  for (int64_t j = 0; j < n; j++) {
    f[j] = (float)s[j] * alpha;
    if (f[j] > mx) mx = f[j];
  }
  for (int64_t j = 0; j < n; j++) {
    f[j] = expf(f[j] - mx);
    sum += f[j];
  }
  for (int64_t j = 0; j < n; j++) {
    float r = nearbyintf(f[j] / sum * 255.0f);
    p[j] = (uint8_t)(r < 0.0f ? 0.0f : r > 255.0f ? 255.0f : r);
  }
}
