/* attention.c - scaled dot-product attention with grouped-query heads and a
 * bottom-right aligned causal mask. The int8 scheme (v2, DESIGN.md s2)
 * quantizes here, once, so every backend gets the same integer operands;
 * its per-row steps, which keys a row sees and the head map are the rules
 * of core/semantics.h, so every backend computes the same bits. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/semantics.h"

/* Quantize a contiguous f32 [rows, cols] per row (symmetric s8), by the
 * rules of DESIGN.md s2 (xo_quantize). */
static xo_status quantize_rows(float *x, int64_t rows, int64_t cols, int8_t **q,
                               float **scale) {
  xo_tensor t = {.dtype = XO_DTYPE_F32,
                 .ndim = 2,
                 .shape = {rows, cols},
                 .strides = {cols * 4, 4},
                 .data = x};
  xo_qspec spec = {.prec = XO_PREC_INT8,
                   .granularity = XO_Q_AXIS,
                   .axis = 0,
                   .symmetric = 1};
  xo_status st = xo_alloc(rows * cols, 1, (void **)q);
  if (st == XO_OK) st = xo_alloc(rows, sizeof(float), (void **)scale);
  if (st == XO_OK) st = xo_quantize(&t, &spec, *q, *scale, NULL);
  return st;
}

/* v [heads, lk, d] quantized per (head, channel): through a [heads, d, lk]
 * transpose, quantized per row, and back. */
static xo_status quantize_channels(const float *v, int64_t heads, int64_t lk,
                                   int64_t d, int8_t **q, float **scale) {
  float *t = NULL;
  int8_t *qt = NULL;
  int64_t n = heads * lk * d;
  xo_status st = xo_alloc(n, sizeof(float), (void **)&t);
  if (st == XO_OK) st = xo_alloc(n, 1, (void **)q);
  if (st != XO_OK) goto fail;
  for (int64_t g = 0; g < heads; g++)
    for (int64_t j = 0; j < lk; j++)
      for (int64_t c = 0; c < d; c++)
        t[(g * d + c) * lk + j] = v[(g * lk + j) * d + c];
  st = quantize_rows(t, heads * d, lk, &qt, scale);
  if (st != XO_OK) goto fail;
  for (int64_t g = 0; g < heads; g++)
    for (int64_t j = 0; j < lk; j++)
      for (int64_t c = 0; c < d; c++)
        (*q)[(g * lk + j) * d + c] = qt[(g * d + c) * lk + j];
fail:
  free(t);
  free(qt);
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
  xo_op_info local;
  st = xo_op_begin(XO_OP_ATTENTION, prec, dev && q && k && v && out, &p, &info,
                   &local);
  if (st != XO_OK) return st;
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
  p.attn.b = qs[0];
  p.attn.h = qs[1];
  p.attn.hkv = ks[1];
  p.attn.lq = qs[2];
  p.attn.lk = ks[2];
  p.attn.d = qs[3];
  p.attn.causal = causal != 0;
  p.attn.scale = scale;
  st = xo_check_output(out, 4, qs, (xo_dtype)p.out_dtype);
  if (st != XO_OK) return st;

  double t0 = xo_now();
  const xo_tensor *in[3] = {q, k, v};
  int64_t n[3];
  xo_args args = {.out = out->data};
  if (prec == XO_PREC_INT8) {
    /* QK^T over D and PV over Lk (P as u8 up to 255) must fit s32 */
    st = xo_check_accumulator(p.attn.d, 127, 127, "D");
    if (st == XO_OK) st = xo_check_accumulator(p.attn.lk, 255, 127, "Lk");
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
    if (st == XO_OK)
      st = xo_alloc(p.attn.d, sizeof(double), (void **)&bufs.sum);
    if (st != XO_OK) goto fail;
    if (p.attn.lk > 0)
      subtract_key_mean(bufs.f[1], p.attn.b * p.attn.hkv, p.attn.lk, p.attn.d,
                        bufs.sum);
    /* Q per (batch, head, row), K per (batch, kv-head, key), V per (batch,
     * kv-head, channel) */
    st = quantize_rows(bufs.f[0], p.attn.b * p.attn.h * p.attn.lq, p.attn.d,
                       &bufs.q[0], &bufs.scale[0]);
    if (st == XO_OK)
      st = quantize_rows(bufs.f[1], p.attn.b * p.attn.hkv * p.attn.lk, p.attn.d,
                         &bufs.q[1], &bufs.scale[1]);
    if (st == XO_OK)
      st = quantize_channels(bufs.f[2], p.attn.b * p.attn.hkv, p.attn.lk,
                             p.attn.d, &bufs.q[2], &bufs.scale[2]);
    for (int i = 0; i < 3; i++) {
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
  info->ops = 4.0 * (double)p.attn.d * xo_attn_pairs(&p.attn);
  if (n[0] == 0) goto fail; /* nothing to compute, st OK */
  args.ops = info->ops;
  args.bytes = info->bytes;
  st = xo_dispatch(dev, &p, &args, info);
fail:
  attn_bufs_free(&bufs);
  return st;
}
