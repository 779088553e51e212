/* prepare.c - operands into the formats backends consume: float operands
 * rounded to the precision's format, integer operands quantized (or checked
 * when the caller quantized them) and int4 packed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"

void xo_prepared_free(xo_prepared *p) {
  if (p == NULL) return;
  if (p->cached != NULL) { /* the cache's buffers */
    xo_prep_cache_release(p->cached);
    memset(p, 0, sizeof *p);
    return;
  }
  free(p->data);
  free(p->scale);
  free(p->zero_point);
  memset(p, 0, sizeof *p);
}

/* Row-major contiguous (dimensions of extent 1 may have any stride). */
static int is_contiguous(const xo_tensor *t) {
  int64_t expect = (int64_t)xo_dtype_size(t->dtype);
  for (int d = t->ndim - 1; d >= 0; d--) {
    if (t->shape[d] != 1 && t->strides[d] != expect) return 0;
    expect *= t->shape[d];
  }
  return 1;
}

static int is_float(xo_dtype d) {
  return d == XO_DTYPE_F64 || d == XO_DTYPE_F32 || d == XO_DTYPE_F16 ||
         d == XO_DTYPE_BF16 || d == XO_DTYPE_F8E4M3;
}

xo_status xo_borrow_or_convert(const xo_tensor *t, xo_dtype dtype,
                               const void **ptr, void **owned, int64_t *numel) {
  *owned = NULL;
  if (t->dtype == dtype && is_contiguous(t)) {
    *ptr = t->data;
    return xo_tensor_numel(t, numel);
  }
  xo_status st = xo_to_contiguous(t, dtype, owned, numel);
  *ptr = *owned;
  return st;
}

xo_status xo_to_contiguous(const xo_tensor *t, xo_dtype dtype, void **out,
                           int64_t *numel) {
  *out = NULL;
  xo_status st = xo_tensor_numel(t, numel);
  if (st != XO_OK) return st;
  st = xo_alloc(*numel, xo_dtype_size(dtype), out);
  if (st == XO_OK) st = xo_convert(t, dtype, *out);
  if (st != XO_OK) {
    free(*out);
    *out = NULL;
  }
  return st;
}

typedef struct copy_ctx {
  int8_t *dst;
  int lo, hi, is_unsigned, shift;
  const char *name;
} copy_ctx;

/* Copy pre-quantized values, checking they lie in the precision's range,
 * and add shift (the signed/unsigned change of ops/prepare.c's formats). */
static xo_status copy_q_row(const char *src, int64_t stride, int64_t n,
                            int64_t first, void *vctx) {
  copy_ctx *c = vctx;
  for (int64_t i = 0; i < n; i++) {
    int8_t raw = (int8_t)src[i * stride];
    int v = c->is_unsigned ? (int)(uint8_t)raw : (int)raw;
    if (v < c->lo || v > c->hi)
      return xo_fail(XO_ERR_INVALID_ARG,
                     "%s: quantized value %d at index %lld is outside "
                     "[%d, %d]; quantize it with xpuops.quantize()",
                     c->name, v, (long long)(first + i), c->lo, c->hi);
    c->dst[first + i] = (int8_t)(uint8_t)(v + c->shift);
  }
  return XO_OK;
}

/* The range of stored values of a quantized operand: symmetric [-qmax,
 * qmax]; with zero points the whole unsigned ([0, 2 qmax + 1]) or signed
 * ([-qmax - 1, qmax]) range, and zero points in the same range. */
static void q_range(int asym, int is_unsigned, int32_t qmax, int *lo, int *hi) {
  *lo = !asym ? -qmax : is_unsigned ? 0 : -qmax - 1;
  *hi = asym && is_unsigned ? 2 * qmax + 1 : qmax;
}

