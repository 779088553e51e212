/* openblas.c - float GEMM, im2col conv and GEMM attention through OpenBLAS.
 *
 * The library comes from PyPI's scipy-openblas32 (symbols prefixed
 * "scipy_"), found by the Python layer and dlopen'ed here (core/dl.c), so
 * that importing xpuops never depends on it; without that path, the
 * system's libopenblas.so.0. Integer and narrow float precisions are not
 * OpenBLAS's business: the device does not list them and the core names
 * the devices that do.
 */
#include "openblas.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

xo_sgemm_fn xo_openblas_sgemm;
xo_sgemv_fn xo_openblas_sgemv;
xo_dgemv_fn xo_openblas_dgemv;
xo_dgemm_fn xo_openblas_dgemm;
static void (*set_threads)(int);
static char *(*get_config)(void);
static char *(*get_corename)(void);
static void *handle;

static xo_status blas_init(void) {
  static const xo_dl_lib lib = {
      .what = "OpenBLAS",
      .backend = "openblas",
      .env = "XPUOPS_OPENBLAS_LIB",
      .wheel = {"scipy_openblas32/lib/libscipy_openblas.so"},
      .sonames = {"libopenblas.so.0"},
      .prefix = "scipy_", /* scipy-openblas32 prefixes its symbols */
      .hint = "install it with `pip install scipy-openblas32`",
  };
  const xo_dl_sym syms[] = {
      {"cblas_sgemm", (void **)&xo_openblas_sgemm, 0},
      {"cblas_dgemm", (void **)&xo_openblas_dgemm, 0},
      {"cblas_sgemv", (void **)&xo_openblas_sgemv, 0},
      {"cblas_dgemv", (void **)&xo_openblas_dgemv, 0},
      {"openblas_set_num_threads", (void **)&set_threads, 0},
      {"openblas_get_config", (void **)&get_config, 1},
      {"openblas_get_corename", (void **)&get_corename, 1},
  };
  xo_status st = xo_dl_open(&lib, syms, sizeof syms / sizeof syms[0], &handle);
  if (st == XO_OK) set_threads(xo_get_num_threads());
  return st;
}

static int blas_device_count(void) {
  return 1;
}

static xo_status blas_describe(int index, xo_device_desc *d) {
  (void)index;
  snprintf(d->name, sizeof d->name, "openblas");
  snprintf(d->kind, sizeof d->kind, "cpu");
  /* the core type tells which kernels run: a CPU OpenBLAS does not know
   * falls back to generic kernels several times slower. Some hosts force
   * an older core with OPENBLAS_CORETYPE (buggy kernels on their CPUs): the
   * figures are then that core's, and the name says so */
  const char *forced = getenv("OPENBLAS_CORETYPE");
  snprintf(d->full_name, sizeof d->full_name, "%s, core %s%s%s%s",
           get_config ? get_config() : "OpenBLAS",
           get_corename ? get_corename() : "unknown",
           forced && *forced ? " (forced by OPENBLAS_CORETYPE=" : "",
           forced && *forced ? forced : "", forced && *forced ? ")" : "");
  d->follows_threads = 1;
  snprintf(d->threads, sizeof d->threads,
           "follows set_num_threads (openblas_set_num_threads, "
           "process-wide)");
  /* fp64 and fp32 only: this build exports no sbgemm */
  d->precisions[XO_PREC_FP64] = XO_SUPPORT_NATIVE;
  d->precisions[XO_PREC_FP32] = XO_SUPPORT_NATIVE;
  xo_cpu_peaks_fill(d);
  return XO_OK;
}

/* CBLAS takes 32-bit dimensions: each of an op's n GEMM dimensions must
 * fit. */
static xo_status gemm_dims_fit(int n, const int64_t *dims) {
  for (int i = 0; i < n; i++)
    if (dims[i] > INT32_MAX)
      return xo_fail(XO_ERR_UNSUPPORTED,
                     "openblas: a GEMM dimension of %lld exceeds 2^31 - 1",
                     (long long)dims[i]);
  return XO_OK;
}

