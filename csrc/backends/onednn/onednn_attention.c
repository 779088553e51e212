/* onednn_attention.c - attention from oneDNN primitives, per key/value head
 * (the query heads sharing it are stacked as rows: M = H/Hkv * Lq):
 *   float: S = scale * Q Kᵀ, softcap (c tanh(s / c) as eltwise post-ops)
 *          and an additive mask (a binary post-op: which keys each row sees
 *          by the core's rules, plus the user's mask) as one matmul,
 *          P = softmax(S) (the softmax primitive, P in the operand type),
 *          O = P V as a second matmul.
 *   int8:  S = Q Kᵀ in s32, P as u8 by the core's xo_attn_probs_u8
 *          (scheme v2, identical to ref), O = P V in s32, then scaled per
 *          channel and divided by the row's sum of P (xo_attn_out_f32).
 * oneDNN 3.2's Graph API has no SDPA fusion for this, so the three steps
 * stay separate. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "onednn.h"

enum { MD_Q, MD_KT, MD_S, MD_MASK, MD_P, MD_V, MD_O, MD_S2 };

/* Row r of kv head g's stacked query rows: query head q_head0(g) + r / lq,
 * its row r % lq; the keys it may see. */
static void row_of(const xo_problem *p, const xo_args *args, int64_t g,
                   int64_t r, xo_attn_row *row) {
  const xo_attn_desc *a = &p->attn;
  xo_attn_row_get(p, args, xo_attn_q_head0(a, g) + r / a->lq, r % a->lq, row);
}

/* The additive mask of kv head g's m stacked rows [m, lk]: the user's term
 * on the keys the rules leave, -inf on the others. */
static void build_mask(const xo_problem *p, const xo_args *args, int64_t g,
                       int64_t m, float *mask) {
  int64_t lk = p->attn.lk;
  for (int64_t r = 0; r < m; r++) {
    xo_attn_row row;
    row_of(p, args, g, r, &row);
    float *mr = mask + r * lk;
    for (int64_t j = 0; j < lk; j++) mr[j] = 0.0f;
    xo_attn_scores_f32(&p->attn, &row, 0, lk, mr);
  }
}

/* 1: the mask differs between kv heads (kv_lengths or a user mask), so it
 * is built per run; 0: the rules alone, built once with the plan. */
static int mask_per_run(const xo_attn_desc *a) {
  return a->kv_lengths || a->mask;
}

