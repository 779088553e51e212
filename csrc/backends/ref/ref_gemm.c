/* ref_gemm.c - the reference GEMM kernels, blocked for cache reuse.
 *
 * Loop order i-block, k-block, j-block, then i, k, j: each C[i, j] is
 * accumulated over k strictly in increasing order, the same order whatever
 * the block sizes, so results are reproducible and easy to twin in NumPy.
 * The innermost j loop is contiguous and vectorizes. */
#include <string.h>

#include "ref.h"

enum { MB = 32, KB = 128, NB = 512 };

/* One body, three element types; the function names stay greppable. */
#define REF_GEMM_BODY(TA, TC)                                           \
  memset(c, 0, (size_t)(m * n) * sizeof(TC));                           \
  for (int64_t i0 = 0; i0 < m; i0 += MB)                                \
    for (int64_t k0 = 0; k0 < k; k0 += KB)                              \
      for (int64_t j0 = 0; j0 < n; j0 += NB) {                          \
        int64_t i1 = i0 + MB < m ? i0 + MB : m;                         \
        int64_t k1 = k0 + KB < k ? k0 + KB : k;                         \
        int64_t j1 = j0 + NB < n ? j0 + NB : n;                         \
        for (int64_t i = i0; i < i1; i++) {                             \
          TC *restrict ci = c + i * n;                                  \
          for (int64_t kk = k0; kk < k1; kk++) {                        \
            TC aik = (TC)a[i * k + kk];                                 \
            const TA *restrict bk = b + kk * n;                         \
            for (int64_t j = j0; j < j1; j++) ci[j] += aik * (TC)bk[j]; \
          }                                                             \
        }                                                               \
      }

XO_CLONES void ref_gemm_f64(int64_t m, int64_t n, int64_t k, const double *a,
                            const double *b,
                            double *c){REF_GEMM_BODY(double, double)}

XO_CLONES
    void ref_gemm_f32(int64_t m, int64_t n, int64_t k, const float *a,
                      const float *b, float *c){REF_GEMM_BODY(float, float)}

XO_CLONES void ref_gemm_s16s32(int64_t m, int64_t n, int64_t k,
                               const int16_t *a, const int16_t *b, int32_t *c) {
  REF_GEMM_BODY(int16_t, int32_t)
}

void ref_widen(const ref_ints *s, int64_t first, int64_t n, int16_t *dst) {
  const uint8_t *u = s->data;
  const int8_t *i8 = s->data;
  for (int64_t e = first; e < first + n; e++) {
    int v;
    if (s->packed4) {
      int nib = (u[e / 2] >> ((e & 1) * 4)) & 0x0F;
      v = s->is_unsigned ? nib : (nib ^ 8) - 8;
    } else {
      v = s->is_unsigned ? (int)u[e] : (int)i8[e];
    }
    if (s->zp) {
      int64_t row = (e / s->div) % s->mod;
      v -= s->zp[s->group ? row / s->group * s->div + e % s->div : row];
    }
    *dst++ = (int16_t)v;
  }
}

ref_ints ref_operand(const xo_problem *p, const xo_args *args, int i) {
  ref_ints r = {.data = args->in[i],
                .zp = args->zero_point[i],
                .packed4 = i == 1 && p->prec == XO_PREC_INT4, /* W4A8 */
                /* weights with zero points are stored signed, activations
                 * unsigned (ops/prepare.c) */
                .is_unsigned = i == 0 && p->a_asym,
                .div = 1,
                .mod = 1};
  return r;
}