static xo_status take_quantized(const xo_operand *op, xo_precision prec,
                                int weights, const char *name, int64_t numel,
                                xo_prepared *out) {
  const xo_qparams *q = op->q;
  int asym = !q->spec.symmetric;
  int32_t qmax = xo_qmax(prec);
  if (q->spec.prec != prec)
    return xo_fail(XO_ERR_INVALID_ARG,
                   "%s is quantized to %s but precision "
                   "is %s; quantize it to %s or pass precision='%s'",
                   name, xo_precision_name(q->spec.prec),
                   xo_precision_name(prec), xo_precision_name(prec),
                   xo_precision_name(q->spec.prec));
  if (op->t.dtype != XO_DTYPE_S8 && !(asym && op->t.dtype == XO_DTYPE_U8))
    return xo_fail(XO_ERR_TYPE, "%s: quantized data must be int8%s", name,
                   asym ? " or uint8 (with zero points)" : " when symmetric");
  int is_unsigned = op->t.dtype == XO_DTYPE_U8, lo, hi;
  q_range(asym, is_unsigned, qmax, &lo, &hi);
  /* the stored format (see xo_prepare): weights signed, activations
   * unsigned, when they have zero points */
  int shift = !asym                      ? 0
              : weights && is_unsigned   ? -(qmax + 1)
              : !weights && !is_unsigned ? qmax + 1
                                         : 0;
  xo_status st = xo_quant_nscales(&op->t, &q->spec, &out->nscales);
  if (st != XO_OK) return st;
  if (shift == 0 && is_contiguous(&op->t) && op->cache_token != 0) {
    /* an immutable operand validated when it was made (xo_operand) */
    out->ptr = op->t.data;
  } else if (shift == 0 && is_contiguous(&op->t)) {
    /* check the range, read in place */
    int vlo = 255, vhi = -128;
    if (is_unsigned) {
      const uint8_t *u = op->t.data;
      for (int64_t i = 0; i < numel; i++) {
        vlo = u[i] < vlo ? u[i] : vlo;
        vhi = u[i] > vhi ? u[i] : vhi;
      }
    } else {
      const int8_t *s8 = op->t.data;
      for (int64_t i = 0; i < numel; i++) {
        vlo = s8[i] < vlo ? s8[i] : vlo;
        vhi = s8[i] > vhi ? s8[i] : vhi;
      }
    }
    if (numel > 0 && (vlo < lo || vhi > hi))
      return xo_fail(XO_ERR_INVALID_ARG,
                     "%s: quantized values span [%d, %d], outside [%d, %d]; "
                     "quantize it with xpuops.quantize()",
                     name, vlo, vhi, lo, hi);
    out->ptr = op->t.data;
  } else {
    st = xo_alloc(numel, 1, &out->data);
    if (st != XO_OK) return st;
    copy_ctx c = {out->data, lo, hi, is_unsigned, shift, name};
    st = xo_foreach_row(&op->t, copy_q_row, &c);
    if (st != XO_OK) return st;
    out->ptr = out->data;
  }
  st = xo_alloc(out->nscales, sizeof(float), (void **)&out->scale);
  if (st != XO_OK) return st;
  for (int64_t s = 0; s < out->nscales; s++) {
    float v = q->scale[s];
    if (!(isfinite(v) && v > 0))
      return xo_fail(XO_ERR_INVALID_ARG,
                     "%s: scale[%lld] = %g must be "
                     "finite and positive",
                     name, (long long)s, (double)v);
    out->scale[s] = v;
  }
  if (asym) {
    st = xo_alloc(out->nscales, sizeof(int32_t), (void **)&out->zero_point);
    if (st != XO_OK) return st;
    for (int64_t s = 0; s < out->nscales; s++) {
      int32_t z = q->zero_point[s];
      if (z < lo || z > hi)
        return xo_fail(XO_ERR_INVALID_ARG,
                       "%s: zero_point[%lld] = %d is outside [%d, %d], the "
                       "range of its %s values",
                       name, (long long)s, z, lo, hi,
                       is_unsigned ? "unsigned" : "signed");
      out->zero_point[s] = z + shift;
    }
  }
  out->asym = asym;
  out->granularity = q->spec.granularity;
  out->group_size = q->spec.granularity == XO_Q_GROUP ? q->spec.group_size : 0;
  out->qmag = asym ? 2 * qmax + 1 : qmax;
  return XO_OK;
}

static xo_status quantize_float(const xo_operand *op, const xo_qspec *def,
                                int64_t numel, xo_prepared *out) {
  xo_status st = xo_quant_nscales(&op->t, def, &out->nscales);
  if (st == XO_OK) st = xo_alloc(numel, 1, &out->data);
  if (st == XO_OK)
    st = xo_alloc(out->nscales, sizeof(float), (void **)&out->scale);
  if (st == XO_OK && !def->symmetric)
    st = xo_alloc(out->nscales, sizeof(int32_t), (void **)&out->zero_point);
  if (st == XO_OK)
    st = xo_quantize(&op->t, def, out->data, out->scale, out->zero_point);
  out->asym = !def->symmetric;
  out->granularity = def->granularity;
  out->group_size = def->granularity == XO_Q_GROUP ? def->group_size : 0;
  out->qmag = out->asym ? 2 * xo_qmax(def->prec) + 1 : xo_qmax(def->prec);
  return st;
}

