/* quant.c - scales and quantization, exactly as DESIGN.md section 2 says:
 * x is rounded to float32 first and every step after is float32;
 * symmetric: scale = max|x| / qmax, q = clip(rint(x / scale), -qmax, qmax);
 * asymmetric (u8 / u4): the range [min(x, 0), max(x, 0)] maps onto
 * [0, levels], zero_point = clip(rint(-lo / scale), 0, levels),
 * q = clip(rint(x / scale) + zero_point, 0, levels).
 * An all-zero slice gets scale 1. rint rounds half to even. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct slice_map {
  int64_t inner_axis, dim_axis;   /* XO_Q_AXIS / XO_Q_GROUP */
  int64_t inner_group, dim_group; /* XO_Q_GROUP */
  int64_t group_size, ngroups;
  int axis_first; /* axis < group_axis */
  xo_qgranularity g;
} slice_map;

/* The scale index of the element with row-major index idx. */
static int64_t slice_of(const slice_map *m, int64_t idx) {
  if (m->g == XO_Q_TENSOR) return 0;
  int64_t a = (idx / m->inner_axis) % m->dim_axis;
  if (m->g == XO_Q_AXIS) return a;
  int64_t g = ((idx / m->inner_group) % m->dim_group) / m->group_size;
  return m->axis_first ? a * m->ngroups + g : g * m->dim_axis + a;
}

static int64_t inner_size(const xo_tensor *x, int axis) {
  int64_t s = 1;
  for (int d = axis + 1; d < x->ndim; d++) s *= x->shape[d];
  return s;
}

static xo_status make_map(const xo_tensor *x, const xo_qspec *spec,
                          slice_map *m, int64_t *nscales) {
  int64_t numel;
  xo_status st = xo_tensor_numel(x, &numel);
  if (st != XO_OK) return st;
  if (spec->prec != XO_PREC_INT8 && spec->prec != XO_PREC_INT4)
    return xo_fail(XO_ERR_INVALID_ARG,
                   "quantization precision must be int8 or int4");
  *m = (slice_map){.g = spec->granularity};
  *nscales = 1;
  if (spec->granularity == XO_Q_TENSOR) return XO_OK;
  if (spec->axis < 0 || spec->axis >= x->ndim)
    return xo_fail(XO_ERR_INVALID_ARG,
                   "axis %d is out of range for a %d-d "
                   "tensor",
                   spec->axis, x->ndim);
  m->inner_axis = inner_size(x, spec->axis);
  m->dim_axis = x->shape[spec->axis];
  *nscales = m->dim_axis;
  if (spec->granularity == XO_Q_AXIS) return XO_OK;
  if (spec->granularity != XO_Q_GROUP)
    return xo_fail(XO_ERR_INVALID_ARG, "unknown quantization granularity");
  int ga = spec->group_axis;
  if (ga < 0 || ga >= x->ndim || ga == spec->axis)
    return xo_fail(XO_ERR_INVALID_ARG,
                   "group axis %d must be a different "
                   "axis of the %d-d tensor",
                   ga, x->ndim);
  if (spec->group_size <= 0 || x->shape[ga] % spec->group_size != 0)
    return xo_fail(XO_ERR_INVALID_ARG,
                   "group_size=%lld must be positive and "
                   "divide the grouped dimension %lld",
                   (long long)spec->group_size, (long long)x->shape[ga]);
  m->inner_group = inner_size(x, ga);
  m->dim_group = x->shape[ga];
  m->group_size = spec->group_size;
  m->ngroups = x->shape[ga] / spec->group_size;
  m->axis_first = spec->axis < ga;
  return xo_mul_size(m->dim_axis, m->ngroups, nscales);
}

xo_status xo_quant_nscales(const xo_tensor *x, const xo_qspec *spec,
                           int64_t *nscales) {
  slice_map m;
  if (x == NULL || spec == NULL || nscales == NULL)
    return xo_fail(XO_ERR_INVALID_ARG, "xo_quant_nscales: NULL argument");
  return make_map(x, spec, &m, nscales);
}

typedef struct quant_ctx {
  const slice_map *map;
  xo_dtype dtype;
  float *lo, *hi; /* pass 1: per-slice min and max */
  const float *scale;
  const int32_t *zp;
  int8_t *q; /* pass 2 output */
  int32_t qmin, qmax;
  int pass;
} quant_ctx;

enum { QCHUNK = 256, QL = 16 /* lanes of the vectorized loops */ };

