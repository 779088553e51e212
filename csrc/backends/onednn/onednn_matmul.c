/* onednn_matmul.c - matmul primitives: fp32, bf16, fp16, fp8 (on bf16),
 * int8 and int4 (on s8) with the scales and zero points of DESIGN.md s2 as
 * primitive attributes; group-wise int4 as one s32 primitive per group. */
#include <stdlib.h>
#include <string.h>

#include "onednn.h"

enum { MD_SRC, MD_WEI, MD_DST, MD_SA, MD_SB, MD_ZA };

xo_status dnn_matmul_plan(void *plan) {
  dnn_plan *pl = plan;
  const xo_problem *p = &pl->h.p;
  dnn_plan_begin(pl);
  xo_precision prec = (xo_precision)p->prec;
  int integer = xo_precision_is_integer(prec);
  int group = p->b_granularity == XO_Q_GROUP;
  int64_t k = group ? p->group_size : p->mm.k;
  /* src rows keep the full K stride, so one group is a strided view */
  int64_t sd[3] = {p->mm.batch_a, p->mm.m, k},
          ss[3] = {p->mm.m * p->mm.k, p->mm.k, 1};
  int64_t wd[3] = {p->mm.batch_b, k, p->mm.n},
          ws[3] = {p->mm.k * p->mm.n, p->mm.n, 1};
  /* when both operands broadcast, compute one batch; the run copies it */
  int64_t nbatch =
      p->mm.batch_a > p->mm.batch_b ? p->mm.batch_a : p->mm.batch_b;
  int64_t dd[3] = {nbatch, p->mm.m, p->mm.n};
  /* s32 results: raw, group-wise, or weights with zero points (oneDNN
   * 3.2 takes none: the core's identity adds that term, xo_zp_matmul) */
  dnnl_data_type_t dst =
      integer && (group || p->out_dtype == XO_DTYPE_S32 || p->b_asym)
          ? dnnl_s32
          : dnnl_f32;
  dnnl_memory_desc_t src =
      dnn_md_strided(pl, 3, sd, dnn_operand_type(prec, p->a_asym), ss);
  dnnl_memory_desc_t wei =
      dnn_md_strided(pl, 3, wd, dnn_operand_type(prec, 0), ws);
  dnnl_memory_desc_t out = dnn_md(pl, 3, dd, dst, dnnl_abc);
  int64_t ns = p->b_granularity == XO_Q_AXIS ? p->mm.n : 1, one = 1;
  dnn_md(pl, 1, &one, dnnl_f32, dnnl_a); /* MD_SA */
  dnn_md(pl, 1, &ns, dnnl_f32, dnnl_a);  /* MD_SB */
  dnn_md(pl, 1, &one, dnnl_s32, dnnl_a); /* MD_ZA */
  dnnl_primitive_attr_t attr = dnn_attr();
  if (!src || !wei || !out || pl->nmd != 6 || !attr) {
    if (attr) D.dnnl_primitive_attr_destroy(attr);
    return xo_fail(XO_ERR_RUNTIME, "onednn: cannot describe the matmul");
  }
  if (integer && dst == dnnl_f32) {
    D.dnnl_primitive_attr_set_scales_mask(attr, DNNL_ARG_SRC, 0);
    D.dnnl_primitive_attr_set_scales_mask(
        attr, DNNL_ARG_WEIGHTS, p->b_granularity == XO_Q_AXIS ? 1 << 2 : 0);
  }
  if (integer && p->a_asym)
    D.dnnl_primitive_attr_set_zero_points_mask(attr, DNNL_ARG_SRC, 0);
  dnnl_primitive_desc_t pd = NULL;
  dnnl_status_t s = D.dnnl_matmul_primitive_desc_create(&pd, dnn_engine, src,
                                                        wei, NULL, out, attr);
  D.dnnl_primitive_attr_destroy(attr);
  if (s != dnnl_success)
    return xo_fail(XO_ERR_UNSUPPORTED,
                   "onednn: no %s matmul for this shape (status %d); use ref",
                   xo_precision_name(prec), (int)s);
  return dnn_prim_make(pd, &pl->main, "matmul");
}

