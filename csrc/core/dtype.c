/* dtype.c - conversions between float formats and int4 packing.
 *
 * Rounding is round-to-nearest-even throughout. The bit patterns follow the
 * libraries users pass arrays from: NumPy's float16 (rounded directly from
 * float64), ml_dtypes' bfloat16 and float8_e4m3fn (which round float64 to
 * float32 first, then to the narrow format; E4M3FN has no infinity, so an
 * overflow becomes NaN). */
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif
#include <math.h>
#include <string.h>

#include "internal.h"

static uint16_t bf16_from_f32(float f) {
  uint32_t bits;
  memcpy(&bits, &f, sizeof bits);
  if (isnan(f)) return (uint16_t)((bits >> 16) | 0x40); /* keep it quiet */
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  return (uint16_t)(bits >> 16);
}

static float f32_from_bf16(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

/* E4M3FN: 1 sign, 4 exponent (bias 7), 3 mantissa bits; 0x7F/0xFF is NaN,
 * the largest finite value 448. Rounding is done on the float32 bits. */
static uint8_t f8e4m3_from_f32(float f) {
  uint32_t b;
  memcpy(&b, &f, 4);
  uint8_t sign = (uint8_t)((b >> 24) & 0x80);
  uint32_t a = b & 0x7FFFFFFFu;
  if (a > 0x43E80000u) return sign | 0x7F; /* NaN, Inf, or past 464: NaN */
  if (a >= 0x3C800000u) {                  /* normal: |f| >= 2^-6 */
    /* round the 23-bit mantissa to 3 bits, ties to even (a carry moves
     * into the exponent as it should), then rebias 127 -> 7 */
    uint32_t r = (a + 0x7FFFFu + ((a >> 20) & 1u)) >> 20;
    return sign | (uint8_t)(r - ((127u - 7u) << 3));
  }
  /* subnormal: a multiple of 2^-9; |f| * 512 is exact and the magic
   * constant rounds it to an integer, ties to even (8 is 2^-6, code 8) */
  float m = fabsf(f) * 512.0f;
  m = (m + 12582912.0f) - 12582912.0f;
  return sign | (uint8_t)m;
}

static float f8e4m3_table[256];
static int f8e4m3_table_ready;

static void f8e4m3_table_init(void) {
  for (int c = 0; c < 256; c++) {
    int e = (c >> 3) & 15, m = c & 7;
    float v;
    if (e == 15 && m == 7)
      v = NAN;
    else if (e == 0)
      v = ldexpf((float)m, -9);
    else
      v = ldexpf((float)(8 + m), e - 10);
    f8e4m3_table[c] = (c & 0x80) ? -v : v;
  }
  /* benign race: every thread writes the same values */
  __atomic_store_n(&f8e4m3_table_ready, 1, __ATOMIC_RELEASE);
}

static const float *f8_table(void) {
  if (!__atomic_load_n(&f8e4m3_table_ready, __ATOMIC_ACQUIRE))
    f8e4m3_table_init();
  return f8e4m3_table;
}

void xo_load_f64(xo_dtype dtype, const char *src, int64_t stride, int64_t n,
                 double *dst) {
  switch (dtype) {
    case XO_DTYPE_F64:
      for (int64_t i = 0; i < n; i++) memcpy(&dst[i], src + i * stride, 8);
      break;
    case XO_DTYPE_F32:
      for (int64_t i = 0; i < n; i++) {
        float f;
        memcpy(&f, src + i * stride, 4);
        dst[i] = f;
      }
      break;
    case XO_DTYPE_F16:
      for (int64_t i = 0; i < n; i++) {
        _Float16 h;
        memcpy(&h, src + i * stride, 2);
        dst[i] = (double)h;
      }
      break;
    case XO_DTYPE_BF16:
      for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, src + i * stride, 2);
        dst[i] = f32_from_bf16(h);
      }
      break;
    case XO_DTYPE_F8E4M3: {
      const float *t = f8_table();
      for (int64_t i = 0; i < n; i++) dst[i] = t[(uint8_t)src[i * stride]];
      break;
    }
    case XO_DTYPE_S32:
      for (int64_t i = 0; i < n; i++) {
        int32_t v;
        memcpy(&v, src + i * stride, 4);
        dst[i] = v;
      }
      break;
    case XO_DTYPE_S8:
      for (int64_t i = 0; i < n; i++) dst[i] = (int8_t)src[i * stride];
      break;
    case XO_DTYPE_U8:
      for (int64_t i = 0; i < n; i++) dst[i] = (uint8_t)src[i * stride];
      break;
    default:
      for (int64_t i = 0; i < n; i++) dst[i] = NAN;
  }
}

