/* attention.c - scaled dot-product attention with grouped-query heads, a
 * causal mask (bottom-right or top-left), a window, softcap, per-batch key
 * lengths and a broadcast mask. The arguments are checked here (messages
 * name the argument and the fix); the mask is copied once to the compute
 * type with broadcast strides. The int8 scheme (v2, DESIGN.md s2)
 * quantizes here, once, so every backend gets the same integer operands;
 * its per-row steps, which keys a row sees and the head map are the rules
 * of core/semantics.h, so every backend computes the same bits. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/semantics.h"

/* Quantize a contiguous f32 [rows, cols] per row (symmetric s8), by the
 * rules of DESIGN.md s2 (xo_quantize). */
static xo_status quantize_rows(const float *x, int64_t rows, int64_t cols,
                               int8_t **q, float **scale) {
  xo_tensor t = {.dtype = XO_DTYPE_F32,
                 .ndim = 2,
                 .shape = {rows, cols},
                 .strides = {cols * 4, 4},
                 .data = (void *)x}; /* read only */
  xo_qspec spec = {.prec = XO_PREC_INT8,
                   .granularity = XO_Q_AXIS,
                   .axis = 0,
                   .symmetric = 1};
  xo_status st = xo_alloc(rows * cols, 1, (void **)q);
  if (st == XO_OK) st = xo_alloc(rows, sizeof(float), (void **)scale);
  if (st == XO_OK) st = xo_quantize(&t, &spec, *q, *scale, NULL);
  return st;
}

/* v [heads, lk, d] quantized per (head, channel): each head a [lk, d]
 * matrix quantized along its columns where it lies (the slice rule is
 * the same whatever the layout; a transpose there and back cost more than
 * the quantization). */
static xo_status quantize_channels(const float *v, int64_t heads, int64_t lk,
                                   int64_t d, int8_t **q, float **scale) {
  xo_qspec spec = {.prec = XO_PREC_INT8,
                   .granularity = XO_Q_AXIS,
                   .axis = 1,
                   .symmetric = 1};
  xo_status st = xo_alloc(heads * lk * d, 1, (void **)q);
  if (st == XO_OK) st = xo_alloc(heads * d, sizeof(float), (void **)scale);
  for (int64_t g = 0; g < heads && st == XO_OK; g++) {
    xo_tensor t = {.dtype = XO_DTYPE_F32,
                   .ndim = 2,
                   .shape = {lk, d},
                   .strides = {d * 4, 4},
                   .data = (void *)(v + g * lk * d)}; /* read only */
    st = xo_quantize(&t, &spec, *q + g * lk * d, *scale + g * d, NULL);
  }
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
    /* the mean, rounded to f32, kept in the sums' place */
    for (int64_t c = 0; c < d; c++) sum[c] = (float)(sum[c] / (double)lk);
    /* row by row (a column at a time strode d floats per key) */
    for (int64_t j = 0; j < lk; j++)
      for (int64_t c = 0; c < d; c++) kh[j * d + c] -= (float)sum[c];
  }
}

typedef struct attn_bufs {
  void *f[3];   /* converted operands */
  int8_t *q[3]; /* int8: quantized */
  float *scale[3];
  double *sum;
  xo_prepared kv[2]; /* int8 k, v given quantized */
  void *mask;        /* the mask's own elements in the compute type */
} attn_bufs;

static void attn_bufs_free(attn_bufs *b) {
  for (int i = 0; i < 3; i++) {
    free(b->f[i]);
    free(b->q[i]);
    free(b->scale[i]);
  }
  free(b->sum);
  xo_prepared_free(&b->kv[0]);
  xo_prepared_free(&b->kv[1]);
  free(b->mask);
}

/* The mask's own elements into a contiguous buffer of the compute type:
 * bool (U8) to 0 / -inf, float as it is (rounded to f32 unless f64). */
typedef struct mask_ctx {
  void *dst;
  int f64;
  xo_dtype dtype;
  double *tmp;
} mask_ctx;

static xo_status mask_row(const char *src, int64_t stride, int64_t n,
                          int64_t first, void *vctx) {
  mask_ctx *c = vctx;
  for (int64_t e0 = 0; e0 < n; e0 += 256) {
    int64_t len = n - e0 < 256 ? n - e0 : 256;
    if (c->dtype == XO_DTYPE_U8) {
      for (int64_t e = 0; e < len; e++)
        c->tmp[e] = src[(e0 + e) * stride] ? 0.0 : -INFINITY;
    } else {
      xo_load_f64(c->dtype, src + e0 * stride, stride, len, c->tmp);
    }
    for (int64_t e = 0; e < len; e++) {
      double x = c->tmp[e];
      if (isnan(x) || x == INFINITY)
        return xo_fail(XO_ERR_INVALID_ARG,
                       "attention: mask element %lld is %g; a float mask "
                       "adds finite values or -inf (hidden) to the scores",
                       (long long)(first + e0 + e), x);
      if (c->f64)
        ((double *)c->dst)[first + e0 + e] = x;
      else
        ((float *)c->dst)[first + e0 + e] = (float)x;
    }
  }
  return XO_OK;
}