int32_t xo_operand_qmag(const xo_operand *op, xo_precision prec,
                        const xo_qspec *def) {
  int symmetric = op->q ? op->q->spec.symmetric : def->symmetric;
  int32_t qmax = xo_qmax(prec);
  /* as take_quantized and quantize_float bound the values they accept */
  return symmetric ? qmax : 2 * qmax + 1;
}

xo_status xo_prepare_bytes(const xo_operand *op, xo_precision prec, int pack4,
                           int64_t *bytes) {
  int64_t numel;
  *bytes = 0;
  xo_status st = xo_tensor_numel(&op->t, &numel);
  if (st != XO_OK) return st;
  /* the same decisions as xo_prepare */
  if (!xo_precision_is_integer(prec)) {
    xo_dtype d = xo_prec_operand_dtype(prec);
    int64_t size;
    st = xo_mul_size(numel, (int64_t)xo_dtype_size(d), &size);
    if (st != XO_OK) return st;
    if (!(op->t.dtype == d && is_contiguous(&op->t))) *bytes = size;
    return XO_OK;
  }
  /* a copy: quantized here, strided, or shifted to the stored format */
  int shifted = op->q != NULL && !op->q->spec.symmetric &&
                (op->t.dtype == XO_DTYPE_U8) == (pack4 != 0);
  if (op->q == NULL || !is_contiguous(&op->t) || shifted) *bytes = numel;
  if (pack4 && prec == XO_PREC_INT4) *bytes += numel / 2 + 1;
  return XO_OK;
}

static xo_status prepare(const xo_operand *op, xo_precision prec,
                         const xo_qspec *def, int pack4, const char *name,
                         xo_prepared *out);

xo_status xo_prepare(const xo_operand *op, xo_precision prec,
                     const xo_qspec *def, int pack4, const char *name,
                     xo_prepared *out) {
  /* quantized weights under a token: prepared once (core/prep_cache.c) */
  int cacheable = pack4 && op->q != NULL && op->cache_token != 0;
  if (cacheable && xo_prep_cache_get(op, prec, out)) return XO_OK;
  xo_status st = prepare(op, prec, def, pack4, name, out);
  if (st == XO_OK && cacheable) xo_prep_cache_put(op, prec, out);
  if (st == XO_ERR_NO_MEMORY) { /* say which operand could not be copied */
    char msg[256];
    snprintf(msg, sizeof msg, "%s", xo_last_error());
    st = xo_fail(st, "%s: %s (its copy in %s)", name, msg,
                 xo_precision_name(prec));
  }
  return st;
}

static xo_status prepare(const xo_operand *op, xo_precision prec,
                         const xo_qspec *def, int pack4, const char *name,
                         xo_prepared *out) {
  int64_t numel;
  memset(out, 0, sizeof *out);
  xo_status st = xo_tensor_numel(&op->t, &numel);
  if (st != XO_OK) return st;
  if (!xo_precision_is_integer(prec)) {
    if (op->q != NULL)
      return xo_fail(XO_ERR_INVALID_ARG,
                     "%s is quantized (%s) but precision "
                     "is %s; pass precision='%s' or dequantize() it first",
                     name, xo_precision_name(op->q->spec.prec),
                     xo_precision_name(prec),
                     xo_precision_name(op->q->spec.prec));
    if (!is_float(op->t.dtype))
      return xo_fail(XO_ERR_TYPE, "%s must hold floating-point values", name);
    xo_dtype d = xo_prec_operand_dtype(prec);
    st = xo_mul_size(numel, (int64_t)xo_dtype_size(d), &out->bytes);
    if (st != XO_OK) return st;
    if (op->t.dtype == d && is_contiguous(&op->t)) {
      out->ptr = op->t.data; /* already in the operand format: no copy */
      return XO_OK;
    }
    st = xo_to_contiguous(&op->t, d, &out->data, &numel);
    out->ptr = out->data;
    return st;
  }
  if (op->q != NULL) {
    st = take_quantized(op, prec, pack4, name, numel, out);
  } else {
    if (!is_float(op->t.dtype))
      return xo_fail(XO_ERR_TYPE,
                     "%s must hold floating-point values to be "
                     "quantized, or be a QTensor",
                     name);
    xo_qspec spec = *def;
    spec.prec = prec;
    st = quantize_float(op, &spec, numel, out);
  }
  out->bytes = numel;
  if (out->ptr == NULL) out->ptr = out->data;
  if (st != XO_OK || !pack4 || prec != XO_PREC_INT4) return st;
  /* int4: two values per byte */
  void *packed = NULL;
  st = xo_alloc((numel + 1) / 2, 1, &packed);
  /* weights are signed in every form here (take_quantized) */
  if (st == XO_OK) st = xo_pack_int4(out->ptr, numel, 0, packed);
  if (st != XO_OK) {
    free(packed);
    return st;
  }
  free(out->data);
  out->data = packed;
  out->ptr = packed;
  out->bytes = (numel + 1) / 2;
  return XO_OK;
}

