/* tensor.c - strided tensor views: element counts and dtype facts. */
#include "internal.h"

size_t xo_dtype_size(xo_dtype dtype) {
  switch (dtype) {
    case XO_DTYPE_F64: return 8;
    case XO_DTYPE_F32: return 4;
    case XO_DTYPE_S32: return 4;
    case XO_DTYPE_F16: return 2;
    case XO_DTYPE_BF16: return 2;
    case XO_DTYPE_F8E4M3: return 1;
    case XO_DTYPE_S8: return 1;
    case XO_DTYPE_U8: return 1;
    default: return 0;
  }
}

xo_status xo_tensor_numel(const xo_tensor *t, int64_t *numel) {
  if (t == NULL || t->ndim < 0 || t->ndim > XO_MAX_DIMS)
    return xo_fail(XO_ERR_INVALID_ARG, "tensor rank must be 0..%d",
                   XO_MAX_DIMS);
  if (xo_dtype_size(t->dtype) == 0)
    return xo_fail(XO_ERR_TYPE, "unknown dtype %d", (int)t->dtype);
  for (int i = 0; i < t->ndim; i++)
    if (t->shape[i] < 0)
      return xo_fail(XO_ERR_INVALID_ARG, "negative dimension %lld",
                     (long long)t->shape[i]);
  return xo_prod_size(t->shape, t->ndim, numel);
}

static const char *const prec_names[XO_PREC_COUNT] = {
    [XO_PREC_FP64] = "fp64", [XO_PREC_FP32] = "fp32", [XO_PREC_BF16] = "bf16",
    [XO_PREC_FP16] = "fp16", [XO_PREC_FP8] = "fp8",   [XO_PREC_INT8] = "int8",
    [XO_PREC_INT4] = "int4",
};

const char *xo_precision_name(xo_precision prec) {
  return (unsigned)prec < XO_PREC_COUNT ? prec_names[prec] : NULL;
}

int xo_precision_is_integer(xo_precision prec) {
  return prec == XO_PREC_INT8 || prec == XO_PREC_INT4;
}

int32_t xo_qmax(xo_precision prec) {
  return prec == XO_PREC_INT4 ? 7 : 127;
}

xo_dtype xo_prec_operand_dtype(xo_precision prec) {
  switch (prec) {
    case XO_PREC_FP64: return XO_DTYPE_F64;
    case XO_PREC_BF16: return XO_DTYPE_BF16;
    case XO_PREC_FP16: return XO_DTYPE_F16;
    case XO_PREC_FP8: return XO_DTYPE_F8E4M3;
    default: return XO_DTYPE_F32;
  }
}

xo_status xo_foreach_row(const xo_tensor *t, xo_row_fn fn, void *ctx) {
  int64_t numel;
  xo_status st = xo_tensor_numel(t, &numel);
  if (st != XO_OK || numel == 0) return st;
  if (t->ndim == 0) return fn((const char *)t->data, 0, 1, 0, ctx);
  int outer = t->ndim - 1;
  int64_t n = t->shape[outer], stride = t->strides[outer];
  int64_t idx[XO_MAX_DIMS] = {0};
  const char *p = (const char *)t->data;
  for (int64_t first = 0; first < numel; first += n) {
    st = fn(p, stride, n, first, ctx);
    if (st != XO_OK) return st;
    /* odometer step over the outer dimensions */
    for (int d = outer - 1; d >= 0; d--) {
      p += t->strides[d];
      if (++idx[d] < t->shape[d]) break;
      p -= t->strides[d] * t->shape[d];
      idx[d] = 0;
    }
  }
  return XO_OK;
}