/* k or v given quantized (an int8 KV cache): checked, and its scales laid
 * out as the scheme's buffers are (k per (batch, kv-head, key), v per
 * (batch, kv-head, channel)). along is the axis its scales may vary on. */
static xo_status take_kv(const xo_operand *op, const char *name, int along,
                         const char *what, int64_t heads, int64_t n,
                         xo_prepared *pr, float **scale) {
  const xo_qparams *q = op->q;
  if (!q->spec.symmetric)
    return xo_fail(XO_ERR_INVALID_ARG,
                   "attention: %s has zero points; an int8 KV cache must be "
                   "symmetric (quantize(..., symmetric=True))",
                   name);
  if (q->spec.granularity == XO_Q_GROUP ||
      (q->spec.granularity == XO_Q_AXIS && q->spec.axis != along))
    return xo_fail(XO_ERR_INVALID_ARG,
                   "attention: %s must be quantized per tensor or %s (axis "
                   "%d), not along axis %d; quantize(%s, axis=%d)",
                   name, what, along, q->spec.axis, name, along);
  xo_qspec none = {0};
  xo_status st = xo_prepare(op, XO_PREC_INT8, &none, 0, name, pr);
  if (st == XO_OK) st = xo_alloc(heads * n, sizeof(float), (void **)scale);
  if (st != XO_OK) return st;
  for (int64_t g = 0; g < heads; g++)
    for (int64_t e = 0; e < n; e++)
      (*scale)[g * n + e] = pr->scale[pr->nscales == 1 ? 0 : e];
  return XO_OK;
}

/* Checks of the arguments beyond shapes; fills p's attention members. */
static xo_status check_params(const xo_attn_params *ap, xo_problem *p) {
  xo_attn_desc *a = &p->attn;
  if (!isfinite(ap->scale))
    return xo_fail(XO_ERR_INVALID_ARG, "attention: scale must be finite");
  if (ap->causal < XO_CAUSAL_NONE || ap->causal > XO_CAUSAL_TOP_LEFT)
    return xo_fail(XO_ERR_INVALID_ARG,
                   "attention: causal is %d; use 0 (none), 1 (bottom-right) "
                   "or 2 (top-left)",
                   ap->causal);
  if (ap->has_window)
    for (int s = 0; s < 2; s++)
      if (ap->window[s] < -1)
        return xo_fail(XO_ERR_INVALID_ARG,
                       "attention: window %s is %lld; use a count of keys "
                       ">= 0, or -1 for unbounded",
                       s ? "right" : "left", (long long)ap->window[s]);
  if (!(isfinite(ap->softcap) && ap->softcap >= 0))
    return xo_fail(XO_ERR_INVALID_ARG,
                   "attention: softcap is %g; it must be a finite value > 0 "
                   "(or 0/None for none)",
                   ap->softcap);
  if (ap->kv_lengths)
    for (int64_t b = 0; b < a->b; b++)
      if (ap->kv_lengths[b] < 0 || ap->kv_lengths[b] > a->lk)
        return xo_fail(XO_ERR_INVALID_ARG,
                       "attention: kv_lengths[%lld] = %lld is outside [0, "
                       "Lk = %lld]",
                       (long long)b, (long long)ap->kv_lengths[b],
                       (long long)a->lk);
  if (ap->mask) {
    const xo_tensor *m = ap->mask;
    int64_t full[4] = {a->b, a->h, a->lq, a->lk};
    if (m->ndim != 4)
      return xo_fail(XO_ERR_INVALID_ARG,
                     "attention: mask must be a 4-d view (dimensions 1 or "
                     "[B, H, Lq, Lk]), got %d-d",
                     m->ndim);
    for (int d = 0; d < 4; d++)
      if (m->shape[d] != 1 && m->shape[d] != full[d])
        return xo_fail(XO_ERR_INVALID_ARG,
                       "attention: mask dimension %d is %lld; it must be 1 or "
                       "%lld to broadcast to [B, H, Lq, Lk] = [%lld, %lld, "
                       "%lld, %lld]",
                       d, (long long)m->shape[d], (long long)full[d],
                       (long long)full[0], (long long)full[1],
                       (long long)full[2], (long long)full[3]);
    if (m->dtype != XO_DTYPE_U8 && m->dtype != XO_DTYPE_F64 &&
        m->dtype != XO_DTYPE_F32 && m->dtype != XO_DTYPE_F16 &&
        m->dtype != XO_DTYPE_BF16)
      return xo_fail(XO_ERR_TYPE,
                     "attention: mask must be bool (True: may attend) or "
                     "float (added to the scores)");
  }
  a->scale = ap->scale;
  a->causal = ap->causal;
  a->has_window = ap->has_window != 0;
  a->win_left = ap->has_window ? ap->window[0] : 0;
  a->win_right = ap->has_window ? ap->window[1] : 0;
  a->softcap = ap->softcap;
  a->kv_lengths = ap->kv_lengths != NULL;
  /* 2: the mask varies over heads (a backend may lay it out by head) */
  a->mask = ap->mask == NULL ? 0 : ap->mask->shape[1] > 1 ? 2 : 1;
  return XO_OK;
}

