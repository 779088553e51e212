/* matmul.c - out [batch, M, N] = a [batch, M, K] @ b [batch, K, N]. */
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"

/* The largest |acc| the s32 accumulators can reach must fit: refuse K beyond
 * that instead of wrapping (DESIGN.md s2). */
xo_status xo_check_accumulator(int64_t k, int32_t amag, int32_t bmag,
                               const char *what) {
  int64_t bound;
  if (xo_mul_size(k, (int64_t)amag * bmag, &bound) != XO_OK ||
      bound > INT32_MAX)
    return xo_fail(XO_ERR_OVERFLOW,
                   "%s = %lld is too long for s32 accumulators: |acc| could "
                   "reach %lld x %d x %d > 2^31 - 1; the limit is %lld. Split "
                   "the reduction, use group-wise int4 scales, or use a float "
                   "precision",
                   what, (long long)k, (long long)k, amag, bmag,
                   (long long)(INT32_MAX / ((int64_t)amag * bmag)));
  return XO_OK;
}

/* A view of the first matrix when the batch dimension is broadcast. */
static xo_operand batch_view(const xo_operand *op, int64_t *nbatch) {
  xo_operand v = *op;
  /* an empty batch stays empty: its (meaningless) stride may be 0, and one
   * matrix read from it would run past its buffer (found by ASan) */
  if (v.t.shape[0] > 0 && (v.t.strides[0] == 0 || v.t.shape[0] == 1)) {
    v.t.shape[0] = 1;
    *nbatch = 1;
  } else {
    *nbatch = v.t.shape[0];
  }
  return v;
}

xo_status xo_matmul(xo_device_t dev, xo_precision prec, const xo_operand *a,
                    const xo_operand *b, xo_tensor *out, xo_op_info *info) {
  return xo_matmul_ex(dev, prec, a, b, NULL, NULL, out, info);
}

