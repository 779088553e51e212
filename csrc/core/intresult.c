/* intresult.c - the last steps of integer results, written once for every
 * backend (semantics.h): zero-point compensation, dequantization, the
 * matmul bias and requantization to s8. */
#include <stdlib.h>

#include "semantics.h"

/* Element e of stored weights: s8, or s4 packed two per byte. */
static int32_t w_at(const void *w, int64_t e, int packed4) {
  if (!packed4) return ((const int8_t *)w)[e];
  int nib = (((const uint8_t *)w)[e / 2] >> ((e & 1) * 4)) & 0x0F;
  return (nib ^ 8) - 8;
}

/* Element e of stored activations: u8 with zero points, else s8. */
static int32_t a_at(const void *a, int64_t e, int is_unsigned) {
  return is_unsigned ? ((const uint8_t *)a)[e] : ((const int8_t *)a)[e];
}

xo_status xo_zp_matmul(const xo_problem *p, const xo_args *args, int64_t k0,
                       int64_t k1, int a_done, int32_t *acc) {
  const xo_matmul_desc *d = &p->mm;
  int64_t m = d->m, n = d->n, k = d->k;
  int32_t za = p->a_asym ? args->zero_point[0][0] : 0;
  const int32_t *zw = p->b_asym ? args->zero_point[1] : NULL;
  int need_sw = za != 0 && !a_done;
  if (!need_sw && zw == NULL) return XO_OK;
  int packed4 = p->prec == XO_PREC_INT4;
  int per_col = p->b_granularity != XO_Q_TENSOR;
  /* group-wise zero points: [K / group_size, n], this group's row */
  int64_t zoff = p->b_granularity == XO_Q_GROUP ? k0 / p->group_size * n : 0;
  int64_t *sw = NULL, *da = NULL;
  xo_status st = xo_alloc(n, sizeof(int64_t), (void **)&sw);
  if (st == XO_OK) st = xo_alloc(m, sizeof(int64_t), (void **)&da);
  if (st != XO_OK) goto fail;
  for (int64_t j = 0; j < n; j++) sw[j] = 0;
  for (int64_t r = 0; r < m; r++) da[r] = 0;
  for (int64_t b = 0; b < d->batch; b++) {
    if (need_sw && (b == 0 || d->batch_b > 1)) {
      int64_t base = (d->batch_b > 1 ? b : 0) * k * n;
      for (int64_t j = 0; j < n; j++) sw[j] = 0;
      for (int64_t kk = k0; kk < k1; kk++)
        for (int64_t j = 0; j < n; j++)
          sw[j] += w_at(args->in[1], base + kk * n + j, packed4);
    }
    if (zw && (b == 0 || d->batch_a > 1)) {
      int64_t base = (d->batch_a > 1 ? b : 0) * m * k;
      for (int64_t r = 0; r < m; r++) {
        int64_t s = 0;
        for (int64_t kk = k0; kk < k1; kk++)
          s += a_at(args->in[0], base + r * k + kk, p->a_asym) - za;
        da[r] = s;
      }
    }
    int32_t *c = acc + b * m * n;
    for (int64_t r = 0; r < m; r++)
      for (int64_t j = 0; j < n; j++) {
        int64_t v = c[r * n + j];
        if (need_sw) v -= (int64_t)za * sw[j];
        if (zw) v -= (int64_t)zw[zoff + (per_col ? j : 0)] * da[r];
        c[r * n + j] = (int32_t)v; /* exact: the true sum fits s32 */
      }
  }
fail:
  free(sw);
  free(da);
  return st;
}

