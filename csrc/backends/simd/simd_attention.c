/* simd_attention.c - fused attention with xpuops' own kernels:
 *   fp32, bf16: flash attention (Q row blocks against K/V blocks, online
 *     softmax in f32; simd_attention_float.inc), bf16 through vdpbf16ps
 *     where AVX512-BF16 is allowed, else widened to f32 once;
 *   few query rows (decode), fp32 or bf16 KV: split over keys with a
 *     final merge (simd_attention_decode16.inc on AVX-512,
 *     _decode_ymm.inc on AVX2, _decode.inc for odd head sizes on AVX2);
 *   int8: the scheme v2 with u8 x s8 dot products (vpdpbusd, or exactly
 *     emulated), bit for bit ref's result (simd_attention_s8.inc; for a
 *     few query rows on AVX-512, split over keys in two passes with the s8
 *     KV cache read in place: simd_attention_decode8.inc, _decode8_ymm.inc
 *     on AVX2).
 * Each body is compiled once per ISA under a target pragma and chosen at
 * plan time from xo_simd_has (XPUOPS_MAX_ISA caps it). Which keys a row
 * sees and the kv-head map are semantics.h's. */
#include "simd_attention.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h> /* OpenMP, or one thread without it: simd.h */

/* What a kernel reads: the problem and the run's buffers (xo_args). */
typedef struct attn_ctx {
  const xo_attn_desc *a;
  const xo_problem *p;   /* for xo_attn_row_get */
  const xo_args *args;   /* kv_lengths, mask */
  int slow;              /* a mask or softcap: scores pass the core's rules */
  const void *q, *k, *v; /* f32, bf16 bits, or s8 */
  const float *sq, *sk, *sv; /* int8: the scheme's scales */
  float *out;                /* [b, h, lq, d] f32 */
  int bf16;                  /* decode: operands are bf16 bits */
  int nt;                    /* threads */
} attn_ctx;

#define XO_SIMD_LOG2E 1.44269504f

static inline size_t xo_simd_round64(size_t n) {
  return (n + 63) / 64 * 64;
}

/* 64-byte aligned scratch of n bytes (NULL when out of memory) */
static void *xo_simd_alloc(size_t n) {
  return aligned_alloc(64, xo_simd_round64(n ? n : 1));
}

/* ---- the bodies, once per ISA -------------------------------------------- */

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#define VW 8
#define VNNI 0
#define SFX avx2
#include "simd_attention_vec.inc"
#define BF16DP 0
#define MRQ 6
#define NKV 2
#define MRV 2
#define NVV 4
#include "simd_attention_float.inc"
#undef NKV
#undef MRQ
#undef MRV
#undef NVV
#define MRQ 4
#define MRV 3
#define NVV 2
#include "simd_attention_s8.inc"
#undef MRQ
#undef MRV
#undef NVV
#include "simd_attention_decode.inc"
#define XKV 0
#define XSFX f32
#include "simd_attention_decode_ymm.inc"
#undef XKV
#undef XSFX
#define XKV 1
#define XSFX bf16w
#include "simd_attention_decode_ymm.inc"
#undef XKV
#undef XSFX
#include "simd_attention_decode8_ymm.inc"
#include "simd_attention_unvec.inc"
#undef BF16DP
#undef VW
#undef VNNI
#undef SFX
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")
#define VW 16
#define VNNI 0
#define SFX avx512
#include "simd_attention_vec.inc"
#define BF16DP 0
#define MRQ 12
#define NKV 2
#define MRV 6
#define NVV 4
#include "simd_attention_float.inc"
#undef NKV
#undef MRQ
#undef MRV
#define MRQ 8
#define MRV 4
#include "simd_attention_s8.inc"
#undef MRQ
#undef MRV
#undef NVV
#define DKV 0
#define DSFX f32
#include "simd_attention_decode16.inc"
#undef DKV
#undef DSFX
#define DKV 1
#define DSFX bf16w
#include "simd_attention_decode16.inc"
#undef DKV
#undef DSFX
#include "simd_attention_decode8.inc"
#include "simd_attention_unvec.inc"
#undef BF16DP
#undef VW
#undef VNNI
#undef SFX
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target( \
    "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c,avx512vnni")
#define VW 16
#define VNNI 1
#define SFX avx512vnni
#include "simd_attention_vec.inc"
#define MRQ 12
#define MRV 6
#define NVV 4
#include "simd_attention_s8.inc"
#undef MRQ
#undef MRV
#undef NVV
#include "simd_attention_decode8.inc"
#include "simd_attention_unvec.inc"
#undef VW
#undef VNNI
#undef SFX
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target( \
    "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c,avx512bf16")
