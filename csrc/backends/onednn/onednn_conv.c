/* onednn_conv.c - convolution primitives. The primitive chooses its own
 * layouts (blocked or channels-last, whatever its ISA wants); reorders from
 * and to the plain NCHW / (G)OIHW buffers are created with the plan. */
#include <stdlib.h>

#include "onednn.h"

enum { MD_SRC, MD_WEI, MD_BIAS, MD_DST, MD_SA, MD_SB, MD_ZA };

/* A reorder from `from` to `to`, unless they are the same layout. */
static xo_status make_reorder(const_dnnl_memory_desc_t from,
                              const_dnnl_memory_desc_t to, dnn_prim *out) {
  if (D.dnnl_memory_desc_equal(from, to)) return XO_OK;
  dnnl_primitive_desc_t pd = NULL;
  dnnl_primitive_attr_t attr = dnn_attr();
  dnnl_status_t s = D.dnnl_reorder_primitive_desc_create(&pd, from, dnn_engine,
                                                         to, dnn_engine, attr);
  if (attr) D.dnnl_primitive_attr_destroy(attr);
  if (s != dnnl_success)
    return xo_fail(XO_ERR_RUNTIME, "onednn: no reorder (status %d)", (int)s);
  return dnn_prim_make(pd, out, "reorder");
}

xo_status dnn_conv_plan(void *plan) {
  dnn_plan *pl = plan;
  const xo_problem *p = &pl->h.p;
  dnn_plan_begin(pl);
  xo_precision prec = (xo_precision)p->prec;
  int integer = xo_precision_is_integer(prec);
  int64_t g = p->conv.groups;
  /* full dnnl_dims_t arrays: the API reads DNNL_MAX_NDIMS entries */
  dnnl_dims_t sd = {p->conv.in_n, p->conv.in_c, p->conv.in_h, p->conv.in_w};
  dnnl_dims_t wd = {g, p->conv.out_c / g, p->conv.in_c / g, p->conv.kh,
                    p->conv.kw};
  dnnl_dims_t wd4 = {p->conv.out_c, p->conv.in_c / g, p->conv.kh, p->conv.kw};
  dnnl_dims_t dd = {p->conv.in_n, p->conv.out_c, p->conv.out_h, p->conv.out_w};
  dnnl_dims_t oc = {p->conv.out_c};
  int wn = g > 1 ? 5 : 4; /* (G)OIHW */
  const int64_t *w = g > 1 ? wd : wd4;
  /* weights zero points: oneDNN 3.2 takes none, so the primitive gives s32
   * and the core adds their term (xo_zp_conv), scales and bias */
  int comp = integer && p->b_asym;
  dnnl_data_type_t dst =
      p->out_dtype == XO_DTYPE_S32 || comp ? dnnl_s32 : dnnl_f32;
  dnnl_data_type_t st = dnn_operand_type(prec, p->a_asym);
  dnnl_data_type_t wt = dnn_operand_type(prec, 0);
  /* the user's plain layouts */
  dnn_md(pl, 4, sd, st, dnnl_nchw);
  dnn_md(pl, wn, w, wt, g > 1 ? dnnl_goihw : dnnl_oihw);
  dnn_md(pl, 1, oc, dnnl_f32, dnnl_a);
  dnn_md(pl, 4, dd, dst, dnnl_nchw);
  dnnl_dims_t ns = {p->b_granularity == XO_Q_AXIS ? p->conv.out_c : 1},
              one = {1};
  dnn_md(pl, 1, one, dnnl_f32, dnnl_a);
  dnn_md(pl, 1, ns, dnnl_f32, dnnl_a);
  dnn_md(pl, 1, one, dnnl_s32, dnnl_a);
  /* what the primitive may choose */
  dnnl_memory_desc_t asrc = NULL, awei = NULL, adst = NULL;
  D.dnnl_memory_desc_create_with_tag(&asrc, 4, sd, st, dnnl_format_tag_any);
  D.dnnl_memory_desc_create_with_tag(&awei, wn, w, wt, dnnl_format_tag_any);
  D.dnnl_memory_desc_create_with_tag(&adst, 4, dd, dst, dnnl_format_tag_any);
  dnnl_primitive_attr_t attr = dnn_attr();
  if (integer && dst == dnnl_f32) {
    D.dnnl_primitive_attr_set_scales_mask(attr, DNNL_ARG_SRC, 0);
    int per_oc = p->b_granularity == XO_Q_AXIS;
    D.dnnl_primitive_attr_set_scales_mask(attr, DNNL_ARG_WEIGHTS,
                                          per_oc ? (g > 1 ? 3 : 1) : 0);
  }
  /* input zero points: oneDNN subtracts them and a padded tap contributes
   * 0, the padding the core's rule asks for */
  if (integer && p->a_asym)
    D.dnnl_primitive_attr_set_zero_points_mask(attr, DNNL_ARG_SRC, 0);
  dnnl_dims_t strides = {p->conv.stride[0], p->conv.stride[1]};
  dnnl_dims_t dil = {p->conv.dil[0] - 1,
                     p->conv.dil[1] - 1}; /* oneDNN counts gaps */
  dnnl_dims_t pl_ = {p->conv.pad_begin[0], p->conv.pad_begin[1]};
  dnnl_dims_t pr = {p->conv.pad_end[0], p->conv.pad_end[1]};
  dnnl_primitive_desc_t pd = NULL;
  dnnl_status_t s = D.dnnl_convolution_forward_primitive_desc_create(
      &pd, dnn_engine, dnnl_forward_inference, dnnl_convolution_direct, asrc,
      awei, p->has_bias && !comp ? pl->md[MD_BIAS] : NULL, adst, strides, dil,
      pl_, pr, attr);
  D.dnnl_memory_desc_destroy(asrc);
  D.dnnl_memory_desc_destroy(awei);
  D.dnnl_memory_desc_destroy(adst);
  if (attr) D.dnnl_primitive_attr_destroy(attr);
  if (s != dnnl_success || pl->nmd != 7)
    return xo_fail(XO_ERR_UNSUPPORTED,
                   "onednn: no %s convolution for this shape (status %d); "
                   "use ref",
                   xo_precision_name(prec), (int)s);
  const_dnnl_memory_desc_t q[3] = {
      D.dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0),
      D.dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0),
      D.dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0)};
  xo_status r = XO_OK;
  for (int i = 0; i < 3 && r == XO_OK; i++) {
    dnnl_memory_desc_t c = NULL;
    D.dnnl_memory_desc_clone(&c, q[i]);
    if (pl->nmd < DNN_MAX_MDS) pl->md[pl->nmd++] = c; /* 7, 8, 9 */
    pl->bytes[i] = D.dnnl_memory_desc_get_size(c);
    const_dnnl_memory_desc_t user = pl->md[i == 2 ? MD_DST : i];
    r = i < 2 ? make_reorder(user, c, &pl->reorder[i])
              : make_reorder(c, user, &pl->reorder[i]);
  }
  if (r != XO_OK) {
    D.dnnl_primitive_desc_destroy(pd);
    return r;
  }
  return dnn_prim_make(pd, &pl->main, "convolution");
}