/* Encode n doubles (each exactly a value of the source dtype) as dtype. */
static void store_from_f64(xo_dtype dtype, const double *src, int64_t n,
                           void *dst) {
  switch (dtype) {
    case XO_DTYPE_F64: memcpy(dst, src, (size_t)n * 8); break;
    case XO_DTYPE_F32:
      for (int64_t i = 0; i < n; i++) ((float *)dst)[i] = (float)src[i];
      break;
    case XO_DTYPE_F16: /* directly from double, as NumPy rounds */
      for (int64_t i = 0; i < n; i++) ((_Float16 *)dst)[i] = (_Float16)src[i];
      break;
    case XO_DTYPE_BF16: /* through float32, as ml_dtypes rounds */
      for (int64_t i = 0; i < n; i++)
        ((uint16_t *)dst)[i] = bf16_from_f32((float)src[i]);
      break;
    case XO_DTYPE_F8E4M3:
      for (int64_t i = 0; i < n; i++)
        ((uint8_t *)dst)[i] = f8e4m3_from_f32((float)src[i]);
      break;
    default: break;
  }
}

typedef struct convert_ctx {
  xo_dtype src, dst;
  char *out;
  size_t out_size;
} convert_ctx;

enum { XO_CHUNK = 256 };

/* bf16 of a contiguous f32 row without a branch, so that it vectorizes;
 * the same bits as bf16_from_f32. */
XO_CLONES static void bf16_row(const float *restrict src, int64_t n,
                               uint16_t *restrict dst) {
  for (int64_t i = 0; i < n; i++) {
    uint32_t bits;
    memcpy(&bits, &src[i], 4);
    uint32_t rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
    uint32_t quiet = (bits >> 16) | 0x40u;
    int nan = (bits & 0x7FFFFFFFu) > 0x7F800000u;
    dst[i] = (uint16_t)(nan ? quiet : rounded);
  }
}

#if defined(__x86_64__)
/* F16C is read from CPUID leaf 1 (ECX bit 29) rather than
 * __builtin_cpu_supports("f16c"), which clang accepts only from version 16;
 * the "avx" check also covers the OS saving the YMM state. */
static int has_f16c(void) {
  static int cached = -1;
  if (cached < 0) {
    unsigned a, b, c, d;
    cached = __builtin_cpu_supports("avx") && __get_cpuid(1, &a, &b, &c, &d) &&
             ((c >> 29) & 1u);
  }
  return cached;
}

/* F16C's conversion rounds to nearest even, exactly as the _Float16 cast
 * (and NumPy) does, eight values at a time. */
__attribute__((target("avx,f16c"))) static void f16_row_f16c(const float *src,
                                                             int64_t n,
                                                             uint16_t *dst) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128i h =
        _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128((__m128i *)(void *)(dst + i), h);
  }
  for (; i < n; i++) {
    _Float16 h = (_Float16)src[i];
    memcpy(&dst[i], &h, 2);
  }
}

#endif

/* Direct loops for the common sources: no detour through double. */
static int convert_fast(const convert_ctx *c, const char *src, int64_t stride,
                        int64_t n, int64_t first) {
  size_t es = xo_dtype_size(c->src);
  char *out = c->out + (size_t)first * c->out_size;
  if (c->src == c->dst) {
    if (stride == (int64_t)es) {
      memcpy(out, src, (size_t)n * es);
    } else {
      for (int64_t i = 0; i < n; i++)
        memcpy(out + (size_t)i * es, src + i * stride, es);
    }
    return 1;
  }
  if (c->src != XO_DTYPE_F32) return 0;
  if (c->dst == XO_DTYPE_BF16 && stride == 4) {
    bf16_row((const float *)(const void *)src, n, (uint16_t *)out);
    return 1;
  }
  if (c->dst == XO_DTYPE_F8E4M3) {
    for (int64_t i = 0; i < n; i++) {
      float f;
      memcpy(&f, src + i * stride, 4);
      ((uint8_t *)out)[i] = f8e4m3_from_f32(f);
    }
    return 1;
  }
#if defined(__x86_64__)
  if (c->dst == XO_DTYPE_F16 && stride == 4 && has_f16c()) {
    f16_row_f16c((const float *)(const void *)src, n, (uint16_t *)out);
    return 1;
  }
#endif
  return 0;
}