#define VW 16
#define VNNI 0
#define SFX avx512bf16
#include "simd_attention_vec.inc"
#define BF16DP 1
#define MRQ 12
#define NKV 2
#define MRV 6
#define NVV 4
#include "simd_attention_float.inc"
#undef NKV
#undef MRQ
#undef MRV
#undef NVV
#define DKV 2
#define DSFX dp
#include "simd_attention_decode16.inc"
#undef DKV
#undef DSFX
#include "simd_attention_unvec.inc"
#undef BF16DP
#undef VW
#undef VNNI
#undef SFX
#pragma GCC pop_options

/* ---- the op ------------------------------------------------------------- */

typedef struct attn_kernel {
  xo_status (*fn)(const attn_ctx *cx);
  int widen; /* 1: bf16 operands widened to f32 before fn */
  const char *what;
} attn_kernel;

static const attn_kernel
    k_f32_avx2 = {prefill_float_avx2, 0, "flash, f32 FMA 6x16 tiles"},
    k_f32_avx512 = {prefill_float_avx512, 0, "flash, f32 FMA 12x32 tiles"},
    k_bf16_dp = {prefill_float_avx512bf16, 0,
                 "flash, bf16 vdpbf16ps 12x32 tiles, P in bf16"},
    k_bf16_w_avx2 = {prefill_float_avx2, 1,
                     "flash, bf16 widened to f32, FMA 6x16 tiles"},
    k_bf16_w_avx512 = {prefill_float_avx512, 1,
                       "flash, bf16 widened to f32, FMA 12x32 tiles"},
    k_dec_avx2 = {decode_avx2, 0, "split-K decode, f32 FMA, padded copies"},
    k_dec_ymm_f32 = {decode_ymm_avx2_f32, 0,
                     "split-K decode, f32 FMA, 8-key transpose-reduce"},
    k_dec_ymm_bf16w = {decode_ymm_avx2_bf16w, 0,
                       "split-K decode, bf16 widened in registers, FMA, "
                       "8-key transpose-reduce"},
    k_dec16_f32 = {decode16_avx512_f32, 0,
                   "split-K decode, f32 FMA, 16-key transpose-reduce"},
    k_dec16_bf16w = {decode16_avx512_bf16w, 0,
                     "split-K decode, bf16 widened in registers, FMA, "
                     "16-key transpose-reduce"},
    k_dec16_dp = {decode16_avx512bf16_dp, 0,
                  "split-K decode, bf16 vdpbf16ps, 16-key transpose-reduce"},
    k_s8_avx2 = {prefill_s8_avx2, 0,
                 "fused int8 v2, u8xs8 by vpmaddwd (exact), 4x16 tiles"},
    k_s8_avx512 = {prefill_s8_avx512, 0,
                   "fused int8 v2, u8xs8 by vpmaddwd (exact), 8x32 tiles"},
    k_s8_vnni = {prefill_s8_avx512vnni, 0,
                 "fused int8 v2, vpdpbusd 12x32 tiles"},
    k_dec8_avx512 = {decode_s8_avx512, 0,
                     "split-K int8 v2 decode, s8 KV read in place, u8xs8 "
                     "by vpmaddwd (exact)"},
    k_dec8_ymm = {decode_s8y_avx2, 0,
                  "split-K int8 v2 decode, s8 KV read in place, s16 "
                  "products by vpmaddwd (exact)"},
    k_dec8_vnni = {decode_s8_avx512vnni, 0,
                   "split-K int8 v2 decode, s8 KV read in place, vpdpbusd"};

xo_status xo_simd_attention_supports(int index, const xo_problem *p) {
  (void)index;
  if (p->prec != XO_PREC_FP32 && p->prec != XO_PREC_BF16 &&
      p->prec != XO_PREC_INT8)
    return xo_fail(XO_ERR_UNSUPPORTED,
                   "simd: attention runs fp32, bf16 and int8, not %s",
                   xo_precision_name((xo_precision)p->prec));
  /* every argument of issue 14 (causal alignments, window, kv_lengths,
   * mask, softcap, Dv, an int8 KV cache) runs: each row's keys and scores
   * come from the core's rules (semantics.h) */
  if (p->out_dtype != XO_DTYPE_F32)
    return xo_fail(XO_ERR_UNSUPPORTED, "simd: attention returns f32 only");
  return XO_OK;
}