/* Run reorder r from (md_from, from) into a scratch slot, or pass through. */
static const void *through(const dnn_plan *pl, int r, int slot,
                           const_dnnl_memory_desc_t from_md, const void *from,
                           const_dnnl_memory_desc_t to_md, xo_status *st) {
  if (pl->reorder[r].prim == NULL) return from;
  void *to = dnn_scratch(slot, pl->bytes[r]);
  if (to == NULL) {
    *st = xo_fail(XO_ERR_NO_MEMORY, "onednn: no memory");
    return NULL;
  }
  dnn_arg ex[] = {{DNNL_ARG_FROM, from_md, from}, {DNNL_ARG_TO, to_md, to}};
  *st = dnn_exec(&pl->reorder[r], ex, 2);
  return to;
}

/* The weights in the primitive's layout: widened (fp8) or unpacked (int4)
 * and reordered as needed, kept under the operand's cache token so that an
 * immutable QTensor is reordered once per plan, not per call. */
static const void *conv_weights(dnn_plan *pl, const xo_args *args, int *held,
                                xo_status *st) {
  const xo_problem *p = &pl->h.p;
  const void *w = args->in[1];
  int64_t nw =
      p->conv.out_c * (p->conv.in_c / p->conv.groups) * p->conv.kh * p->conv.kw;
  *held = 0;
  int derived = pl->widen8 || pl->unpack4 || pl->reorder[1].prim;
  if (!derived) return w;
  const void *cached = dnn_wcache_get(&pl->wc, args->weight_token);
  if (cached) {
    *held = 1;
    return cached;
  }
  size_t bytes = (size_t)nw * (pl->widen8 ? 2 : 1);
  if (pl->widen8) {
    uint16_t *ww = dnn_scratch(1, bytes);
    if (!ww) goto oom;
    dnn_fp8_to_bf16(w, nw, ww);
    w = ww;
  } else if (pl->unpack4) {
    int8_t *uw = dnn_scratch(1, bytes);
    if (!uw) goto oom;
    *st = xo_unpack_int4(w, nw, 0, uw);
    w = uw;
  }
  if (*st == XO_OK && pl->reorder[1].prim) {
    w = through(pl, 1, 3, pl->md[MD_WEI], w, pl->md[8], st);
    bytes = pl->bytes[1];
  }
  if (*st == XO_OK) dnn_wcache_put(&pl->wc, args->weight_token, w, bytes);
  return w;
oom:
  *st = xo_fail(XO_ERR_NO_MEMORY, "onednn: no memory");
  return NULL;
}

