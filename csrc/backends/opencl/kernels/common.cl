/* common.cl - shared by every xpuops OpenCL kernel (pure OpenCL C 1.2).
 * Operand formats are chosen at build time with -D options:
 *   A_F32 A_BF16 A_F16 A_F8 A_S8 A_U8 A_S4 (and B_..., the same)
 * Every LOAD returns the value as the accumulator type ACC (float or int),
 * zero points already subtracted. */
#pragma OPENCL FP_CONTRACT OFF /* round every step as written, like ref */

#ifdef XO_FORCE_BUILD_ERROR /* lets the tests check that a build log surfaces */
#error "xpuops: build error forced by XO_FORCE_BUILD_ERROR"
#endif

float xo_bf16(ushort h) { return as_float(((uint)h) << 16); }

/* E4M3FN: bias 7, 3 mantissa bits, 0x7F/0xFF NaN, no infinities */
float xo_f8(uchar c) {
  int e = (c >> 3) & 15, m = c & 7;
  float v = (e == 15 && m == 7) ? NAN
            : e == 0            ? ldexp((float)m, -9)
                                : ldexp((float)(8 + m), e - 10);
  return (c & 0x80) ? -v : v;
}

int xo_s4(__global const uchar *p, long i) {
  int nib = (p[i >> 1] >> ((i & 1) * 4)) & 15;
  return (nib ^ 8) - 8;
}

#define XO_LOAD_F32(p, i) (((__global const float *)(p))[i])
#define XO_LOAD_BF16(p, i) xo_bf16(((__global const ushort *)(p))[i])
#define XO_LOAD_F16(p, i) vload_half((i), (__global const half *)(p))
#define XO_LOAD_F8(p, i) xo_f8(((__global const uchar *)(p))[i])
#define XO_LOAD_S8(p, i) ((int)((__global const char *)(p))[i])
#define XO_LOAD_U8(p, i) ((int)((__global const uchar *)(p))[i])
#define XO_LOAD_S4(p, i) xo_s4((__global const uchar *)(p), (i))
