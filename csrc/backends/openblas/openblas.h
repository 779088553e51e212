/* openblas.h - private to the OpenBLAS backend. */
#ifndef XO_OPENBLAS_H
#define XO_OPENBLAS_H

#include "../../core/semantics.h"

/* The standard CBLAS ABI (LP64: 32-bit integers), declared here so the
 * build never needs OpenBLAS's headers; the library is dlopen'ed. */
enum {
  XO_CBLAS_ROW_MAJOR = 101,
  XO_CBLAS_NO_TRANS = 111,
  XO_CBLAS_TRANS = 112
};
typedef void (*xo_sgemm_fn)(int order, int ta, int tb, int m, int n, int k,
                            float alpha, const float *a, int lda,
                            const float *b, int ldb, float beta, float *c,
                            int ldc);
typedef void (*xo_dgemm_fn)(int order, int ta, int tb, int m, int n, int k,
                            double alpha, const double *a, int lda,
                            const double *b, int ldb, double beta, double *c,
                            int ldc);

typedef void (*xo_sgemv_fn)(int order, int trans, int m, int n, float alpha,
                            const float *a, int lda, const float *x, int incx,
                            float beta, float *y, int incy);
typedef void (*xo_dgemv_fn)(int order, int trans, int m, int n, double alpha,
                            const double *a, int lda, const double *x, int incx,
                            double beta, double *y, int incy);

extern xo_sgemm_fn xo_openblas_sgemm;
extern xo_sgemv_fn xo_openblas_sgemv;
extern xo_dgemv_fn xo_openblas_dgemv;
extern xo_dgemm_fn xo_openblas_dgemm;

/* Row-major C [m, n] = alpha * A [m, k] @ op(B) (+ beta C); B is [k, n], or
 * [n, k] when trans_b. Leading dimensions are the row lengths. */
void blas_gemm_f32(int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                   int64_t lda, const float *b, int64_t ldb, int trans_b,
                   float *c, int64_t ldc);
void blas_gemm_f64(int64_t m, int64_t n, int64_t k, double alpha,
                   const double *a, int64_t lda, const double *b, int64_t ldb,
                   int trans_b, double *c, int64_t ldc);

/* attention's run (xo_op_impl.run): the plan is its xo_plan_head */
xo_status blas_attention(void *plan, const xo_args *args, xo_run_stats *stats);

#endif /* XO_OPENBLAS_H */