/* Round to nearest, ties to even, for |t| <= 256: adding and subtracting
 * 1.5 * 2^23 leaves an integer in float32's default rounding mode. Exact,
 * branch-free and vectorizable (nearbyintf is a libm call on baseline
 * x86-64). */
static inline float round_small(float t) {
  t = t < -256.0f ? -256.0f : t > 256.0f ? 256.0f : t;
  return (t + 12582912.0f) - 12582912.0f;
}

/* Pass 1 (range) or pass 2 (quantize) of n values sharing slice s0 + j *
 * step for j = 0..n-1 (step 0: one slice). */
XO_CLONES static void quant_run(quant_ctx *c, const float *v, int64_t n,
                                int64_t first, int64_t s0, int64_t step) {
  float qmin = (float)c->qmin, qmax = (float)c->qmax;
  int8_t *q = c->q + first;
  if (step == 0) { /* one slice */
    if (c->pass == 1) {
      /* QL lanes of running min and max, element by element (a scalar
       * reduction with these compares does not vectorize; lanes do), then
       * folded: the same min and max in any order, the values are finite */
      float lo[QL], hi[QL];
      for (int l = 0; l < QL; l++) lo[l] = hi[l] = c->lo[s0];
      for (int l = 0; l < QL; l++) hi[l] = c->hi[s0];
      int64_t i = 0;
      for (; i + QL <= n; i += QL)
        for (int l = 0; l < QL; l++) {
          lo[l] = v[i + l] < lo[l] ? v[i + l] : lo[l];
          hi[l] = v[i + l] > hi[l] ? v[i + l] : hi[l];
        }
      for (; i < n; i++) {
        lo[0] = v[i] < lo[0] ? v[i] : lo[0];
        hi[0] = v[i] > hi[0] ? v[i] : hi[0];
      }
      for (int l = 1; l < QL; l++) {
        lo[0] = lo[l] < lo[0] ? lo[l] : lo[0];
        hi[0] = hi[l] > hi[0] ? hi[l] : hi[0];
      }
      c->lo[s0] = lo[0];
      c->hi[s0] = hi[0];
      return;
    }
    float scale = c->scale[s0], zp = c->zp ? (float)c->zp[s0] : 0.0f;
    int64_t i = 0;
    /* QL at a time through s32 (the float-to-s8 narrowing does not
     * vectorize in one step) */
    for (; i + QL <= n; i += QL) {
      int32_t t[QL];
      for (int l = 0; l < QL; l++) {
        float r = round_small(v[i + l] / scale) + zp;
        r = r < qmin ? qmin : r > qmax ? qmax : r;
        t[l] = (int32_t)r;
      }
      for (int l = 0; l < QL; l++) q[i + l] = (int8_t)t[l];
    }
    for (; i < n; i++) {
      float r = round_small(v[i] / scale) + zp;
      r = r < qmin ? qmin : r > qmax ? qmax : r;
      q[i] = (int8_t)(int32_t)r;
    }
    return;
  }
  if (c->pass == 1) {
    for (int64_t i = 0; i < n; i++) {
      int64_t s = s0 + i * step;
      c->lo[s] = v[i] < c->lo[s] ? v[i] : c->lo[s];
      c->hi[s] = v[i] > c->hi[s] ? v[i] : c->hi[s];
    }
    return;
  }
  /* step 1 (the per-scale axis innermost): QL at a time through s32, as
   * above, with the scales (and zero points) read alongside */
  const float *sc = c->scale + s0;
  const int32_t *zq = c->zp ? c->zp + s0 : NULL;
  int64_t i = 0;
  if (step == 1)
    for (; i + QL <= n; i += QL) {
      int32_t t[QL];
      if (zq) {
        for (int l = 0; l < QL; l++) {
          float r = round_small(v[i + l] / sc[i + l]) + (float)zq[i + l];
          r = r < qmin ? qmin : r > qmax ? qmax : r;
          t[l] = (int32_t)r;
        }
      } else {
        for (int l = 0; l < QL; l++) {
          float r = round_small(v[i + l] / sc[i + l]);
          r = r < qmin ? qmin : r > qmax ? qmax : r;
          t[l] = (int32_t)r;
        }
      }
      for (int l = 0; l < QL; l++) q[i + l] = (int8_t)t[l];
    }
  for (; i < n; i++) {
    int64_t s = s0 + i * step;
    float r = round_small(v[i] / c->scale[s]);
    if (c->zp) r += (float)c->zp[s];
    r = r < qmin ? qmin : r > qmax ? qmax : r;
    q[i] = (int8_t)(int32_t)r; /* u8 values keep their bits */
  }
}

