/* conv2d.c - 2-D convolution on NCHW views (NHWC arrives as a view with
 * permuted strides), w [OC, C/groups, KH, KW], optional bias [OC]. */
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"

/* The problem's geometry, with the output size computed here once for
 * every backend: (padded - dilated kernel span) / stride + 1. */
static xo_status conv_shape(const int64_t *xs, const int64_t *ws,
                            const xo_conv_params *cp, xo_conv_desc *p) {
  for (int i = 0; i < 2; i++) {
    if (cp->stride[i] < 1 || cp->dilation[i] < 1)
      return xo_fail(XO_ERR_INVALID_ARG,
                     "stride and dilation must be >= 1, "
                     "got stride=(%lld, %lld), dilation=(%lld, %lld)",
                     (long long)cp->stride[0], (long long)cp->stride[1],
                     (long long)cp->dilation[0], (long long)cp->dilation[1]);
    if (cp->pad_begin[i] < 0 || cp->pad_end[i] < 0)
      return xo_fail(XO_ERR_INVALID_ARG, "padding must be >= 0");
  }
  if (cp->groups < 1 || xs[1] % cp->groups || ws[0] % cp->groups)
    return xo_fail(XO_ERR_INVALID_ARG,
                   "groups=%lld must be >= 1 and divide "
                   "both the input channels (%lld) and the output channels "
                   "(%lld)",
                   (long long)cp->groups, (long long)xs[1], (long long)ws[0]);
  if (ws[1] != xs[1] / cp->groups)
    return xo_fail(XO_ERR_INVALID_ARG,
                   "w has %lld input channels per group "
                   "but x has %lld channels / groups=%lld = %lld; w must be "
                   "[OC, C/groups, KH, KW]",
                   (long long)ws[1], (long long)xs[1], (long long)cp->groups,
                   (long long)(xs[1] / cp->groups));
  int64_t out[2];
  for (int i = 0; i < 2; i++) {
    int64_t span = cp->dilation[i] * (ws[2 + i] - 1) + 1;
    int64_t padded = xs[2 + i] + cp->pad_begin[i] + cp->pad_end[i];
    if (span > padded)
      return xo_fail(XO_ERR_INVALID_ARG,
                     "the kernel (%lld with dilation "
                     "%lld) is larger than the padded input (%lld)",
                     (long long)ws[2 + i], (long long)cp->dilation[i],
                     (long long)padded);
    out[i] = (padded - span) / cp->stride[i] + 1;
  }
  p->in_n = xs[0];
  p->in_c = xs[1];
  p->in_h = xs[2];
  p->in_w = xs[3];
  p->out_c = ws[0];
  p->kh = ws[2];
  p->kw = ws[3];
  p->out_h = out[0];
  p->out_w = out[1];
  p->groups = cp->groups;
  for (int i = 0; i < 2; i++) {
    p->stride[i] = cp->stride[i];
    p->pad_begin[i] = cp->pad_begin[i];
    p->pad_end[i] = cp->pad_end[i];
    p->dil[i] = cp->dilation[i];
  }
  return XO_OK;
}

xo_status xo_conv2d_output_shape(const int64_t x_shape[4],
                                 const int64_t w_shape[4],
                                 const xo_conv_params *p, int64_t out[4]) {
  xo_conv_desc d;
  memset(&d, 0, sizeof d);
  xo_status st = conv_shape(x_shape, w_shape, p, &d);
  if (st != XO_OK) return st;
  out[0] = d.in_n;
  out[1] = d.out_c;
  out[2] = d.out_h;
  out[3] = d.out_w;
  return XO_OK;
}

xo_status xo_conv2d(xo_device_t dev, xo_precision prec, const xo_operand *x,
                    const xo_operand *w, const xo_tensor *bias,
                    const xo_conv_params *cp, xo_tensor *out,
                    xo_op_info *info) {
  return xo_conv2d_ex(dev, prec, x, w, bias, cp, NULL, out, info);
}