xo_status dnn_conv_run(void *plan, const xo_args *args, xo_run_stats *stats) {
  dnn_plan *pl = plan; /* only the locked weight cache changes */
  const xo_problem *p = &pl->h.p;
  const xo_conv_desc *c = &p->conv;
  xo_status st = XO_OK;
  (void)stats; /* the core's wall clock is the kernel time */
  dnn_run_begin();
  const void *x =
      dnn_activation(pl, args->in[0], c->in_n * c->in_c * c->in_h * c->in_w);
  if (x == NULL) return xo_fail(XO_ERR_NO_MEMORY, "onednn: no memory");
  int held;
  const void *ws = conv_weights(pl, args, &held, &st);
  const void *xs =
      st == XO_OK ? through(pl, 0, 2, pl->md[MD_SRC], x, pl->md[7], &st) : NULL;
  if (st != XO_OK) goto done;
  int comp = p->b_asym, f32 = p->out_dtype != XO_DTYPE_S32;
  int64_t nout = c->in_n * c->out_c * c->out_h * c->out_w;
  /* where the s32 sums land when the core still adds zero-point terms */
  void *user = comp && f32 ? dnn_scratch(5, (size_t)nout * 4) : args->out;
  void *dst = pl->reorder[2].prim ? dnn_scratch(4, pl->bytes[2]) : user;
  if (dst == NULL || user == NULL) {
    st = xo_fail(XO_ERR_NO_MEMORY, "onednn: no memory");
    goto done;
  }
  dnn_arg ex[] = {
      {DNNL_ARG_SRC, pl->md[7], xs},
      {DNNL_ARG_WEIGHTS, pl->md[8], ws},
      {DNNL_ARG_DST, pl->md[9], dst},
      {DNNL_ARG_ATTR_SCALES | DNNL_ARG_SRC, pl->md[MD_SA], args->scale[0]},
      {DNNL_ARG_ATTR_SCALES | DNNL_ARG_WEIGHTS, pl->md[MD_SB], args->scale[1]},
      {DNNL_ARG_BIAS, pl->md[MD_BIAS], args->bias},
      {DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, pl->md[MD_ZA],
       args->zero_point[0]},
  };
  int integer = xo_precision_is_integer((xo_precision)p->prec);
  int n = 3;
  if (integer && f32 && !comp) n = 5;
  if (p->has_bias && !comp) ex[n++] = ex[5];
  if (integer && p->a_asym) ex[n++] = ex[6];
  st = dnn_exec(&pl->main, ex, n);
  if (st == XO_OK && pl->reorder[2].prim) {
    dnn_arg back[] = {{DNNL_ARG_FROM, pl->md[9], dst},
                      {DNNL_ARG_TO, pl->md[MD_DST], user}};
    st = dnn_exec(&pl->reorder[2], back, 2);
  }
  /* src zero points were subtracted by the primitive (a_done) */
  if (st == XO_OK && comp) st = xo_zp_conv(p, args, 1, user);
  if (st == XO_OK && comp && f32) xo_dequant_result(p, args, user, args->out);
done:
  if (held) dnn_wcache_done(&pl->wc);
  return st;
}