static xo_status run_matmul(const dnn_plan *pl, const xo_args *args,
                            const void *a, const void *b) {
  const xo_problem *p = &pl->h.p;
  const int32_t zero = 0;
  const int32_t *za = args->zero_point[0] ? args->zero_point[0] : &zero;
  int64_t nbatch =
      p->mm.batch_a > p->mm.batch_b ? p->mm.batch_a : p->mm.batch_b;
  /* the batches the primitive computes (one when both operands broadcast),
   * for the core's zero-point terms and dequantization */
  xo_problem q = *p;
  q.mm.batch = nbatch;
  if (p->b_granularity != XO_Q_GROUP) {
    int comp = p->b_asym, f32 = p->out_dtype != XO_DTYPE_S32;
    void *dst = args->out;
    if (comp && f32) {
      dst = dnn_scratch(5, (size_t)(nbatch * p->mm.m * p->mm.n) * 4);
      if (!dst) return xo_fail(XO_ERR_NO_MEMORY, "onednn: no memory");
    }
    dnn_arg ex[] = {
        {DNNL_ARG_SRC, pl->md[MD_SRC], a},
        {DNNL_ARG_WEIGHTS, pl->md[MD_WEI], b},
        {DNNL_ARG_DST, pl->md[MD_DST], dst},
        {DNNL_ARG_ATTR_SCALES | DNNL_ARG_SRC, pl->md[MD_SA], args->scale[0]},
        {DNNL_ARG_ATTR_SCALES | DNNL_ARG_WEIGHTS, pl->md[MD_SB],
         args->scale[1]},
        {DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, pl->md[MD_ZA], za},
    };
    int integer = xo_precision_is_integer((xo_precision)p->prec);
    xo_status st = dnn_exec(&pl->main, ex, integer ? 6 : 3);
    /* src zero points were subtracted by the primitive (a_done) */
    if (st == XO_OK && comp) st = xo_zp_matmul(&q, args, 0, q.mm.k, 1, dst);
    if (st == XO_OK && comp && f32) xo_dequant_result(&q, args, dst, args->out);
    size_t one = (size_t)(p->mm.m * p->mm.n) * 4; /* f32 and s32 alike */
    if (p->mm.batch_a == 1 && p->mm.batch_b == 1)
      for (int64_t i = 1; i < p->mm.batch && st == XO_OK; i++)
        memcpy((char *)args->out + i * one, args->out, one);
    return st;
  }
  /* group-wise: s32 per group, dequantized and summed in group order as
   * ref does, so the results are identical */
  int64_t mn = p->mm.batch * p->mm.m * p->mm.n, gs = p->group_size;
  int32_t *acc = dnn_scratch(2, (size_t)mn * 4);
  if (!acc) return xo_fail(XO_ERR_NO_MEMORY, "onednn: no memory");
  for (int64_t g = 0; g < p->mm.k / gs; g++) {
    dnn_arg ex[] = {
        {DNNL_ARG_SRC, pl->md[MD_SRC], (const int8_t *)a + g * gs},
        {DNNL_ARG_WEIGHTS, pl->md[MD_WEI],
         (const int8_t *)b + g * gs * p->mm.n},
        {DNNL_ARG_DST, pl->md[MD_DST], acc},
        {DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, pl->md[MD_ZA], za},
    };
    xo_status st = dnn_exec(&pl->main, ex, args->zero_point[0] ? 4 : 3);
    if (st == XO_OK && p->b_asym)
      st = xo_zp_matmul(&q, args, g * gs, (g + 1) * gs, 1, acc);
    if (st != XO_OK) return st;
    for (int64_t i = 0; i < p->mm.batch; i++)
      xo_dequant_rows(p->mm.m, p->mm.n, acc + (i % nbatch) * p->mm.m * p->mm.n,
                      args->scale[0][0], args->scale[1] + g * p->mm.n, 1, g > 0,
                      (float *)args->out + i * p->mm.m * p->mm.n);
  }
  return XO_OK;
}

/* The weights as the primitive reads them: b itself, or b widened (fp8)
 * or unpacked (int4) — kept under the operand's cache token, so an
 * immutable QTensor is converted once per plan, not per call. *held tells
 * the caller to release the cache's read lock. */
static const void *weights(dnn_plan *pl, const xo_args *args, int64_t nb,
                           int *held, xo_status *st) {
  const void *b = args->in[1];
  *held = 0;
  if (!pl->widen8 && !pl->unpack4) return b;
  const void *cached = dnn_wcache_get(&pl->wc, args->weight_token);
  if (cached) {
    *held = 1;
    return cached;
  }
  size_t bytes = (size_t)nb * (pl->widen8 ? 2 : 1);
  void *w = dnn_scratch(1, bytes);
  if (w == NULL) {
    *st = xo_fail(XO_ERR_NO_MEMORY, "onednn: no memory");
    return NULL;
  }
  if (pl->widen8) /* emulation: fp8 values are exactly bf16 values */
    dnn_fp8_to_bf16(b, nb, w);
  else /* emulation: s4 values are exactly s8 values */
    *st = xo_unpack_int4(b, nb, 0, w);
  if (*st == XO_OK) dnn_wcache_put(&pl->wc, args->weight_token, w, bytes);
  return w;
}

xo_status dnn_matmul_run(void *plan, const xo_args *args, xo_run_stats *stats) {
  dnn_plan *pl = plan; /* only the locked weight cache changes */
  const xo_matmul_desc *p = &pl->h.p.mm;
  xo_status st = XO_OK;
  (void)stats; /* the core's wall clock is the kernel time */
  dnn_run_begin();
  const void *a = dnn_activation(pl, args->in[0], p->batch_a * p->m * p->k);
  if (a == NULL) return xo_fail(XO_ERR_NO_MEMORY, "onednn: no memory");
  int64_t nb = p->batch_b * p->k * p->n;
  int held;
  const void *b = weights(pl, args, nb, &held, &st);
  if (st == XO_OK) st = run_matmul(pl, args, a, b);
  if (held) dnn_wcache_done(&pl->wc);
  return st;
}
