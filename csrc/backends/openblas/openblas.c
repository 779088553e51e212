/* openblas.c - float GEMM, im2col conv and GEMM attention through OpenBLAS.
 *
 * The library comes from PyPI's scipy-openblas32 (symbols prefixed
 * "scipy_"), found by the Python layer and dlopen'ed here, so that importing
 * xpuops never depends on it; a system libopenblas.so.0 is the fallback.
 * Integer and narrow float precisions are not OpenBLAS's business: the
 * device does not list them and the Python layer names the devices that do.
 */
#include "openblas.h"

#include <dlfcn.h>
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

/* dlsym with the scipy_ prefix first, then the plain name. */
static void *sym(const char *name) {
  char buf[96];
  snprintf(buf, sizeof buf, "scipy_%s", name);
  void *f = dlsym(handle, buf);
  return f ? f : dlsym(handle, name);
}

static xo_status blas_init(void) {
  const char *path = xo_library_path("openblas");
  handle = dlopen(path ? path : "libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
  if (handle == NULL)
    return xo_fail(XO_ERR_UNAVAILABLE,
                   "cannot load OpenBLAS (%s); install it with "
                   "`pip install scipy-openblas32`",
                   dlerror());
  xo_openblas_sgemm = (xo_sgemm_fn)sym("cblas_sgemm");
  xo_openblas_dgemm = (xo_dgemm_fn)sym("cblas_dgemm");
  xo_openblas_sgemv = (xo_sgemv_fn)sym("cblas_sgemv");
  xo_openblas_dgemv = (xo_dgemv_fn)sym("cblas_dgemv");
  set_threads = (void (*)(int))sym("openblas_set_num_threads");
  get_config = (char *(*)(void))sym("openblas_get_config");
  get_corename = (char *(*)(void))sym("openblas_get_corename");
  if (!xo_openblas_sgemm || !xo_openblas_dgemm || !xo_openblas_sgemv ||
      !xo_openblas_dgemv || !set_threads) {
    dlclose(handle);
    handle = NULL;
    return xo_fail(XO_ERR_UNAVAILABLE,
                   "the OpenBLAS library at %s lacks cblas_sgemm, "
                   "cblas_dgemm or openblas_set_num_threads",
                   path ? path : "libopenblas.so.0");
  }
  set_threads(xo_get_num_threads());
  return XO_OK;
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
  d->precisions[XO_PREC_FP64] = XO_SUPPORT_NATIVE;
  d->precisions[XO_PREC_FP32] = XO_SUPPORT_NATIVE;
  return XO_OK;
}

static xo_status blas_supports(int index, const xo_problem *p) {
  (void)index;
  if (p->prec != XO_PREC_FP32 && p->prec != XO_PREC_FP64)
    return xo_fail(XO_ERR_UNSUPPORTED,
                   "openblas runs fp32 and fp64 only (%s is not a BLAS "
                   "precision); use onednn or ref",
                   xo_precision_name((xo_precision)p->prec));
  /* CBLAS takes 32-bit dimensions */
  int64_t dims[] = {p->m,
                    p->n,
                    p->k,
                    p->lq * p->lk,
                    p->out_c,
                    p->out_h * p->out_w,
                    p->in_c * p->kh * p->kw};
  for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
    if (dims[i] > INT32_MAX)
      return xo_fail(XO_ERR_UNSUPPORTED,
                     "openblas: a GEMM dimension of %lld exceeds 2^31 - 1",
                     (long long)dims[i]);
  return XO_OK;
}

static void blas_plan_free(void *vplan) {
  blas_plan *plan = vplan;
  if (plan == NULL) return;
  free(plan->im2col);
  free(plan);
}

static xo_status blas_plan_create(int index, const xo_problem *p, void **out) {
  (void)index;
  blas_plan *plan = calloc(1, sizeof *plan);
  if (plan == NULL) return xo_fail(XO_ERR_NO_MEMORY, "openblas: no memory");
  plan->p = *p;
  int pointwise = p->kh == 1 && p->kw == 1 && p->stride[0] == 1 &&
                  p->stride[1] == 1 && p->pad_begin[0] == 0 &&
                  p->pad_begin[1] == 0 && p->pad_end[0] == 0 &&
                  p->pad_end[1] == 0;
  if (p->op == XO_OP_CONV2D && !pointwise) {
    xo_status st = xo_im2col_map(p, &plan->im2col, &plan->rows, &plan->cols);
    if (st != XO_OK) {
      blas_plan_free(plan);
      return st;
    }
  }
  plan->rows = p->in_c / (p->groups ? p->groups : 1) * p->kh * p->kw;
  plan->cols = p->out_h * p->out_w;
  *out = plan;
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
static xo_status blas_matmul(const xo_problem *p, const xo_args *args) {
  int dbl = p->prec == XO_PREC_FP64;
  size_t es = dbl ? 8 : 4;
  int64_t m = p->m, n = p->n, k = p->k;
  int fold = p->batch_b == 1 && p->batch_a == p->batch;
  int64_t reps = fold ? 1 : p->batch, rows = fold ? p->batch * m : m;
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

static xo_status blas_conv2d(const blas_plan *plan, const xo_args *args) {
  const xo_problem *p = &plan->p;
  int dbl = p->prec == XO_PREC_FP64;
  size_t es = dbl ? 8 : 4;
  int64_t cg = p->in_c / p->groups, ocg = p->out_c / p->groups;
  int64_t r = plan->rows, cols = plan->cols, hw = p->in_h * p->in_w;
  void *col = NULL;
  if (plan->im2col) {
    xo_status st = xo_alloc(r * cols, es, &col);
    if (st != XO_OK) return st;
  }
  for (int64_t n = 0; n < p->in_n; n++)
    for (int64_t g = 0; g < p->groups; g++) {
      const char *x = (const char *)args->in[0] +
                      (size_t)((n * p->in_c + g * cg) * hw) * es;
      const void *b = x; /* a pointwise conv reads the input as it is */
      if (plan->im2col) {
        xo_im2col_gather(x, es, plan->im2col, r * cols, col);
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
  if (p->has_bias)
    for (int64_t n = 0; n < p->in_n; n++)
      for (int64_t c = 0; c < p->out_c; c++) {
        int64_t o = (n * p->out_c + c) * cols;
        if (dbl) {
          double *out = (double *)args->out + o;
          double b = ((const double *)args->bias)[c];
          for (int64_t e = 0; e < cols; e++) out[e] += b;
        } else {
          float *out = (float *)args->out + o;
          float b = ((const float *)args->bias)[c];
          for (int64_t e = 0; e < cols; e++) out[e] += b;
        }
      }
  return XO_OK;
}

static xo_status blas_run(void *vplan, const xo_args *args,
                          xo_run_stats *stats) {
  const blas_plan *plan = vplan;
  stats->kernel_s = 0;
  switch (plan->p.op) {
    case XO_OP_MATMUL: return blas_matmul(&plan->p, args);
    case XO_OP_CONV2D: return blas_conv2d(plan, args);
    case XO_OP_ATTENTION: return blas_attention(plan, args);
    default: return xo_fail(XO_ERR_UNSUPPORTED, "openblas: unknown op");
  }
}

static void blas_plan_describe(const void *vplan, char *impl, size_t n) {
  const blas_plan *plan = vplan;
  const char *prec = xo_precision_name((xo_precision)plan->p.prec);
  const char *gemm = plan->p.prec == XO_PREC_FP64 ? "dgemm" : "sgemm";
  const char *how = plan->p.op == XO_OP_MATMUL      ? ""
                    : plan->p.op == XO_OP_ATTENTION ? " + softmax"
                    : plan->im2col                  ? " on im2col"
                                                    : " (pointwise)";
  snprintf(impl, n, "openblas:%s_%s (cblas_%s%s, %s core)",
           plan->p.op == XO_OP_MATMUL   ? "matmul"
           : plan->p.op == XO_OP_CONV2D ? "conv2d"
                                        : "attention",
           prec, gemm, how, get_corename ? get_corename() : "unknown");
}

static void blas_set_num_threads(int n) {
  if (set_threads) set_threads(n);
}

const xo_backend xo_backend_openblas = {
    .name = "openblas",
    .init = blas_init,
    .device_count = blas_device_count,
    .describe = blas_describe,
    .supports = blas_supports,
    .plan = blas_plan_create,
    .run = blas_run,
    .plan_free = blas_plan_free,
    .plan_describe = blas_plan_describe,
    .set_num_threads = blas_set_num_threads,
};
