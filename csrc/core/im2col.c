/* im2col.c - the gather map that turns a convolution into a GEMM, built once
 * per plan by the backends that convolve through GEMM (ref, openblas,
 * npusim). */
#include <stdlib.h>

#include "internal.h"

xo_status xo_im2col_map(const xo_conv_desc *p, int64_t **map, int64_t *rows,
                        int64_t *cols) {
  int64_t cg = p->in_c / p->groups, r, c, total;
  *map = NULL;
  xo_status st = xo_mul_size(cg, p->kh * p->kw, &r);
  if (st == XO_OK) st = xo_mul_size(p->out_h, p->out_w, &c);
  if (st == XO_OK) st = xo_mul_size(r, c, &total);
  if (st == XO_OK) st = xo_alloc(total, sizeof(int64_t), (void **)map);
  if (st != XO_OK) return st;
  *rows = r;
  *cols = c;
  int64_t *idx = *map;
  for (int64_t ch = 0; ch < cg; ch++)
    for (int64_t i = 0; i < p->kh; i++)
      for (int64_t j = 0; j < p->kw; j++)
        for (int64_t oh = 0; oh < p->out_h; oh++)
          for (int64_t ow = 0; ow < p->out_w; ow++) {
            int64_t ih = oh * p->stride[0] - p->pad_begin[0] + i * p->dil[0];
            int64_t iw = ow * p->stride[1] - p->pad_begin[1] + j * p->dil[1];
            int inside = ih >= 0 && ih < p->in_h && iw >= 0 && iw < p->in_w;
            *idx++ = inside ? (ch * p->in_h + ih) * p->in_w + iw : -1;
          }
  return XO_OK;
}

/* col[e] = src[idx[e]], 0 for padding (after zero-point subtraction, 0 is
 * the real zero for integers too). */
void xo_im2col_gather(const void *src, size_t es, const int64_t *idx, int64_t n,
                      void *col) {
  if (es == 8) {
    const double *s = src;
    double *d = col;
    for (int64_t e = 0; e < n; e++) d[e] = idx[e] < 0 ? 0.0 : s[idx[e]];
  } else if (es == 4) {
    const float *s = src;
    float *d = col;
    for (int64_t e = 0; e < n; e++) d[e] = idx[e] < 0 ? 0.0f : s[idx[e]];
  } else {
    const int16_t *s = src;
    int16_t *d = col;
    for (int64_t e = 0; e < n; e++) d[e] = idx[e] < 0 ? 0 : s[idx[e]];
  }
}

xo_status xo_im2col_plan_make(void *plan) {
  xo_im2col_plan *pl = plan;
  return xo_im2col_map(&pl->h.p.conv, &pl->map, &pl->rows, &pl->cols);
}

void xo_im2col_plan_release(void *plan) {
  xo_im2col_plan *pl = plan;
  free(pl->map);
  pl->map = NULL;
}