xo_status xo_check_output(const xo_tensor *out, int ndim, const int64_t *shape,
                          xo_dtype dtype) {
  if (out == NULL || out->ndim != ndim || out->dtype != dtype)
    return xo_fail(XO_ERR_INVALID_ARG,
                   "output must be a %d-d tensor of "
                   "dtype %d",
                   ndim, (int)dtype);
  int64_t expect = (int64_t)xo_dtype_size(dtype), numel;
  xo_status st = xo_tensor_numel(out, &numel);
  if (st != XO_OK) return st;
  for (int d = ndim - 1; d >= 0; d--) {
    if (out->shape[d] != shape[d])
      return xo_fail(XO_ERR_INVALID_ARG,
                     "output dimension %d is %lld, "
                     "expected %lld",
                     d, (long long)out->shape[d], (long long)shape[d]);
    /* strides of an empty array are meaningless */
    if (numel > 0 && out->shape[d] > 1 && out->strides[d] != expect)
      return xo_fail(XO_ERR_INVALID_ARG, "output must be C-contiguous");
    expect *= shape[d];
  }
  return XO_OK;
}

xo_status xo_op_begin(int op, xo_precision prec, int have_args, xo_problem *p,
                      xo_op_info **info, xo_op_info *local) {
  if (*info == NULL) *info = local;
  memset(*info, 0, sizeof **info);
  memset(p, 0, sizeof *p);
  if (!have_args)
    return xo_fail(XO_ERR_INVALID_ARG, "xo_%s: NULL argument", xo_op_name(op));
  if ((unsigned)prec >= XO_PREC_COUNT)
    return xo_fail(XO_ERR_INVALID_ARG, "unknown precision %d", (int)prec);
  p->op = op;
  p->prec = prec;
  p->out_dtype = prec == XO_PREC_FP64 ? XO_DTYPE_F64 : XO_DTYPE_F32;
  return XO_OK;
}

xo_status xo_check_outq(xo_precision prec, const xo_tensor *out,
                        const xo_outq *oq) {
  if (oq == NULL) return XO_OK;
  if (!xo_precision_is_integer(prec))
    return xo_fail(XO_ERR_INVALID_ARG,
                   "out_scale gives an int8 result of an integer precision "
                   "(int8, int4), not of %s; drop out_scale or pass "
                   "precision='int8'",
                   xo_precision_name(prec));
  if (out->dtype != XO_DTYPE_S8)
    return xo_fail(XO_ERR_INVALID_ARG,
                   "out_scale gives an int8 result: the output must be int8 "
                   "(drop out_dtype=int32, which returns raw accumulators)");
  if (!(isfinite(oq->scale) && oq->scale > 0))
    return xo_fail(XO_ERR_INVALID_ARG,
                   "out_scale = %g must be finite and positive",
                   (double)oq->scale);
  if (oq->zero_point < -128 || oq->zero_point > 127)
    return xo_fail(XO_ERR_INVALID_ARG,
                   "out_zero_point = %d is outside [-128, 127], the int8 "
                   "result's range",
                   (int)oq->zero_point);
  return XO_OK;
}

xo_status xo_take_bias(const xo_tensor *bias, int64_t n, const char *per,
                       const xo_problem *p, int finite, void **out) {
  int64_t nb;
  *out = NULL;
  if (bias->ndim != 1 || bias->shape[0] != n)
    return xo_fail(XO_ERR_INVALID_ARG,
                   "bias must have shape [%lld] (one per %s)", (long long)n,
                   per);
  if (p->out_dtype == XO_DTYPE_S32)
    return xo_fail(XO_ERR_INVALID_ARG,
                   "a bias cannot be added to raw int32 accumulators; drop "
                   "out_dtype or add it yourself");
  xo_status st = xo_to_contiguous(bias, (xo_dtype)p->out_dtype, out, &nb);
  if (st != XO_OK) return st;
  if (finite) /* an s8 result has no NaN: refuse one rather than guess */
    for (int64_t i = 0; i < nb; i++)
      if (!isfinite(((const float *)*out)[i])) {
        free(*out);
        *out = NULL;
        return xo_fail(XO_ERR_INVALID_ARG,
                       "bias[%lld] is not finite; an int8 result "
                       "(out_scale) needs a finite bias",
                       (long long)i);
      }
  return XO_OK;
}