static void quant_values(quant_ctx *c, const float *v, int64_t n,
                         int64_t first) {
  const slice_map *m = c->map;
  if (m->g == XO_Q_GROUP && m->inner_group == 1) {
    /* groups run along the innermost axis: constant over runs of a group */
    for (int64_t i = 0; i < n;) {
      int64_t in_group = m->group_size - (first + i) % m->group_size;
      int64_t len = n - i < in_group ? n - i : in_group;
      quant_run(c, v + i, len, first + i, slice_of(m, first + i), 0);
      i += len;
    }
    return;
  }
  if (m->g == XO_Q_TENSOR || m->inner_axis != 1) {
    quant_run(c, v, n, first, slice_of(m, first), 0); /* one slice per row */
    return;
  }
  /* the per-scale axis is innermost: the slice steps with the element,
   * wrapping every dim_axis elements */
  for (int64_t i = 0; i < n;) {
    int64_t a = (first + i) % m->dim_axis;
    int64_t len = n - i < m->dim_axis - a ? n - i : m->dim_axis - a;
    quant_run(c, v + i, len, first + i, slice_of(m, first + i), 1);
    i += len;
  }
}

/* Index of the first NaN or Inf among n floats, or -1: an integer test of
 * the exponent bits, OR-reduced so that it vectorizes. */
XO_CLONES static int64_t first_non_finite(const float *v, int64_t n) {
  uint32_t any = 0;
  for (int64_t i = 0; i < n; i++) {
    uint32_t b;
    memcpy(&b, &v[i], 4);
    any |= (b & 0x7F800000u) == 0x7F800000u;
  }
  if (!any) return -1;
  for (int64_t i = 0; i < n; i++)
    if (!isfinite(v[i])) return i;
  return -1;
}

static xo_status quant_row(const char *src, int64_t stride, int64_t n,
                           int64_t first, void *vctx) {
  quant_ctx *c = vctx;
  float buf[QCHUNK];
  double tmp[QCHUNK];
  for (int64_t i0 = 0; i0 < n; i0 += QCHUNK) {
    int64_t len = n - i0 < QCHUNK ? n - i0 : QCHUNK;
    const char *p = src + i0 * stride;
    const float *v = buf;
    if (c->dtype == XO_DTYPE_F32 && stride == 4) {
      v = (const float *)(const void *)p; /* contiguous: read in place */
    } else if (c->dtype == XO_DTYPE_F32) {
      for (int64_t i = 0; i < len; i++) memcpy(&buf[i], p + i * stride, 4);
    } else {
      xo_load_f64(c->dtype, p, stride, len, tmp);
      for (int64_t i = 0; i < len; i++) buf[i] = (float)tmp[i];
    }
    int64_t bad = c->pass == 1 ? first_non_finite(v, len) : -1;
    if (bad >= 0)
      return xo_fail(XO_ERR_INVALID_ARG,
                     "cannot quantize: element %lld is %s; quantization "
                     "needs a finite range (replace NaN/Inf first, e.g. "
                     "with numpy.nan_to_num)",
                     (long long)(first + i0 + bad),
                     isnan(v[bad]) ? "NaN" : "Inf");
    quant_values(c, v, len, first + i0);
  }
  return XO_OK;
}

/* Scale of a slice from its range; never 0 for a nonzero range. */
static float scale_of(float range, float levels) {
  if (range == 0.0f) return 1.0f;
  float s = range / levels;
  return s > 0.0f ? s : FLT_TRUE_MIN; /* range/levels underflowed */
}