xo_status xo_attention(xo_device_t dev, xo_precision prec, const xo_tensor *q,
                       const xo_operand *k, const xo_operand *v,
                       const xo_attn_params *ap, xo_tensor *out,
                       xo_op_info *info) {
  attn_bufs bufs = {0};
  xo_problem p;
  xo_status st;
  xo_op_info local;
  st = xo_op_begin(XO_OP_ATTENTION, prec, dev && q && k && v && ap && out, &p,
                   &info, &local);
  if (st != XO_OK) return st;
  if (q->ndim != 4 || k->t.ndim != 4 || v->t.ndim != 4)
    return xo_fail(XO_ERR_INVALID_ARG,
                   "attention: q, k, v must be 4-d "
                   "[B, heads, L, D]");
  const int64_t *qs = q->shape, *ks = k->t.shape, *vs = v->t.shape;
  for (int i = 0; i < 3; i++)
    if (ks[i] != vs[i])
      return xo_fail(XO_ERR_INVALID_ARG,
                     "attention: k [%lld, %lld, %lld, %lld] and v [%lld, "
                     "%lld, %lld, %lld] must agree in B, Hkv and Lk",
                     (long long)ks[0], (long long)ks[1], (long long)ks[2],
                     (long long)ks[3], (long long)vs[0], (long long)vs[1],
                     (long long)vs[2], (long long)vs[3]);
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
  if (prec == XO_PREC_INT4)
    return xo_fail(XO_ERR_UNSUPPORTED,
                   "attention has no int4 scheme: int4 "
                   "is for weights (W4A8) and attention has none; use int8 "
                   "or a float precision");
  if (prec != XO_PREC_INT8 && (k->q || v->q))
    return xo_fail(XO_ERR_INVALID_ARG,
                   "attention: %s is quantized (int8) but precision is %s; "
                   "pass precision='int8' or dequantize() it first",
                   k->q ? "k" : "v", xo_precision_name(prec));
  p.attn.b = qs[0];
  p.attn.h = qs[1];
  p.attn.hkv = ks[1];
  p.attn.lq = qs[2];
  p.attn.lk = ks[2];
  p.attn.d = qs[3];
  p.attn.dv = vs[3];
  st = check_params(ap, &p);
  if (st != XO_OK) return st;
  p.attn.kv_quant = (k->q ? 1 : 0) | (v->q ? 2 : 0);
  int64_t oshape[4] = {qs[0], qs[1], qs[2], vs[3]};
  st = xo_check_output(out, 4, oshape, (xo_dtype)p.out_dtype);
  if (st != XO_OK) return st;

  double t0 = xo_now();
  const xo_tensor *in[3] = {q, &k->t, &v->t};
  int64_t n[3], nmask = 0;
  xo_args args = {.out = out->data, .kv_lengths = ap->kv_lengths};
  if (prec == XO_PREC_INT8) {
    /* QK^T over D and PV over Lk (P as u8 up to 255) must fit s32 */
    st = xo_check_accumulator(p.attn.d, 127, 127, "D");
    if (st == XO_OK) st = xo_check_accumulator(p.attn.lk, 255, 127, "Lk");
    if (st != XO_OK) return st;
  }
  /* every operand is copied: f32 then s8 for int8, else the operand format;
   * the mask's own elements in the compute type; refused up front when that
   * cannot fit memory */
  int64_t need[4];
  static const char *const names[4] = {"q", "k", "v", "mask"};
  size_t es =
      prec == XO_PREC_INT8 ? 5 : xo_dtype_size(xo_prec_operand_dtype(prec));
  size_t mes = prec == XO_PREC_FP64 ? 8 : 4;
  for (int i = 0; i < 3 && st == XO_OK; i++) {
    st = xo_tensor_numel(in[i], &n[i]);
    if (st == XO_OK) st = xo_mul_size(n[i], (int64_t)es, &need[i]);
  }
  need[3] = 0;
  if (st == XO_OK && ap->mask) {
    st = xo_tensor_numel(ap->mask, &nmask);
    if (st == XO_OK) st = xo_mul_size(nmask, (int64_t)mes, &need[3]);
  }
  if (st == XO_OK) st = xo_check_memory("attention", 4, names, need);
  if (st != XO_OK) return st;
  if (ap->mask) {
    double tmp[256];
    st = xo_alloc(nmask, mes, &bufs.mask);
    mask_ctx mc = {bufs.mask, prec == XO_PREC_FP64, ap->mask->dtype, tmp};
    if (st == XO_OK) st = xo_foreach_row(ap->mask, mask_row, &mc);
    if (st != XO_OK) goto fail;
    int64_t stride = 1;
    for (int d = 3; d >= 0; d--) {
      args.mask_stride[d] = ap->mask->shape[d] == 1 ? 0 : stride;
      stride *= ap->mask->shape[d];
    }
    args.mask = bufs.mask;
  }
  int64_t nkv = p.attn.b * p.attn.hkv;
  if (prec == XO_PREC_INT8) {
    /* the float operands to quantize: Q and V read where they are when
     * already contiguous f32, K copied (it is centred in place) */
    const float *src[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3 && st == XO_OK; i++) {
      if (i > 0 && (p.attn.kv_quant & i)) continue;
      if (i == 1) {
        st = xo_to_contiguous(in[i], XO_DTYPE_F32, &bufs.f[i], &n[i]);
        src[i] = bufs.f[i];
      } else {
        const void *ptr = NULL;
        st = xo_borrow_or_convert(in[i], XO_DTYPE_F32, &ptr, &bufs.f[i], &n[i]);
        src[i] = ptr;
      }
    }
    if (st == XO_OK)
      st = xo_alloc(p.attn.d, sizeof(double), (void **)&bufs.sum);
    if (st != XO_OK) goto fail;
    /* Q per (batch, head, row); K per (batch, kv-head, key) after
     * centring, or as given (a KV cache: its scales, not centred); V per
     * (batch, kv-head, channel), or as given */
    st = quantize_rows(src[0], p.attn.b * p.attn.h * p.attn.lq, p.attn.d,
                       &bufs.q[0], &bufs.scale[0]);
    if (st == XO_OK && (p.attn.kv_quant & 1)) {
      st = take_kv(k, "k", 2, "per key", nkv, p.attn.lk, &bufs.kv[0],
                   &bufs.scale[1]);
      args.in[1] = bufs.kv[0].ptr;
    } else if (st == XO_OK) {
      /* centring shifts a row's scores by q . mean: softmax ignores that,
       * a softcap (tanh) does not, so K is centred only without one */
      if (p.attn.lk > 0 && p.attn.softcap == 0)
        subtract_key_mean(bufs.f[1], nkv, p.attn.lk, p.attn.d, bufs.sum);
      st = quantize_rows(bufs.f[1], nkv * p.attn.lk, p.attn.d, &bufs.q[1],
                         &bufs.scale[1]);
      args.in[1] = bufs.q[1];
    }
    if (st == XO_OK && (p.attn.kv_quant & 2)) {
      st = take_kv(v, "v", 3, "per channel", nkv, p.attn.dv, &bufs.kv[1],
                   &bufs.scale[2]);
      args.in[2] = bufs.kv[1].ptr;
    } else if (st == XO_OK) {
      st = quantize_channels(src[2], nkv, p.attn.lk, p.attn.dv, &bufs.q[2],
                             &bufs.scale[2]);
      args.in[2] = bufs.q[2];
    }
    args.in[0] = bufs.q[0];
    for (int i = 0; i < 3; i++) args.scale[i] = bufs.scale[i];
    info->bytes = (double)(n[0] + n[1] + n[2]);
  } else {
    xo_dtype d = xo_prec_operand_dtype(prec);
    for (int i = 0; i < 3 && st == XO_OK; i++) {
      /* the caller's arrays when they already are in the operand format:
       * a decode step reads its KV cache, it does not copy it first */
      st = xo_borrow_or_convert(in[i], d, &args.in[i], &bufs.f[i], &n[i]);
    }
    info->bytes = (double)(n[0] + n[1] + n[2]) * (double)xo_dtype_size(d);
  }
  if (st != XO_OK) goto fail;
  info->prepare_s = xo_now() - t0;
  int64_t nout = p.attn.b * p.attn.h * p.attn.lq * p.attn.dv;
  info->bytes += (double)nout * (double)xo_dtype_size((xo_dtype)p.out_dtype);
  info->bytes += (double)need[3];
  info->ops = 2.0 * (double)(p.attn.d + p.attn.dv) *
              xo_attn_pairs(&p.attn, ap->kv_lengths);
  if (nout == 0) goto fail; /* nothing to compute, st OK */
  args.ops = info->ops;
  args.bytes = info->bytes;
  st = xo_dispatch(dev, &p, &args, info);
fail:
  attn_bufs_free(&bufs);
  return st;
}
