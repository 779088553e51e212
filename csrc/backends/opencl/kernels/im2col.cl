/* im2col.cl - one image and group of a convolution as a GEMM operand:
 * col [R][P] with R = (C/groups) KH KW and P = OH OW, padding with pad:
 * 0, or x's zero point when it has one (so that a padded tap contributes
 * x - za = 0, as the core's rule says). ET is the element type of the
 * operand format (float, ushort, uchar, char). */
__kernel void xo_im2col(__global const ET *x, const long x_off,
                        __global ET *col, const int C, const int H,
                        const int W, const int KH, const int KW, const int OH,
                        const int OW, const int SH, const int SW,
                        const int PH, const int PW, const int DH,
                        const int DW, const int pad) {
  const int p = get_global_id(0), r = get_global_id(1);
  if (p >= OH * OW || r >= C * KH * KW) return;
  const int c = r / (KH * KW), i = (r / KW) % KH, j = r % KW;
  const int ih = (p / OW) * SH - PH + i * DH, iw = (p % OW) * SW - PW + j * DW;
  const int inside = ih >= 0 && ih < H && iw >= 0 && iw < W;
  col[(long)r * OH * OW + p] =
      inside ? x[x_off + ((long)c * H + ih) * W + iw] : (ET)pad;
}
