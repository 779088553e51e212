/* onednn_direct.c - the same oneDNN matmul primitive xpuops creates, called
 * directly from C, so the gap between xpuops and the library itself is
 * visible. Build and run: `make bench-direct` (links the onednn wheel).
 *
 *   onednn_direct M N K {f32|bf16|s8} [plain|any] [repeats]
 *
 * Prints the best time of one execute and its rate (ops = 2 M N K). */
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK(call)                                              \
  do {                                                           \
    dnnl_status_t s_ = (call);                                   \
    if (s_ != dnnl_success) {                                    \
      fprintf(stderr, "%s failed: status %d\n", #call, (int)s_); \
      return 1;                                                  \
    }                                                            \
  } while (0)

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s M N K f32|bf16|s8 [plain|any] [repeats]\n",
            argv[0]);
    return 2;
  }
  int64_t m = atoll(argv[1]), n = atoll(argv[2]), k = atoll(argv[3]);
  const char *t = argv[4];
  int any = argc > 5 && strcmp(argv[5], "any") == 0;
  int reps = argc > 6 ? atoi(argv[6]) : 20;
  int integer = strcmp(t, "s8") == 0;
  dnnl_data_type_t in = integer                  ? dnnl_s8
                        : strcmp(t, "bf16") == 0 ? dnnl_bf16
                                                 : dnnl_f32;
  dnnl_engine_t eng;
  dnnl_stream_t stream;
  CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
  CHECK(dnnl_stream_create(&stream, eng, dnnl_stream_default_flags));
  dnnl_dims_t sd = {m, k}, wd = {k, n}, dd = {m, n}, one = {1}, nn = {n};
  dnnl_memory_desc_t src, wei, wany, dst, sa, sb;
  CHECK(dnnl_memory_desc_create_with_tag(&src, 2, sd, in, dnnl_ab));
  CHECK(dnnl_memory_desc_create_with_tag(&wei, 2, wd, in, dnnl_ab));
  CHECK(dnnl_memory_desc_create_with_tag(&wany, 2, wd, in,
                                         any ? dnnl_format_tag_any : dnnl_ab));
  CHECK(dnnl_memory_desc_create_with_tag(&dst, 2, dd, dnnl_f32, dnnl_ab));
  CHECK(dnnl_memory_desc_create_with_tag(&sa, 1, one, dnnl_f32, dnnl_a));
  CHECK(dnnl_memory_desc_create_with_tag(&sb, 1, nn, dnnl_f32, dnnl_a));
  dnnl_primitive_attr_t attr;
  CHECK(dnnl_primitive_attr_create(&attr));
  if (integer) {
    CHECK(dnnl_primitive_attr_set_scales_mask(attr, DNNL_ARG_SRC, 0));
    CHECK(dnnl_primitive_attr_set_scales_mask(attr, DNNL_ARG_WEIGHTS, 2));
  }
  dnnl_primitive_desc_t pd;
  CHECK(
      dnnl_matmul_primitive_desc_create(&pd, eng, src, wany, NULL, dst, attr));
  const char *impl;
  CHECK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl));
  const_dnnl_memory_desc_t wmd =
      dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
  dnnl_primitive_t prim;
  CHECK(dnnl_primitive_create(&prim, pd));
  size_t es = integer ? 1 : in == dnnl_bf16 ? 2 : 4;
  void *a = calloc((size_t)(m * k), es), *b = calloc((size_t)(k * n), es);
  void *bw = calloc(dnnl_memory_desc_get_size(wmd), 1);
  float *c = calloc((size_t)(m * n), 4), *s1 = calloc(1, 4),
        *s2 = calloc((size_t)n, 4);
  /* random operands: zeros would flatter the hardware (less switching) */
  unsigned x = 12345;
  for (size_t i = 0; i < (size_t)(m * k) * es; i++)
    ((unsigned char *)a)[i] =
        (unsigned char)((x = x * 1103515245u + 12345u) >> 16);
  for (size_t i = 0; i < (size_t)(k * n) * es; i++)
    ((unsigned char *)b)[i] =
        (unsigned char)((x = x * 1103515245u + 12345u) >> 16);
  if (!integer) { /* keep floats finite: clear each element's exponent MSB */
    for (size_t i = es - 1; i < (size_t)(m * k) * es; i += es)
      ((unsigned char *)a)[i] &= 0xBF;
    for (size_t i = es - 1; i < (size_t)(k * n) * es; i += es)
      ((unsigned char *)b)[i] &= 0xBF;
  }
  *s1 = 1.0f;
  for (int64_t i = 0; i < n; i++) s2[i] = 1.0f;
  dnnl_memory_t ma, mb, mbw, mc, msa, msb;
  CHECK(dnnl_memory_create(&ma, src, eng, a));
  CHECK(dnnl_memory_create(&mb, wei, eng, b));
  CHECK(dnnl_memory_create(&mbw, wmd, eng, bw));
  CHECK(dnnl_memory_create(&mc, dst, eng, c));
  CHECK(dnnl_memory_create(&msa, sa, eng, s1));
  CHECK(dnnl_memory_create(&msb, sb, eng, s2));
  if (any) { /* weights reordered once, outside the timed loop */
    dnnl_primitive_desc_t rpd;
    dnnl_primitive_t r;
    CHECK(dnnl_reorder_primitive_desc_create(&rpd, wei, eng, wmd, eng, NULL));
    CHECK(dnnl_primitive_create(&r, rpd));
    dnnl_exec_arg_t ra[] = {{DNNL_ARG_FROM, mb}, {DNNL_ARG_TO, mbw}};
    CHECK(dnnl_primitive_execute(r, stream, 2, ra));
  }
  dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, ma},
                            {DNNL_ARG_WEIGHTS, any ? mbw : mb},
                            {DNNL_ARG_DST, mc},
                            {DNNL_ARG_ATTR_SCALES | DNNL_ARG_SRC, msa},
                            {DNNL_ARG_ATTR_SCALES | DNNL_ARG_WEIGHTS, msb}};
  double best = 1e30;
  for (int i = 0; i < reps + 1; i++) {
    double t0 = now();
    CHECK(dnnl_primitive_execute(prim, stream, integer ? 5 : 3, args));
    double dt = now() - t0;
    if (i > 0 && dt < best) best = dt; /* first call warms up */
  }
  double ops = 2.0 * m * n * k;
  printf("%s %lldx%lldx%lld weights=%s: %.3f ms  %.3f %s (%s)\n", t,
         (long long)m, (long long)n, (long long)k, any ? "blocked" : "plain",
         best * 1e3, ops / best / 1e12, integer ? "INT8 TOPS" : "TFLOPS", impl);
  return 0;
}