xo_status xo_matmul_ex(xo_device_t dev, xo_precision prec, const xo_operand *a,
                       const xo_operand *b, const xo_tensor *bias,
                       const xo_outq *oq, xo_tensor *out, xo_op_info *info) {
  xo_prepared pa = {0}, pb = {0};
  void *pbias = NULL;
  xo_problem p;
  xo_status st;
  xo_op_info local;
  st = xo_op_begin(XO_OP_MATMUL, prec, dev && a && b && out, &p, &info, &local);
  if (st != XO_OK) return st;
  if (a->t.ndim != 3 || b->t.ndim != 3)
    return xo_fail(XO_ERR_INVALID_ARG,
                   "xo_matmul takes 3-d [batch, rows, "
                   "cols] views");
  const int64_t *as = a->t.shape, *bs = b->t.shape;
  if (as[2] != bs[1] || as[0] != bs[0])
    return xo_fail(XO_ERR_INVALID_ARG,
                   "matmul: shapes [%lld, %lld, %lld] "
                   "and [%lld, %lld, %lld] do not match",
                   (long long)as[0], (long long)as[1], (long long)as[2],
                   (long long)bs[0], (long long)bs[1], (long long)bs[2]);
  p.mm.batch = as[0];
  p.mm.m = as[1];
  p.mm.k = as[2];
  p.mm.n = bs[2];
  xo_operand va = batch_view(a, &p.mm.batch_a),
             vb = batch_view(b, &p.mm.batch_b);

  int integer = xo_precision_is_integer(prec);
  if (out->dtype == XO_DTYPE_S32) {
    if (!integer || a->q == NULL || b->q == NULL)
      return xo_fail(XO_ERR_INVALID_ARG,
                     "out_dtype=int32 returns raw "
                     "accumulators: it needs precision int8/int4 and both "
                     "operands already quantized (QTensor)");
    if (b->q->spec.granularity == XO_Q_GROUP)
      return xo_fail(XO_ERR_INVALID_ARG,
                     "out_dtype=int32 is undefined for "
                     "group-wise scales (one accumulator per group)");
    p.out_dtype = XO_DTYPE_S32;
  }
  st = xo_check_outq(prec, out, oq);
  if (st != XO_OK) return st;
  int64_t oshape[3] = {p.mm.batch, p.mm.m, p.mm.n};
  st =
      xo_check_output(out, 3, oshape, oq ? XO_DTYPE_S8 : (xo_dtype)p.out_dtype);
  if (st != XO_OK) return st;

  double t0 = xo_now();
  xo_qspec qa = {.granularity = XO_Q_TENSOR, .symmetric = 1};
  xo_qspec qb = {.granularity = XO_Q_AXIS, .axis = 2, .symmetric = 1};
  /* activations are int8 under int4 too (W4A8) */
  xo_precision act = prec == XO_PREC_INT4 ? XO_PREC_INT8 : prec;
  /* Every limit that the quantization specs and sizes decide is checked
   * before an operand is converted: a K too long for s32, or operands that
   * cannot fit memory, fail at once instead of after gigabytes. */
  if (integer) {
    xo_qgranularity ga = a->q ? a->q->spec.granularity : qa.granularity;
    xo_qgranularity gb = b->q ? b->q->spec.granularity : qb.granularity;
    if (ga != XO_Q_TENSOR)
      return xo_fail(XO_ERR_UNSUPPORTED,
                     "a must be quantized per tensor "
                     "(axis=None); per-row activation scales are not "
                     "supported");
    int group = gb == XO_Q_GROUP;
    if ((gb == XO_Q_AXIS && b->q && b->q->spec.axis != 2) ||
        (group && (b->q->spec.axis != 2 || b->q->spec.group_axis != 1)))
      return xo_fail(XO_ERR_UNSUPPORTED,
                     "b must be quantized per tensor, per "
                     "output channel (axis=-1), or group-wise along K "
                     "(axis=-1 with group_size)");
    st = xo_check_accumulator(
        group ? b->q->spec.group_size : p.mm.k, xo_operand_qmag(a, act, &qa),
        xo_operand_qmag(b, prec, &qb), group ? "group_size" : "K");
    if (st != XO_OK) return st;
  }
  int64_t need[2];
  static const char *const names[2] = {"a", "b"};
  st = xo_prepare_bytes(&va, act, 0, &need[0]);
  if (st == XO_OK) st = xo_prepare_bytes(&vb, prec, 1, &need[1]);
  if (st == XO_OK) st = xo_check_memory("matmul", 2, names, need);
  if (st != XO_OK) return st;
  if (bias != NULL) { /* Gemm's C: per output column, on the float result */
    st = xo_take_bias(bias, p.mm.n, "output column", &p, oq != NULL, &pbias);
    if (st != XO_OK) goto fail;
  }
  st = xo_prepare(&va, act, &qa, 0, "a", &pa);
  if (st != XO_OK) goto fail;
  st = xo_prepare(&vb, prec, &qb, 1, "b", &pb);
  if (st != XO_OK) goto fail;
  if (integer) {
    p.a_asym = pa.asym;
    p.b_asym = pb.asym;
    p.b_granularity = pb.granularity;
    p.group_size = pb.group_size;
  }
  info->prepare_s = xo_now() - t0;
  info->ops = 2.0 * (double)p.mm.batch * (double)p.mm.m * (double)p.mm.n *
              (double)p.mm.k;
  info->bytes = (double)pa.bytes + (double)pb.bytes +
                (double)p.mm.batch * (double)p.mm.m * (double)p.mm.n *
                    (double)xo_dtype_size((xo_dtype)p.out_dtype);
  xo_args args = {.in = {pa.ptr, pb.ptr},
                  .scale = {pa.scale, pb.scale},
                  .zero_point = {pa.zero_point, pb.zero_point},
                  .bias = pbias,
                  .out = out->data,
                  .out_scale = oq ? oq->scale : 0,
                  .out_zero_point = oq ? oq->zero_point : 0,
                  .weight_token = b->q ? b->cache_token : 0};
  if (p.mm.batch * p.mm.m * p.mm.n == 0)
    goto fail; /* nothing to compute, st OK */
  args.ops = info->ops;
  args.bytes = info->bytes;
  st = xo_dispatch_result(dev, &p, &args, oq != NULL, info);
fail:
  free(pbias);
  xo_prepared_free(&pa);
  xo_prepared_free(&pb);
  return st;
}