static xo_status convert_row(const char *src, int64_t stride, int64_t n,
                             int64_t first, void *vctx) {
  convert_ctx *c = vctx;
  if (convert_fast(c, src, stride, n, first)) return XO_OK;
  double tmp[XO_CHUNK];
  for (int64_t i = 0; i < n; i += XO_CHUNK) {
    int64_t len = n - i < XO_CHUNK ? n - i : XO_CHUNK;
    xo_load_f64(c->src, src + i * stride, stride, len, tmp);
    store_from_f64(c->dst, tmp, len,
                   c->out + (size_t)(first + i) * c->out_size);
  }
  return XO_OK;
}

static int is_float_dtype(xo_dtype d) {
  return d == XO_DTYPE_F64 || d == XO_DTYPE_F32 || d == XO_DTYPE_F16 ||
         d == XO_DTYPE_BF16 || d == XO_DTYPE_F8E4M3;
}

xo_status xo_convert(const xo_tensor *src, xo_dtype dst_dtype, void *dst) {
  if (src == NULL || dst == NULL)
    return xo_fail(XO_ERR_INVALID_ARG, "xo_convert: NULL argument");
  if (!is_float_dtype(dst_dtype))
    return xo_fail(XO_ERR_TYPE, "xo_convert: target must be a float dtype");
  if (xo_dtype_size(src->dtype) == 0)
    return xo_fail(XO_ERR_TYPE, "xo_convert: unknown source dtype");
  convert_ctx c = {src->dtype, dst_dtype, dst, xo_dtype_size(dst_dtype)};
  return xo_foreach_row(src, convert_row, &c);
}

void xo_decode_f32(xo_dtype dtype, const void *src, int64_t n, float *dst) {
  switch (dtype) {
    case XO_DTYPE_F32: memcpy(dst, src, (size_t)n * 4); break;
    case XO_DTYPE_BF16:
      for (int64_t i = 0; i < n; i++)
        dst[i] = f32_from_bf16(((const uint16_t *)src)[i]);
      break;
    case XO_DTYPE_F16:
      for (int64_t i = 0; i < n; i++)
        dst[i] = (float)((const _Float16 *)src)[i];
      break;
    case XO_DTYPE_F8E4M3: {
      const float *t = f8_table();
      for (int64_t i = 0; i < n; i++) dst[i] = t[((const uint8_t *)src)[i]];
      break;
    }
    case XO_DTYPE_F64:
      for (int64_t i = 0; i < n; i++) dst[i] = (float)((const double *)src)[i];
      break;
    default:
      for (int64_t i = 0; i < n; i++) dst[i] = NAN;
  }
}

xo_status xo_pack_int4(const int8_t *src, int64_t n, int is_unsigned,
                       uint8_t *dst) {
  if (n < 0 || (n > 0 && (src == NULL || dst == NULL)))
    return xo_fail(XO_ERR_INVALID_ARG, "xo_pack_int4: bad buffer or count");
  int lo = is_unsigned ? 0 : -8, hi = is_unsigned ? 15 : 7;
  for (int64_t i = 0; i < n; i++) {
    int v = is_unsigned ? (int)(uint8_t)src[i] : (int)src[i];
    if (v < lo || v > hi)
      return xo_fail(XO_ERR_INVALID_ARG,
                     "int4 value %d at index %lld is outside [%d, %d]", v,
                     (long long)i, lo, hi);
  }
  for (int64_t i = 0; i < n / 2; i++)
    dst[i] = (uint8_t)((src[2 * i] & 0x0F) | ((src[2 * i + 1] & 0x0F) << 4));
  if (n % 2) dst[n / 2] = (uint8_t)(src[n - 1] & 0x0F);
  return XO_OK;
}

XO_CLONES xo_status xo_unpack_int4(const uint8_t *src, int64_t n,
                                   int is_unsigned, int8_t *dst) {
  if (n < 0 || (n > 0 && (src == NULL || dst == NULL)))
    return xo_fail(XO_ERR_INVALID_ARG, "xo_unpack_int4: bad buffer or count");
  /* sign extension by shifts, branch-free so that it vectorizes */
  int64_t pairs = n / 2;
  if (is_unsigned) {
    for (int64_t i = 0; i < pairs; i++) {
      dst[2 * i] = (int8_t)(src[i] & 0x0F);
      dst[2 * i + 1] = (int8_t)(src[i] >> 4);
    }
  } else {
    for (int64_t i = 0; i < pairs; i++) {
      dst[2 * i] = (int8_t)((int8_t)(src[i] << 4) >> 4);
      dst[2 * i + 1] = (int8_t)((int8_t)src[i] >> 4);
    }
  }
  if (n % 2) {
    int nib = src[pairs] & 0x0F;
    dst[n - 1] = (int8_t)(is_unsigned ? nib : (nib ^ 8) - 8);
  }
  return XO_OK;
}