xo_status dnn_attention_plan(void *plan) {
  dnn_plan *pl = plan;
  const xo_attn_desc *p = &pl->h.p.attn;
  xo_precision prec = (xo_precision)pl->h.p.prec;
  dnn_plan_begin(pl);
  int int8 = prec == XO_PREC_INT8;
  int64_t m = p->h / p->hkv * p->lq, d = p->d, lk = p->lk;
  dnnl_data_type_t op = dnn_operand_type(prec, 0);
  dnnl_data_type_t sdt = int8 ? dnnl_s32 : dnnl_f32;
  dnnl_data_type_t pdt = int8 ? dnnl_u8 : op;
  int64_t qd[3] = {1, m, d}, kd[3] = {1, d, lk}, ks[3] = {lk * d, 1, d};
  int64_t dv = p->dv;
  int64_t sd[3] = {1, m, lk}, vd[3] = {1, lk, dv}, od[3] = {1, m, dv};
  int64_t s2[2] = {m, lk};
  dnn_md(pl, 3, qd, op, dnnl_abc);
  dnn_md_strided(pl, 3, kd, op, ks); /* Kᵀ as a transposed view of K */
  dnn_md(pl, 3, sd, sdt, dnnl_abc);
  dnn_md(pl, 3, sd, dnnl_f32, dnnl_abc); /* MD_MASK */
  dnn_md(pl, 3, sd, pdt, dnnl_abc);
  dnn_md(pl, 3, vd, op, dnnl_abc);
  dnn_md(pl, 3, od, int8 ? dnnl_s32 : dnnl_f32, dnnl_abc);
  dnn_md(pl, 2, s2, dnnl_f32, dnnl_ab); /* S and P seen as rows */
  dnn_md(pl, 2, s2, pdt, dnnl_ab);
  if (pl->nmd != 9)
    return xo_fail(XO_ERR_RUNTIME, "onednn: cannot describe attention");

  dnnl_primitive_attr_t attr = dnn_attr();
  dnnl_post_ops_t po = NULL;
  if (!int8) {
    D.dnnl_post_ops_create(&po);
    if (p->softcap > 0) { /* c tanh(scale s / c) */
      D.dnnl_post_ops_append_eltwise(po, dnnl_eltwise_linear,
                                     (float)(p->scale / p->softcap), 0.0f);
      D.dnnl_post_ops_append_eltwise(po, dnnl_eltwise_tanh, 0.0f, 0.0f);
      D.dnnl_post_ops_append_eltwise(po, dnnl_eltwise_linear, (float)p->softcap,
                                     0.0f);
    } else {
      D.dnnl_post_ops_append_eltwise(po, dnnl_eltwise_linear, (float)p->scale,
                                     0.0f);
    }
    pl->mask_po = p->softcap > 0 ? 3 : 1;
    int rules = p->causal || p->has_window || mask_per_run(p);
    if (rules) {
      D.dnnl_post_ops_append_binary(po, dnnl_binary_add, pl->md[MD_MASK]);
      pl->has_mask = 1;
    }
    if (rules && !mask_per_run(p)) {
      xo_status st = xo_alloc(m * lk, sizeof(float), (void **)&pl->mask);
      if (st != XO_OK) {
        D.dnnl_post_ops_destroy(po);
        D.dnnl_primitive_attr_destroy(attr);
        return st;
      }
      /* the same for every kv head: made for the first */
      xo_args none;
      memset(&none, 0, sizeof none);
      build_mask(&pl->h.p, &none, 0, m, pl->mask);
    }
    D.dnnl_primitive_attr_set_post_ops(attr, po);
    D.dnnl_post_ops_destroy(po);
  }
  dnnl_primitive_desc_t pd = NULL;
  dnnl_status_t s = D.dnnl_matmul_primitive_desc_create(
      &pd, dnn_engine, pl->md[MD_Q], pl->md[MD_KT], NULL, pl->md[MD_S], attr);
  D.dnnl_primitive_attr_destroy(attr);
  if (s != dnnl_success)
    return xo_fail(XO_ERR_UNSUPPORTED, "onednn: no %s QKᵀ matmul (status %d)",
                   xo_precision_name(prec), (int)s);
  xo_status st = dnn_prim_make(pd, &pl->main, "QKᵀ matmul");
  if (st != XO_OK) return st;
  if (!int8) {
    attr = dnn_attr();
    s = D.dnnl_softmax_forward_primitive_desc_create(
        &pd, dnn_engine, dnnl_forward_inference, dnnl_softmax_accurate,
        pl->md[MD_S2], pl->md[MD_S2 + 1], 1, attr);
    D.dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success)
      return xo_fail(XO_ERR_UNSUPPORTED, "onednn: no softmax (status %d)",
                     (int)s);
    st = dnn_prim_make(pd, &pl->second, "softmax");
    if (st != XO_OK) return st;
  }
  attr = dnn_attr();
  s = D.dnnl_matmul_primitive_desc_create(
      &pd, dnn_engine, pl->md[MD_P], pl->md[MD_V], NULL, pl->md[MD_O], attr);
  D.dnnl_primitive_attr_destroy(attr);
  if (s != dnnl_success)
    return xo_fail(XO_ERR_UNSUPPORTED, "onednn: no %s PV matmul (status %d)",
                   xo_precision_name(prec), (int)s);
  st = dnn_prim_make(pd, &pl->third, "PV matmul");
  snprintf(pl->impl, sizeof pl->impl,
           "onednn:attention_%s (matmul %s + %s + matmul %s%s)",
           xo_precision_name(prec), pl->main.impl,
           pl->second.prim ? pl->second.impl : "int8 softmax", pl->third.impl,
           dnn_emulation(pl));
  return st;
}