xo_status xo_zp_conv(const xo_problem *p, const xo_args *args, int a_done,
                     int32_t *acc) {
  const xo_conv_desc *c = &p->conv;
  int32_t za = p->a_asym ? args->zero_point[0][0] : 0;
  const int32_t *zw = p->b_asym ? args->zero_point[1] : NULL;
  int need_sw = za != 0 && !a_done;
  if (!need_sw && zw == NULL) return XO_OK;
  int packed4 = p->prec == XO_PREC_INT4;
  int per_oc = p->b_granularity != XO_Q_TENSOR;
  int64_t cg = c->in_c / c->groups, ocg = c->out_c / c->groups;
  int64_t r = cg * c->kh * c->kw, np = c->out_h * c->out_w;
  int64_t *sw = NULL, *da = NULL;
  xo_status st = xo_alloc(c->out_c, sizeof(int64_t), (void **)&sw);
  if (st == XO_OK) st = xo_alloc(np, sizeof(int64_t), (void **)&da);
  if (st != XO_OK) goto fail;
  for (int64_t oc = 0; oc < c->out_c; oc++) {
    int64_t s = 0;
    if (need_sw)
      for (int64_t e = 0; e < r; e++)
        s += w_at(args->in[1], oc * r + e, packed4);
    sw[oc] = s;
  }
  for (int64_t n = 0; n < c->in_n; n++)
    for (int64_t g = 0; g < c->groups; g++) {
      /* sum over the taps of (x - za), a padded tap counting 0 */
      for (int64_t q = 0; q < np; q++) da[q] = 0;
      if (zw)
        for (int64_t ci = 0; ci < cg; ci++)
          for (int64_t i = 0; i < c->kh; i++)
            for (int64_t j = 0; j < c->kw; j++)
              for (int64_t oh = 0; oh < c->out_h; oh++) {
                int64_t ih =
                    oh * c->stride[0] - c->pad_begin[0] + i * c->dil[0];
                if (ih < 0 || ih >= c->in_h) continue;
                int64_t row =
                    ((n * c->in_c + g * cg + ci) * c->in_h + ih) * c->in_w;
                for (int64_t ow = 0; ow < c->out_w; ow++) {
                  int64_t iw =
                      ow * c->stride[1] - c->pad_begin[1] + j * c->dil[1];
                  if (iw < 0 || iw >= c->in_w) continue;
                  da[oh * c->out_w + ow] +=
                      a_at(args->in[0], row + iw, p->a_asym) - za;
                }
              }
      for (int64_t o = g * ocg; o < (g + 1) * ocg; o++) {
        int32_t *out = acc + (n * c->out_c + o) * np;
        int64_t z = zw ? zw[per_oc ? o : 0] : 0;
        for (int64_t q = 0; q < np; q++) {
          int64_t v = out[q];
          if (need_sw) v -= (int64_t)za * sw[o];
          v -= z * da[q];
          out[q] = (int32_t)v; /* exact: the true sum fits s32 */
        }
      }
    }
fail:
  free(sw);
  free(da);
  return st;
}

void xo_dequant_result(const xo_problem *p, const xo_args *args,
                       const int32_t *acc, float *out) {
  float sa = args->scale[0][0];
  const float *sb = args->scale[1];
  int per_ch = p->b_granularity != XO_Q_TENSOR;
  if (p->op == XO_OP_MATMUL) {
    int64_t mn = p->mm.m * p->mm.n;
    for (int64_t b = 0; b < p->mm.batch; b++)
      xo_dequant_rows(p->mm.m, p->mm.n, acc + b * mn, sa, sb, per_ch, 0,
                      out + b * mn);
    return;
  }
  const xo_conv_desc *c = &p->conv;
  int64_t np = c->out_h * c->out_w;
  for (int64_t n = 0; n < c->in_n; n++)
    for (int64_t oc = 0; oc < c->out_c; oc++) {
      int64_t o = (n * c->out_c + oc) * np;
      float s = sa * sb[per_ch ? oc : 0];
      for (int64_t q = 0; q < np; q++) out[o + q] = (float)acc[o + q] * s;
    }
  if (p->has_bias) xo_add_bias_nchw(p, args->bias, out);
}

void xo_add_bias_cols(const xo_problem *p, const void *bias, void *out) {
  int64_t rows = p->mm.batch * p->mm.m, n = p->mm.n;
  for (int64_t r = 0; r < rows; r++) {
    if (p->out_dtype == XO_DTYPE_F64) {
      double *y = (double *)out + r * n;
      const double *b = bias;
      for (int64_t j = 0; j < n; j++) y[j] += b[j];
    } else {
      float *y = (float *)out + r * n;
      const float *b = bias;
      for (int64_t j = 0; j < n; j++) y[j] += b[j];
    }
  }
}

void xo_requant_s8(const float *y, int64_t n, float scale, int32_t zp,
                   int8_t *out) {
  for (int64_t i = 0; i < n; i++)
    out[i] = (int8_t)xo_rule_requant_s8(y[i], scale, (int)zp);
}
