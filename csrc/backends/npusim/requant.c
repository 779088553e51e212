/* requant.c - TFLite/gemmlowp fixed-point requantization, bit-exact to the
 * published reference (gemmlowp fixedpoint.h; TFLite quantization_util). */
#include <math.h>

#include "../../core/internal.h"

xo_status xo_quantize_multiplier(double real, int32_t *multiplier, int *shift) {
  if (!(real > 0) || !isfinite(real))
    return xo_fail(XO_ERR_INVALID_ARG,
                   "real multiplier must be finite and > 0, got %g", real);
  int e;
  double q = frexp(real, &e); /* real = q * 2^e, q in [0.5, 1) */
  int64_t fixed = llround(q * (double)(1ll << 31));
  if (fixed == (1ll << 31)) { /* q rounded up to 1.0 */
    fixed /= 2;
    e += 1;
  }
  if (e < -31) { /* too small to represent: the result is zero */
    fixed = 0;
    e = 0;
  }
  *multiplier = (int32_t)fixed;
  *shift = e;
  return XO_OK;
}

/* gemmlowp: round(a * b / 2^31), ties away from zero, saturating the one
 * overflow case (INT32_MIN * INT32_MIN). */
static int32_t srdhm(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  int64_t ab = (int64_t)a * (int64_t)b;
  int64_t nudge = ab >= 0 ? (1ll << 30) : (1 - (1ll << 30));
  return (int32_t)((ab + nudge) / (1ll << 31));
}

/* gemmlowp: x / 2^exponent rounded to nearest, ties away from zero. In 64
 * bits so that exponents past 31 (only from hand-made shifts; see the fuzz
 * target) stay defined; identical bits to gemmlowp's int32 form below 32. */
static int32_t rounding_divide_by_pot(int32_t x, int exponent) {
  if (exponent <= 0) return x;
  if (exponent > 32) return 0; /* |x| / 2^exponent < 1/2 */
  int64_t mask = (1ll << exponent) - 1;
  int64_t remainder = (int64_t)x & mask;
  int64_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (int32_t)(((int64_t)x >> exponent) + (remainder > threshold ? 1 : 0));
}

static int32_t saturate_s32(int64_t v) {
  return v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
}

int32_t xo_requantize(int32_t acc, int32_t multiplier, int shift,
                      int32_t zero_point, int single_rounding) {
  int64_t r;
  if (single_rounding) {
    /* TFLITE_SINGLE_ROUNDING: one rounding, half up, at the final shift */
    int total = 31 - shift;
    if (total <= 0) {
      /* a huge real multiplier: saturate instead of overflowing int64 (any
       * nonzero product shifted by 32 or more saturates int32 anyway) */
      int64_t prod = (int64_t)acc * multiplier;
      int up = -total > 32 ? 32 : -total;
      if (__builtin_mul_overflow(prod, (int64_t)1 << up, &r))
        r = prod > 0 ? INT64_MAX : INT64_MIN;
    } else if (total > 62) {
      r = 0;
    } else {
      r = ((int64_t)acc * multiplier + (1ll << (total - 1))) >> total;
    }
    r = saturate_s32(r);
  } else {
    /* a left shift past 31 saturates any nonzero acc, as 31 already does */
    int left = shift > 0 ? (shift > 31 ? 31 : shift) : 0;
    int right = shift > 0 ? 0 : -shift;
    int32_t x = saturate_s32((int64_t)acc * (1ll << left));
    r = rounding_divide_by_pot(srdhm(x, multiplier), right);
  }
  r += zero_point;
  return (int32_t)(r < -128 ? -128 : r > 127 ? 127 : r);
}