xo_status xo_simd_attention_plan(void *plan) {
  xo_simd_plan *sp = plan;
  const xo_problem *p = &sp->h.p;
  int avx512 = xo_simd_has(XO_SIMD_AVX512_CORE);
  const attn_kernel *k;
  xo_simd_isa isa = avx512 ? XO_SIMD_AVX512_CORE : XO_SIMD_AVX2;
  if (p->prec == XO_PREC_INT8) {
    /* the int8 decode keeps every row's scores (4 bytes a row and key):
     * only while they take no more than K's own bytes (4 x rows <= d) does
     * reading the cache in place save traffic and memory; more rows (GQA
     * 8 x Lq 16 at D 128: 4x K) go to the prefill kernel */
    int64_t drows = p->attn.h / p->attn.hkv * p->attn.lq;
    int dec = p->attn.lq <= XO_SIMD_DECODE_LQ && 4 * drows <= p->attn.d;
    if (xo_simd_has(XO_SIMD_AVX512_CORE_VNNI)) {
      k = dec ? &k_dec8_vnni : &k_s8_vnni;
      isa = XO_SIMD_AVX512_CORE_VNNI;
    } else if (dec && avx512) {
      k = &k_dec8_avx512;
    } else if (dec && p->attn.d % 16 == 0 && p->attn.dv % 16 == 0) {
      k = &k_dec8_ymm; /* whole vectors of 16 channels */
    } else {
      k = avx512 ? &k_s8_avx512 : &k_s8_avx2;
    }
  } else if (p->attn.lq <= XO_SIMD_DECODE_LQ) {
    /* the AVX2 tiles take whole vectors of channels: d by 8, dv by 16 */
    int whole = p->attn.d % 8 == 0 && p->attn.dv % 16 == 0;
    if (!avx512 && !whole)
      k = &k_dec_avx2;
    else if (!avx512)
      k = p->prec == XO_PREC_FP32 ? &k_dec_ymm_f32 : &k_dec_ymm_bf16w;
    else if (p->prec == XO_PREC_FP32)
      k = &k_dec16_f32;
    else if (xo_simd_has(XO_SIMD_AVX512_CORE_BF16)) {
      k = &k_dec16_dp;
      isa = XO_SIMD_AVX512_CORE_BF16;
    } else
      k = &k_dec16_bf16w;
  } else if (p->prec == XO_PREC_FP32) {
    k = avx512 ? &k_f32_avx512 : &k_f32_avx2;
  } else if (xo_simd_has(XO_SIMD_AVX512_CORE_BF16)) {
    k = &k_bf16_dp;
    isa = XO_SIMD_AVX512_CORE_BF16;
  } else {
    k = avx512 ? &k_bf16_w_avx512 : &k_bf16_w_avx2;
  }
  sp->isa = isa;
  sp->state = (void *)k; /* static: nothing to release */
  sp->release = NULL;
  snprintf(sp->how, sizeof sp->how, "%s, %s", k->what, xo_simd_isa_name(isa));
  return XO_OK;
}

xo_status xo_simd_attention_run(void *plan, const xo_args *args,
                                xo_run_stats *stats) {
  const xo_simd_plan *sp = plan;
  const attn_kernel *k = sp->state;
  const xo_problem *p = &sp->h.p;
  const xo_attn_desc *a = &p->attn;
  (void)stats; /* the core's wall clock is the kernel time */
  attn_ctx cx = {.a = a,
                 .p = p,
                 .args = args,
                 .slow = a->mask != 0 || a->softcap > 0,
                 .q = args->in[0],
                 .k = args->in[1],
                 .v = args->in[2],
                 .out = args->out,
                 .bf16 = p->prec == XO_PREC_BF16,
                 .nt = xo_get_num_threads()};
  if (p->prec == XO_PREC_INT8) {
    cx.sq = args->scale[0];
    cx.sk = args->scale[1];
    cx.sv = args->scale[2];
  }
  if (!k->widen) return k->fn(&cx);
  /* bf16 without vdpbf16ps: the operands widened to f32 once (exact) */
  int64_t nq = a->b * a->h * a->lq * a->d, nk = a->b * a->hkv * a->lk * a->d;
  int64_t nv = a->b * a->hkv * a->lk * a->dv;
  float *w = NULL;
  xo_status st = xo_alloc(nq + nk + nv, sizeof(float), (void **)&w);
  if (st != XO_OK) return st;
  xo_decode_f32(XO_DTYPE_BF16, args->in[0], nq, w);
  xo_decode_f32(XO_DTYPE_BF16, args->in[1], nk, w + nq);
  xo_decode_f32(XO_DTYPE_BF16, args->in[2], nv, w + nq + nk);
  cx.q = w;
  cx.k = w + nq;
  cx.v = w + nq + nk;
  cx.bf16 = 0;
  st = k->fn(&cx);
  free(w);
  return st;
}

#else /* not x86-64: the kernels are x86 intrinsics */

xo_status xo_simd_attention_supports(int index, const xo_problem *p) {
  (void)index;
  (void)p;
  return xo_fail(XO_ERR_UNSUPPORTED, "simd: attention kernels are x86-64 only");
}

xo_status xo_simd_attention_plan(void *plan) {
  (void)plan;
  return xo_fail(XO_ERR_UNSUPPORTED, "simd: attention kernels are x86-64 only");
}

xo_status xo_simd_attention_run(void *plan, const xo_args *args,
                                xo_run_stats *stats) {
  (void)plan;
  (void)args;
  (void)stats;
  return xo_fail(XO_ERR_UNSUPPORTED, "simd: attention kernels are x86-64 only");
}

#endif