xo_status xo_conv2d_ex(xo_device_t dev, xo_precision prec, const xo_operand *x,
                       const xo_operand *w, const xo_tensor *bias,
                       const xo_conv_params *cp, const xo_outq *oq,
                       xo_tensor *out, xo_op_info *info) {
  xo_prepared px = {0}, pw = {0};
  void *pbias = NULL;
  xo_problem p;
  xo_status st;
  xo_op_info local;
  st = xo_op_begin(XO_OP_CONV2D, prec, dev && x && w && cp && out, &p, &info,
                   &local);
  if (st != XO_OK) return st;
  if (x->t.ndim != 4 || w->t.ndim != 4)
    return xo_fail(XO_ERR_INVALID_ARG, "conv2d: x and w must be 4-d");
  st = conv_shape(x->t.shape, w->t.shape, cp, &p.conv);
  if (st != XO_OK) return st;
  int integer = xo_precision_is_integer(prec);
  if (out->dtype == XO_DTYPE_S32) {
    if (!integer || x->q == NULL || w->q == NULL || bias != NULL)
      return xo_fail(XO_ERR_INVALID_ARG,
                     "out_dtype=int32 returns raw "
                     "accumulators: it needs precision int8/int4, x and w "
                     "already quantized, and no bias");
    p.out_dtype = XO_DTYPE_S32;
  }
  st = xo_check_outq(prec, out, oq);
  if (st != XO_OK) return st;
  int64_t oshape[4] = {p.conv.in_n, p.conv.out_c, p.conv.out_h, p.conv.out_w};
  st =
      xo_check_output(out, 4, oshape, oq ? XO_DTYPE_S8 : (xo_dtype)p.out_dtype);
  if (st != XO_OK) return st;

  double t0 = xo_now();
  xo_qspec qx = {.granularity = XO_Q_TENSOR, .symmetric = 1};
  xo_qspec qw = {.granularity = XO_Q_AXIS, .axis = 0, .symmetric = 1};
  xo_precision act = prec == XO_PREC_INT4 ? XO_PREC_INT8 : prec; /* W4A8 */
  /* limits the specs and sizes decide, before anything is converted */
  if (integer) {
    xo_qgranularity gx = x->q ? x->q->spec.granularity : qx.granularity;
    xo_qgranularity gw = w->q ? w->q->spec.granularity : qw.granularity;
    if (gx != XO_Q_TENSOR || gw == XO_Q_GROUP ||
        (gw == XO_Q_AXIS && w->q && w->q->spec.axis != 0))
      return xo_fail(XO_ERR_UNSUPPORTED,
                     "conv2d takes x quantized per tensor "
                     "and w per tensor or per output channel (axis=0)");
    int64_t red;
    st = xo_mul_size(w->t.shape[1], p.conv.kh * p.conv.kw, &red);
    if (st == XO_OK)
      st = xo_check_accumulator(red, xo_operand_qmag(x, act, &qx),
                                xo_operand_qmag(w, prec, &qw),
                                "C/groups x KH x KW");
    if (st != XO_OK) return st;
  }
  int64_t need[2];
  static const char *const names[2] = {"x", "w"};
  st = xo_prepare_bytes(x, act, 0, &need[0]);
  if (st == XO_OK) st = xo_prepare_bytes(w, prec, 1, &need[1]);
  if (st == XO_OK) st = xo_check_memory("conv2d", 2, names, need);
  if (st != XO_OK) return st;
  if (bias != NULL) {
    st = xo_take_bias(bias, p.conv.out_c, "output channel", &p, oq != NULL,
                      &pbias);
    if (st != XO_OK) goto fail;
    p.has_bias = 1;
  }
  st = xo_prepare(x, act, &qx, 0, "x", &px);
  if (st == XO_OK) st = xo_prepare(w, prec, &qw, 1, "w", &pw);
  if (st != XO_OK) goto fail;
  if (integer) {
    p.a_asym = px.asym;
    p.b_asym = pw.asym;
    p.b_granularity = pw.granularity;
  }
  info->prepare_s = xo_now() - t0;
  double outn = (double)p.conv.in_n * (double)p.conv.out_c *
                (double)p.conv.out_h * (double)p.conv.out_w;
  info->ops =
      2.0 * outn * (double)w->t.shape[1] * (double)(p.conv.kh * p.conv.kw);
  info->bytes = (double)px.bytes + (double)pw.bytes +
                outn * (double)xo_dtype_size((xo_dtype)p.out_dtype);
  xo_args args = {.in = {px.ptr, pw.ptr},
                  .scale = {px.scale, pw.scale},
                  .zero_point = {px.zero_point, pw.zero_point},
                  .bias = pbias,
                  .out = out->data,
                  .out_scale = oq ? oq->scale : 0,
                  .out_zero_point = oq ? oq->zero_point : 0,
                  .weight_token = w->q ? w->cache_token : 0};
  if (outn == 0) goto fail; /* nothing to compute, st OK */
  args.ops = info->ops;
  args.bytes = info->bytes;
  st = xo_dispatch_result(dev, &p, &args, oq != NULL, info);
fail:
  free(pbias);
  xo_prepared_free(&px);
  xo_prepared_free(&pw);
  return st;
}
