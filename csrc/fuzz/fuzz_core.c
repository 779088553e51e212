/* fuzz_core.c - libFuzzer target for the parts of the core that take
 * untrusted sizes or bytes: descriptor validation (sizes, overflow),
 * int4 packing, float-format conversion, quantization of arbitrary floats
 * (NaN, Inf, subnormals), fixed-point requantization and the OpenVINO IR
 * writer. Built and run by `make fuzz-c` (clang -fsanitize=fuzzer,address,
 * undefined); not part of the library. The first input byte picks the
 * target. Every path must end in a status, never in a crash. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../backends/openvino/ir.h"
#include "../core/internal.h"

static int64_t take64(const uint8_t **d, size_t *n) {
  int64_t v = 0;
  size_t k = *n < 8 ? *n : 8;
  memcpy(&v, *d, k);
  *d += k;
  *n -= k;
  return v;
}

static void fuzz_numel(const uint8_t *d, size_t n) {
  xo_tensor t = {.dtype = (xo_dtype)(n ? d[0] % 10 : 0)};
  t.ndim = n > 1 ? d[1] % 10 : 0; /* also ranks past XO_MAX_DIMS */
  if (n > 2) {
    d += 2;
    n -= 2;
  }
  for (int i = 0; i < t.ndim && i < XO_MAX_DIMS; i++)
    t.shape[i] = take64(&d, &n);
  int64_t numel;
  if (xo_tensor_numel(&t, &numel) == XO_OK && numel < 0) abort();
}

static void fuzz_int4(const uint8_t *d, size_t n) {
  int is_unsigned = n && (d[0] & 1);
  int8_t *v = malloc(n + 1), *back = malloc(n + 1);
  uint8_t *packed = malloc(n / 2 + 1);
  for (size_t i = 0; i < n; i++) v[i] = (int8_t)d[i];
  if (xo_pack_int4(v, (int64_t)n, is_unsigned, packed) == XO_OK) {
    xo_unpack_int4(packed, (int64_t)n, is_unsigned, back);
    for (size_t i = 0; i < n; i++) /* a packed value comes back unchanged */
      if (back[i] != v[i]) abort();
  }
  free(v);
  free(back);
  free(packed);
}

static void fuzz_convert_quantize(const uint8_t *d, size_t n) {
  size_t count = n / 4;
  if (count == 0) return;
  float *x = malloc(count * 4);
  memcpy(x, d, count * 4);
  xo_tensor t = {.dtype = XO_DTYPE_F32,
                 .ndim = 2,
                 .shape = {1, (int64_t)count},
                 .strides = {(int64_t)count * 4, 4},
                 .data = x};
  uint8_t *out = malloc(count * 8);
  for (int target = XO_DTYPE_F64; target <= XO_DTYPE_F8E4M3; target++)
    xo_convert(&t, (xo_dtype)target, out);
  xo_qspec spec = {.prec = (d[0] & 1) ? XO_PREC_INT4 : XO_PREC_INT8,
                   .granularity = XO_Q_AXIS,
                   .axis = 1,
                   .symmetric = !(d[0] & 2)};
  float *scale = malloc(count * 4);
  int32_t *zp = malloc(count * 4);
  if (xo_quantize(&t, &spec, (int8_t *)out, scale, zp) == XO_OK)
    for (size_t i = 0; i < count; i++) /* a scale is always usable */
      if (!(scale[i] > 0) || !isfinite(scale[i])) abort();
  free(x);
  free(out);
  free(scale);
  free(zp);
}

static void fuzz_requantize(const uint8_t *d, size_t n) {
  double real;
  if (n < 12) return;
  memcpy(&real, d, 8);
  int32_t acc;
  memcpy(&acc, d + 8, 4);
  int32_t mult;
  int shift;
  if (xo_quantize_multiplier(real, &mult, &shift) != XO_OK) return;
  for (int single = 0; single < 2; single++) {
    int32_t q =
        xo_requantize(acc, mult, shift, (int32_t)(d[0] % 7) - 3, single);
    if (q < -128 || q > 127) abort();
  }
}

static void fuzz_ir(const uint8_t *d, size_t n) {
  ir g = {0};
  int64_t dims[IR_MAX_RANK] = {0};
  int rank = n ? d[0] % (IR_MAX_RANK + 1) : 0;
  for (int i = 0; i < rank; i++) dims[i] = i + 1 < (int)n ? d[i + 1] : 1;
  ir_port p = ir_param(&g, "f32", rank, dims);
  ir_port c = ir_const(&g, "i8", 1, dims, d, n);
  ir_port in[2] = {p, c};
  ir_port o = ir_op(&g, "Add", "opset1", "auto_broadcast=\"numpy\"", in, 2, p);
  ir_result(&g, o);
  char *xml = NULL;
  size_t len = 0;
  if (ir_finish(&g, &xml, &len) == XO_OK && strlen(xml) != len) abort();
  free(xml);
  ir_free(&g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  const uint8_t *d = data + 1;
  size_t n = size - 1;
  switch (data[0] % 5) {
    case 0: fuzz_numel(d, n); break;
    case 1: fuzz_int4(d, n); break;
    case 2: fuzz_convert_quantize(d, n); break;
    case 3: fuzz_requantize(d, n); break;
    default: fuzz_ir(d, n); break;
  }
  return 0;
}