xo_status xo_quantize(const xo_tensor *x, const xo_qspec *spec, int8_t *q,
                      float *scale, int32_t *zero_point) {
  slice_map map;
  int64_t ns;
  float *lo = NULL, *hi = NULL;
  xo_status st;
  if (x == NULL || spec == NULL || scale == NULL ||
      (!spec->symmetric && zero_point == NULL))
    return xo_fail(XO_ERR_INVALID_ARG, "xo_quantize: NULL argument");
  st = make_map(x, spec, &map, &ns);
  if (st != XO_OK) goto fail;
  st = xo_alloc(ns, sizeof(float), (void **)&lo);
  if (st != XO_OK) goto fail;
  st = xo_alloc(ns, sizeof(float), (void **)&hi);
  if (st != XO_OK) goto fail;
  for (int64_t s = 0; s < ns; s++) lo[s] = hi[s] = 0.0f;

  int32_t qmax = xo_qmax(spec->prec);
  quant_ctx c = {
      .map = &map, .dtype = x->dtype, .lo = lo, .hi = hi, .q = q, .pass = 1};
  st = xo_foreach_row(x, quant_row, &c);
  if (st != XO_OK) goto fail;

  if (spec->symmetric) {
    for (int64_t s = 0; s < ns; s++) {
      float amax = fmaxf(fabsf(lo[s]), fabsf(hi[s]));
      scale[s] = scale_of(amax, (float)qmax);
    }
    c.qmin = -qmax;
    c.qmax = qmax;
  } else {
    int32_t levels = 2 * qmax + 1; /* 255 for u8, 15 for u4 */
    for (int64_t s = 0; s < ns; s++) {
      /* lo <= 0 <= hi: the range always holds zero, so zero is exact */
      scale[s] = scale_of(hi[s] - lo[s], (float)levels);
      float z = nearbyintf(-lo[s] / scale[s]);
      zero_point[s] = z < 0 ? 0 : z > levels ? levels : (int32_t)z;
    }
    c.qmin = 0;
    c.qmax = levels;
    c.zp = zero_point;
  }
  c.scale = scale;
  c.pass = 2;
  if (q != NULL) st = xo_foreach_row(x, quant_row, &c);
fail:
  free(lo);
  free(hi);
  return st;
}

xo_status xo_quantize_given(const xo_tensor *x, const xo_qspec *spec,
                            const float *scale, const int32_t *zero_point,
                            int32_t lo, int32_t hi, int8_t *q) {
  slice_map map;
  int64_t ns;
  float *rlo = NULL, *rhi = NULL;
  if (x == NULL || spec == NULL || scale == NULL || q == NULL)
    return xo_fail(XO_ERR_INVALID_ARG, "xo_quantize_given: NULL argument");
  if (lo < -128 || hi > 255 || lo > hi)
    return xo_fail(XO_ERR_INVALID_ARG,
                   "xo_quantize_given: range [%d, %d] is not int8's or "
                   "uint8's",
                   lo, hi);
  xo_status st = make_map(x, spec, &map, &ns);
  if (st != XO_OK) return st;
  for (int64_t s = 0; s < ns; s++) {
    if (!(isfinite(scale[s]) && scale[s] > 0))
      return xo_fail(XO_ERR_INVALID_ARG,
                     "scale[%lld] = %g must be finite and positive",
                     (long long)s, (double)scale[s]);
    if (zero_point && (zero_point[s] < lo || zero_point[s] > hi))
      return xo_fail(XO_ERR_INVALID_ARG,
                     "zero_point[%lld] = %d is outside [%d, %d], the range "
                     "of the quantized values",
                     (long long)s, (int)zero_point[s], (int)lo, (int)hi);
  }
  /* pass 1 only refuses NaN and Inf (its ranges are not used) */
  st = xo_alloc(ns, sizeof(float), (void **)&rlo);
  if (st == XO_OK) st = xo_alloc(ns, sizeof(float), (void **)&rhi);
  if (st != XO_OK) goto fail;
  for (int64_t s = 0; s < ns; s++) rlo[s] = rhi[s] = 0.0f;
  quant_ctx c = {.map = &map,
                 .dtype = x->dtype,
                 .lo = rlo,
                 .hi = rhi,
                 .scale = scale,
                 .zp = zero_point,
                 .q = q,
                 .qmin = lo,
                 .qmax = hi,
                 .pass = 1};
  st = xo_foreach_row(x, quant_row, &c);
  c.pass = 2;
  if (st == XO_OK) st = xo_foreach_row(x, quant_row, &c);
fail:
  free(rlo);
  free(rhi);
  return st;
}

/* out[i, j] (+)= float(acc[i, j]) * (sa * sb[j]); the scale product is
 * formed in f32 first, as DESIGN.md s2 writes it. */
void xo_dequant_rows(int64_t m, int64_t n, const int32_t *acc, float sa,
                     const float *sb, int per_col, int add, float *out) {
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      float v = (float)acc[i * n + j] * (sa * sb[per_col ? j : 0]);
      out[i * n + j] = add ? out[i * n + j] + v : v;
    }
}