static xo_status blas_supports_matmul(int index, const xo_problem *p) {
  (void)index;
  int64_t dims[] = {p->mm.m, p->mm.n, p->mm.k};
  return gemm_dims_fit(3, dims);
}

static xo_status blas_supports_conv(int index, const xo_problem *p) {
  (void)index;
  const xo_conv_desc *c = &p->conv;
  int64_t dims[] = {c->out_c, c->out_h * c->out_w, c->in_c * c->kh * c->kw};
  return gemm_dims_fit(3, dims);
}

static xo_status blas_supports_attention(int index, const xo_problem *p) {
  (void)index;
  int64_t dims[] = {p->attn.lq * p->attn.lk};
  return gemm_dims_fit(1, dims);
}

/* conv2d: the im2col gather map, unless the conv is pointwise (1x1, stride
 * 1, unpadded: the input already is the GEMM operand) */
static xo_status blas_plan_conv(void *plan) {
  xo_im2col_plan *pl = plan;
  const xo_conv_desc *c = &pl->h.p.conv;
  int pointwise = c->kh == 1 && c->kw == 1 && c->stride[0] == 1 &&
                  c->stride[1] == 1 && c->pad_begin[0] == 0 &&
                  c->pad_begin[1] == 0 && c->pad_end[0] == 0 &&
                  c->pad_end[1] == 0;
  if (!pointwise) return xo_im2col_plan_make(plan);
  pl->h.how = " (pointwise)";
  pl->rows = c->in_c / c->groups;
  pl->cols = c->out_h * c->out_w;
  return XO_OK;
}

