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
  int lo, hi, is_unsigned;
  const char *name;
} copy_ctx;

/* Copy pre-quantized values, checking they lie in the precision's range. */
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
    c->dst[first + i] = raw;
  }
  return XO_OK;
}

static xo_status take_quantized(const xo_operand *op, xo_precision prec,
                                const char *name, int64_t numel,
                                xo_prepared *out) {
  const xo_qparams *q = op->q;
  int asym = !q->spec.symmetric;
  int32_t qmax = xo_qmax(prec), levels = 2 * qmax + 1;
  if (q->spec.prec != prec)
    return xo_fail(XO_ERR_INVALID_ARG,
                   "%s is quantized to %s but precision "
                   "is %s; quantize it to %s or pass precision='%s'",
                   name, xo_precision_name(q->spec.prec),
                   xo_precision_name(prec), xo_precision_name(prec),
                   xo_precision_name(q->spec.prec));
  if (op->t.dtype != (asym ? XO_DTYPE_U8 : XO_DTYPE_S8))
    return xo_fail(XO_ERR_TYPE, "%s: %s quantized data must be %s", name,
                   asym ? "asymmetric" : "symmetric", asym ? "uint8" : "int8");
  xo_status st = xo_quant_nscales(&op->t, &q->spec, &out->nscales);
  if (st != XO_OK) return st;
  if (is_contiguous(&op->t) && op->cache_token != 0) {
    /* an immutable operand validated when it was made (xo_operand) */
    out->ptr = op->t.data;
  } else if (is_contiguous(&op->t)) { /* check the range, read in place */
    int lo = 255, hi = -128;
    if (asym) {
      const uint8_t *u = op->t.data;
      for (int64_t i = 0; i < numel; i++) {
        lo = u[i] < lo ? u[i] : lo;
        hi = u[i] > hi ? u[i] : hi;
      }
    } else {
      const int8_t *s8 = op->t.data;
      for (int64_t i = 0; i < numel; i++) {
        lo = s8[i] < lo ? s8[i] : lo;
        hi = s8[i] > hi ? s8[i] : hi;
      }
    }
    if (numel > 0 && (lo < (asym ? 0 : -qmax) || hi > (asym ? levels : qmax)))
      return xo_fail(XO_ERR_INVALID_ARG,
                     "%s: quantized values span [%d, %d], outside [%d, %d]; "
                     "quantize it with xpuops.quantize()",
                     name, lo, hi, asym ? 0 : -qmax, asym ? levels : qmax);
    out->ptr = op->t.data;
  } else {
    st = xo_alloc(numel, 1, &out->data);
    if (st != XO_OK) return st;
    copy_ctx c = {out->data, asym ? 0 : -qmax, asym ? levels : qmax, asym,
                  name};
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
      if (z < 0 || z > levels)
        return xo_fail(XO_ERR_INVALID_ARG,
                       "%s: zero_point[%lld] = %d is "
                       "outside [0, %d]",
                       name, (long long)s, z, levels);
      out->zero_point[s] = z;
    }
  }
  out->asym = asym;
  out->granularity = q->spec.granularity;
  out->group_size = q->spec.granularity == XO_Q_GROUP ? q->spec.group_size : 0;
  out->qmag = asym ? levels : qmax;
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
  if (op->q == NULL || !is_contiguous(&op->t)) *bytes = numel;
  if (pack4 && prec == XO_PREC_INT4) *bytes += numel / 2 + 1;
  return XO_OK;
}

static xo_status prepare(const xo_operand *op, xo_precision prec,
                         const xo_qspec *def, int pack4, const char *name,
                         xo_prepared *out);

xo_status xo_prepare(const xo_operand *op, xo_precision prec,
                     const xo_qspec *def, int pack4, const char *name,
                     xo_prepared *out) {
  xo_status st = prepare(op, prec, def, pack4, name, out);
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
    st = take_quantized(op, prec, name, numel, out);
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
  if (st == XO_OK) st = xo_pack_int4(out->ptr, numel, out->asym, packed);
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