xo_status dnn_attention_run(void *plan, const xo_args *args,
                            xo_run_stats *stats) {
  const dnn_plan *pl = plan;
  const xo_attn_desc *p = &pl->h.p.attn;
  int int8 = pl->h.p.prec == XO_PREC_INT8;
  (void)stats; /* the core's wall clock is the kernel time */
  dnn_run_begin();
  int64_t m = p->h / p->hkv * p->lq, d = p->d, dv = p->dv, lk = p->lk;
  int64_t nq = p->b * p->h * p->lq * d, nk = p->b * p->hkv * lk * d;
  int64_t nv = p->b * p->hkv * lk * dv;
  size_t es = int8 ? 1 : pl->h.p.prec == XO_PREC_FP32 ? 4 : 2;
  const char *q = args->in[0], *k = args->in[1], *v = args->in[2];
  if (pl->widen8) {
    uint16_t *w = dnn_scratch(0, (size_t)(nq + nk + nv) * 2);
    if (!w) return xo_fail(XO_ERR_NO_MEMORY, "onednn: no memory");
    dnn_fp8_to_bf16(args->in[0], nq, w);
    dnn_fp8_to_bf16(args->in[1], nk, w + nq);
    dnn_fp8_to_bf16(args->in[2], nv, w + nq + nk);
    q = (const char *)w;
    k = (const char *)(w + nq);
    v = (const char *)(w + nq + nk);
  }
  void *s = dnn_scratch(1, (size_t)(m * lk) * 4);
  void *pbuf = dnn_scratch(2, (size_t)(m * lk) * (int8 ? 1 : es));
  int32_t *acc = int8 ? dnn_scratch(3, (size_t)(m * dv) * 4) : NULL;
  float *f = int8 ? dnn_scratch(4, (size_t)lk * 4) : NULL;
  int32_t *psum = int8 ? dnn_scratch(5, (size_t)m * 4) : NULL;
  float *mask = pl->mask;
  if (pl->has_mask && mask == NULL) mask = dnn_scratch(6, (size_t)(m * lk) * 4);
  if (!s || !pbuf || (int8 && (!acc || !f || !psum)) || (pl->has_mask && !mask))
    return xo_fail(XO_ERR_NO_MEMORY, "onednn: no memory");
  for (int64_t g = 0; g < p->b * p->hkv; g++) {
    /* the query heads reading kv head g are consecutive: their m rows, one
     * matrix, start at row `first` of the [b h lq] rows */
    int64_t first = xo_attn_q_head0(p, g) * p->lq;
    const char *qg = q + (size_t)(first * d) * es;
    const char *kg = k + (size_t)(g * lk * d) * es;
    const char *vg = v + (size_t)(g * lk * dv) * es;
    float *og = (float *)args->out + first * dv;
    if (pl->has_mask && pl->mask == NULL)
      build_mask(&pl->h.p, args, g, m, mask);
    dnn_arg qk[] = {
        {DNNL_ARG_SRC, pl->md[MD_Q], qg},
        {DNNL_ARG_WEIGHTS, pl->md[MD_KT], kg},
        {DNNL_ARG_DST, pl->md[MD_S], s},
        {DNNL_ARG_ATTR_MULTIPLE_POST_OP(pl->mask_po) | DNNL_ARG_SRC_1,
         pl->md[MD_MASK], mask},
    };
    xo_status st = dnn_exec(&pl->main, qk, pl->has_mask ? 4 : 3);
    if (st != XO_OK) return st;
    if (int8) {
      for (int64_t r = 0; r < m; r++) {
        float sq = args->scale[0][first + r]; /* per (head, row) */
        uint8_t *pr = (uint8_t *)pbuf + r * lk;
        xo_attn_row row;
        row_of(&pl->h.p, args, g, r, &row);
        psum[r] = xo_attn_probs_u8_row(p, &row, (const int32_t *)s + r * lk, sq,
                                       args->scale[1] + g * lk, f, pr);
        memset(pr, 0, (size_t)row.lo);
        memset(pr + row.hi, 0, (size_t)(lk - row.hi));
      }
    } else {
      dnn_arg sm[] = {{DNNL_ARG_SRC, pl->md[MD_S2], s},
                      {DNNL_ARG_DST, pl->md[MD_S2 + 1], pbuf}};
      st = dnn_exec(&pl->second, sm, 2);
      if (st != XO_OK) return st;
    }
    dnn_arg pv[] = {{DNNL_ARG_SRC, pl->md[MD_P], pbuf},
                    {DNNL_ARG_WEIGHTS, pl->md[MD_V], vg},
                    {DNNL_ARG_DST, pl->md[MD_O], int8 ? (void *)acc : og}};
    st = dnn_exec(&pl->third, pv, 3);
    if (st != XO_OK) return st;
    for (int64_t r = 0; r < m && int8; r++)
      xo_attn_out_f32(acc + r * dv, dv, args->scale[2] + g * dv, psum[r],
                      og + r * dv);
  }
  /* a row that sees no key: 0, not the float softmax's NaN */
  xo_attn_zero_unseen_args(&pl->h.p, args);
  return XO_OK;
}