void blas_gemm_f32(int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                   int64_t lda, const float *b, int64_t ldb, int trans_b,
                   float *c, int64_t ldc) {
  xo_openblas_sgemm(XO_CBLAS_ROW_MAJOR, XO_CBLAS_NO_TRANS,
                    trans_b ? XO_CBLAS_TRANS : XO_CBLAS_NO_TRANS, (int)m,
                    (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, 0.0f, c,
                    (int)ldc);
}

void blas_gemm_f64(int64_t m, int64_t n, int64_t k, double alpha,
                   const double *a, int64_t lda, const double *b, int64_t ldb,
                   int trans_b, double *c, int64_t ldc) {
  xo_openblas_dgemm(XO_CBLAS_ROW_MAJOR, XO_CBLAS_NO_TRANS,
                    trans_b ? XO_CBLAS_TRANS : XO_CBLAS_NO_TRANS, (int)m,
                    (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, 0.0, c,
                    (int)ldc);
}

/* One GEMM per batch, or a single one when b is shared by every batch (the
 * batch then folds into M). */
static xo_status blas_matmul(void *plan, const xo_args *args,
                             xo_run_stats *stats) {
  const xo_problem *pp = &((const xo_plan_head *)plan)->p;
  const xo_matmul_desc *p = &pp->mm;
  int dbl = pp->prec == XO_PREC_FP64;
  size_t es = dbl ? 8 : 4;
  int64_t m = p->m, n = p->n, k = p->k;
  int fold = p->batch_b == 1 && p->batch_a == p->batch;
  int64_t reps = fold ? 1 : p->batch, rows = fold ? p->batch * m : m;
  (void)stats; /* the core's wall clock is the kernel time */
  for (int64_t i = 0; i < reps; i++) {
    const char *a = (const char *)args->in[0] +
                    (size_t)((p->batch_a > 1 ? i : 0) * m * k) * es;
    const char *b = (const char *)args->in[1] +
                    (size_t)((p->batch_b > 1 ? i : 0) * k * n) * es;
    char *c = (char *)args->out + (size_t)(i * m * n) * es;
    if (rows == 1 && dbl) /* one row: a matrix-vector product, c = bᵀ a */
      xo_openblas_dgemv(XO_CBLAS_ROW_MAJOR, XO_CBLAS_TRANS, (int)k, (int)n, 1.0,
                        (const double *)b, (int)n, (const double *)a, 1, 0.0,
                        (double *)c, 1);
    else if (rows == 1)
      xo_openblas_sgemv(XO_CBLAS_ROW_MAJOR, XO_CBLAS_TRANS, (int)k, (int)n,
                        1.0f, (const float *)b, (int)n, (const float *)a, 1,
                        0.0f, (float *)c, 1);
    else if (dbl)
      blas_gemm_f64(rows, n, k, 1.0, (const double *)a, k, (const double *)b, n,
                    0, (double *)c, n);
    else
      blas_gemm_f32(rows, n, k, 1.0f, (const float *)a, k, (const float *)b, n,
                    0, (float *)c, n);
  }
  return XO_OK;
}

static xo_status blas_conv2d(void *vplan, const xo_args *args,
                             xo_run_stats *stats) {
  const xo_im2col_plan *plan = vplan;
  const xo_conv_desc *p = &plan->h.p.conv;
  int dbl = plan->h.p.prec == XO_PREC_FP64;
  size_t es = dbl ? 8 : 4;
  int64_t cg = p->in_c / p->groups, ocg = p->out_c / p->groups;
  int64_t r = plan->rows, cols = plan->cols, hw = p->in_h * p->in_w;
  void *col = NULL;
  (void)stats; /* the core's wall clock is the kernel time */
  if (plan->map) {
    xo_status st = xo_alloc(r * cols, es, &col);
    if (st != XO_OK) return st;
  }
  for (int64_t n = 0; n < p->in_n; n++)
    for (int64_t g = 0; g < p->groups; g++) {
      const char *x = (const char *)args->in[0] +
                      (size_t)((n * p->in_c + g * cg) * hw) * es;
      const void *b = x; /* a pointwise conv reads the input as it is */
      if (plan->map) {
        xo_im2col_gather(x, es, plan->map, r * cols, col);
        b = col;
      }
      const char *w = (const char *)args->in[1] + (size_t)(g * ocg * r) * es;
      char *o =
          (char *)args->out + (size_t)((n * p->out_c + g * ocg) * cols) * es;
      if (dbl)
        blas_gemm_f64(ocg, cols, r, 1.0, (const double *)w, r, b, cols, 0,
                      (double *)o, cols);
      else
        blas_gemm_f32(ocg, cols, r, 1.0f, (const float *)w, r, b, cols, 0,
                      (float *)o, cols);
    }
  free(col);
  if (plan->h.p.has_bias) xo_add_bias_nchw(&plan->h.p, args->bias, args->out);
  return XO_OK;
}

static void blas_plan_describe(const void *plan, char *impl, size_t n) {
  const xo_plan_head *h = plan;
  snprintf(impl, n, "openblas:%s_%s (cblas_%s%s, %s core)", xo_op_name(h->p.op),
           xo_precision_name((xo_precision)h->p.prec),
           h->p.prec == XO_PREC_FP64 ? "dgemm" : "sgemm", h->how,
           get_corename ? get_corename() : "unknown");
}

static void blas_set_num_threads(int n) {
  if (set_threads) set_threads(n);
}

const xo_backend xo_backend_openblas = {
    .name = "openblas",
    .init = blas_init,
    .device_count = blas_device_count,
    .describe = blas_describe,
    .ops[XO_OP_MATMUL] = {.supports = blas_supports_matmul,
                          .run = blas_matmul,
                          .how = ""},
    .ops[XO_OP_CONV2D] = {.supports = blas_supports_conv,
                          .plan = blas_plan_conv,
                          .run = blas_conv2d,
                          .how = " on im2col"},
    .ops[XO_OP_ATTENTION] = {.supports = blas_supports_attention,
                             .run = blas_attention,
                             .how = " + softmax"},
    .plan_size = sizeof(xo_im2col_plan),
    .plan_release = xo_im2col_plan_release,
    .plan_describe = blas_plan_describe,
    .set_num_threads = blas_set_num_threads,
};
