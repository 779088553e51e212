/* npusim.c - a bit-exact emulator of an NPU's integer pipeline (TFLite /
 * gemmlowp semantics) with a performance model instead of a clock.
 *
 * matmul and conv2d: s8 x s8 -> s32 accumulators (int4 weights widened),
 * then requantization of every output to s8 with a per-channel fixed-point
 * multiplier (sa * sb[n] / s_out) and saturation, as an NPU writes int8
 * activations; the f32 result is that s8 times s_out. s_out is chosen per
 * call from the accumulators' range, as calibration would. Raw s32 output
 * returns the accumulators, identical to ref's. attention: the int8 scheme
 * v2 of DESIGN.md as the core writes it (semantics.c).
 *
 * Time: max(ops / (rated TOPS x utilisation), bytes / bandwidth) + dispatch
 * latency, per chip profile; never measured. The model's assumptions live
 * here only, and every device description states them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/semantics.h"

/* The model's assumptions: the share of the rated TOPS a real network
 * sustains, and a fixed cost per dispatched op. */
#define NPU_UTILISATION 0.6
#define NPU_DISPATCH_S 50e-6

enum { MAX_PROFILES = 32 };

typedef struct npu_profile {
  char slug[48], label[80];
  double tops, gbs, util, latency;
} npu_profile;

static npu_profile profiles[MAX_PROFILES] = {
    /* always present: a generic laptop NPU, for device="npusim" */
    {"", "generic laptop NPU", 50, 120, NPU_UTILISATION, NPU_DISPATCH_S},
};
static int nprofiles = 1;
static int single_rounding;

xo_status xo_npusim_add_profile(const char *slug, const char *label,
                                double tops, double gbs, double utilisation,
                                double latency_s) {
  if (nprofiles >= MAX_PROFILES)
    return xo_fail(XO_ERR_INVALID_ARG, "too many NPU profiles");
  if (!(tops > 0 && gbs > 0 && utilisation > 0 && utilisation <= 1 &&
        latency_s >= 0))
    return xo_fail(XO_ERR_INVALID_ARG,
                   "NPU profile needs TOPS > 0, GB/s > 0, utilisation in "
                   "(0, 1] and latency >= 0");
  npu_profile *p = &profiles[nprofiles++];
  snprintf(p->slug, sizeof p->slug, "%s", slug);
  snprintf(p->label, sizeof p->label, "%s", label);
  p->tops = tops;
  p->gbs = gbs;
  p->util = utilisation;
  p->latency = latency_s;
  return XO_OK;
}

xo_status xo_npusim_add_chip(const char *slug, const char *label, double tops,
                             double gbs) {
  return xo_npusim_add_profile(slug, label, tops, gbs, NPU_UTILISATION,
                               NPU_DISPATCH_S);
}

static xo_status npu_init(void) {
  const char *r = getenv("XPUOPS_NPUSIM_ROUNDING");
  single_rounding = r && strcmp(r, "single") == 0;
  return XO_OK;
}

static int npu_count(void) {
  return nprofiles;
}

static xo_status npu_describe(int index, xo_device_desc *d) {
  const npu_profile *p = &profiles[index];
  snprintf(d->name, sizeof d->name, p->slug[0] ? "npusim:%s" : "npusim",
           p->slug);
  snprintf(d->kind, sizeof d->kind, "npu");
  snprintf(d->full_name, sizeof d->full_name,
           "NPU simulator, %s profile: %g INT8 TOPS rated, %g GB/s", p->label,
           p->tops, p->gbs);
  d->simulated = 1;
  d->exact_integer = 1;
  snprintf(d->threads, sizeof d->threads,
           "1 thread (simulated: times are modeled)");
  d->precisions[XO_PREC_INT8] = XO_SUPPORT_NATIVE;
  d->precisions[XO_PREC_INT4] = XO_SUPPORT_NATIVE;
  /* a simulated device's peak is its chip's rating (int4 weights modeled
   * at the INT8 rate), and its figures come from the model below */
  for (int prec = XO_PREC_INT8; prec <= XO_PREC_INT4; prec++) {
    xo_peak *pk = &d->peak[prec];
    pk->ops_per_s = p->tops * 1e12;
    snprintf(pk->source, sizeof pk->source, "rated");
    snprintf(
        pk->formula, sizeof pk->formula, "%s: %g INT8 TOPS as rated%s",
        p->label, p->tops,
        prec == XO_PREC_INT4 ? "; int4 weights modeled at the INT8 rate" : "");
  }
  d->bandwidth_gbs = p->gbs;
  d->model_utilisation = p->util;
  d->model_dispatch_s = p->latency;
  return XO_OK;
}

/* How an integer operand is stored (core/internal.h xo_args): s8, s4
 * packed two per byte (weights), or u8 (activations with zero points). */
enum { Q_S8 = 0, Q_S4 = 1, Q_U8 = 2 };

/* The stored value of element e (zero points not subtracted: the core's
 * xo_zp_* compensate the sums afterwards). */
static int32_t q_at(const void *data, int64_t e, int kind) {
  if (kind == Q_U8) return ((const uint8_t *)data)[e];
  if (kind == Q_S8) return ((const int8_t *)data)[e];
  int nib = (((const uint8_t *)data)[e / 2] >> ((e & 1) * 4)) & 0x0F;
  return (nib ^ 8) - 8;
}

/* acc [m][n] = A [m][k] x B [k][n]; A and B are read through strides so the
 * same loop serves matmul (A = a, B = b) and conv (A = w, B = im2col). */
XO_CLONES static void mac(int64_t m, int64_t n, int64_t k, const void *a,
                          int64_t a0, int akind, const int32_t *b,
                          int32_t *acc) {
  for (int64_t i = 0; i < m; i++) {
    int32_t *row = acc + i * n;
    for (int64_t j = 0; j < n; j++) row[j] = 0;
    for (int64_t kk = 0; kk < k; kk++) {
      int32_t av = q_at(a, a0 + i * k + kk, akind);
      const int32_t *bk = b + kk * n;
      for (int64_t j = 0; j < n; j++) row[j] += av * bk[j];
    }
  }
}

/* Requantize an [m][n] block of accumulators to s8 through per-channel
 * multipliers (channel = column for matmul, row for conv) and write the
 * f32 result (s8 x s_out), or the raw accumulators. */
static xo_status requantize_block(int64_t m, int64_t n, const int32_t *acc,
                                  float sa, const float *sb, int per_channel,
                                  int by_row, int64_t ch0, float s_out,
                                  float *out) {
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      int64_t ch = per_channel ? ch0 + (by_row ? i : j) : 0;
      int32_t mult;
      int shift;
      double real = (double)sa * (double)sb[ch] / (double)s_out;
      xo_status st = xo_quantize_multiplier(real, &mult, &shift);
      if (st != XO_OK) return st;
      int32_t q =
          xo_requantize(acc[i * n + j], mult, shift, 0, single_rounding);
      out[i * n + j] = (float)q * s_out;
    }
  return XO_OK;
}

/* An int8 result of the caller's output scale (QLinearMatMul/Conv), as an
 * NPU computes it: the float bias rounded to the accumulator's scale sa *
 * sb (an s32 bias, as TFLite stores it) and added, then the fixed-point
 * multiplier sa * sb / out_scale. Within 1 LSB of the core's float rule
 * (xo_rule_requant_s8) while sa * sb / out_scale <= 1 (DESIGN.md s2). The
 * channel of element e is (e / stride) % channels. */
static xo_status requantize_out(const int32_t *acc, int64_t count, float sa,
                                const float *sb, int per_channel,
                                int64_t channels, int64_t stride,
                                const float *bias, const xo_args *args,
                                int8_t *out) {
  for (int64_t e = 0; e < count; e++) {
    int64_t ch = (e / stride) % channels, cs = per_channel ? ch : 0;
    double s_acc = (double)sa * (double)sb[cs];
    int32_t mult;
    int shift;
    xo_status st =
        xo_quantize_multiplier(s_acc / (double)args->out_scale, &mult, &shift);
    if (st != XO_OK) return st;
    int64_t v = acc[e];
    if (bias) {
      double bq = nearbyint((double)bias[ch] / s_acc);
      v += bq > INT32_MAX   ? INT32_MAX
           : bq < INT32_MIN ? INT32_MIN
                            : (int64_t)bq;
    }
    v = v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : v;
    out[e] = (int8_t)xo_requantize((int32_t)v, mult, shift,
                                   args->out_zero_point, single_rounding);
  }
  return XO_OK;
}

/* s_out: the output scale a calibration would choose, max |float value| /
 * 127 over the call's accumulators (1 for an all-zero output). The channel
 * of element e is (e / stride) % channels: matmul columns (stride 1),
 * conv output channels (stride OH * OW). */
static float output_scale(const int32_t *acc, int64_t count, float sa,
                          const float *sb, int per_channel, int64_t channels,
                          int64_t stride) {
  float amax = 0;
  for (int64_t e = 0; e < count; e++) {
    int64_t ch = per_channel ? (e / stride) % channels : 0;
    float v = fabsf((float)acc[e] * (sa * sb[ch]));
    amax = v > amax ? v : amax;
  }
  return amax > 0 ? amax / 127.0f : 1.0f;
}

static xo_status npu_matmul(const xo_im2col_plan *pl, const xo_args *args) {
  const xo_matmul_desc *p = &pl->h.p.mm;
  int64_t m = p->m, n = p->n, k = p->k, total = p->batch * m * n;
  int b4 = pl->h.p.prec == XO_PREC_INT4;
  int per_ch = pl->h.p.b_granularity == XO_Q_AXIS;
  int32_t *bw = NULL, *acc = NULL;
  xo_status st = xo_alloc(k * n, sizeof(int32_t), (void **)&bw);
  if (st == XO_OK) st = xo_alloc(total, sizeof(int32_t), (void **)&acc);
  for (int64_t i = 0; i < p->batch && st == XO_OK; i++) {
    if (i == 0 || p->batch_b > 1)
      for (int64_t e = 0; e < k * n; e++)
        bw[e] = q_at(args->in[1], (p->batch_b > 1 ? i : 0) * k * n + e,
                     b4 ? Q_S4 : Q_S8);
    mac(m, n, k, args->in[0], (p->batch_a > 1 ? i : 0) * m * k,
        pl->h.p.a_asym ? Q_U8 : Q_S8, bw, acc + i * m * n);
  }
  /* sums of the stored values: the core's identity subtracts zero points */
  if (st == XO_OK) st = xo_zp_matmul(&pl->h.p, args, 0, k, 0, acc);
  if (st == XO_OK && pl->h.p.out_dtype == XO_DTYPE_S32) {
    memcpy(args->out, acc, (size_t)total * 4);
  } else if (st == XO_OK && pl->h.p.requant) {
    st = requantize_out(acc, total, args->scale[0][0], args->scale[1], per_ch,
                        n, 1, args->bias, args, args->out);
  } else if (st == XO_OK) {
    float sa = args->scale[0][0];
    float so = output_scale(acc, total, sa, args->scale[1], per_ch, n, 1);
    st = requantize_block(p->batch * m, n, acc, sa, args->scale[1], per_ch, 0,
                          0, so, args->out);
  }
  free(bw);
  free(acc);
  return st;
}

static xo_status npu_conv(const xo_im2col_plan *pl, const xo_args *args) {
  const xo_conv_desc *p = &pl->h.p.conv;
  int64_t cg = p->in_c / p->groups, ocg = p->out_c / p->groups;
  int64_t r = pl->rows, cols = pl->cols, hw = p->in_h * p->in_w;
  int64_t total = p->in_n * p->out_c * cols;
  int w4 = pl->h.p.prec == XO_PREC_INT4;
  int per_ch = pl->h.p.b_granularity == XO_Q_AXIS;
  int32_t za = pl->h.p.a_asym ? args->zero_point[0][0] : 0;
  int32_t *col = NULL, *x32 = NULL, *acc = NULL;
  xo_status st = xo_alloc(r * cols, sizeof(int32_t), (void **)&col);
  if (st == XO_OK) st = xo_alloc(cg * hw, sizeof(int32_t), (void **)&x32);
  if (st == XO_OK) st = xo_alloc(total, sizeof(int32_t), (void **)&acc);
  for (int64_t nn = 0; nn < p->in_n && st == XO_OK; nn++)
    for (int64_t g = 0; g < p->groups; g++) {
      int64_t x0 = (nn * p->in_c + g * cg) * hw;
      for (int64_t e = 0; e < cg * hw; e++)
        x32[e] = q_at(args->in[0], x0 + e, pl->h.p.a_asym ? Q_U8 : Q_S8);
      /* padding holds x's zero point: a padded tap is x - za = 0 */
      for (int64_t e = 0; e < r * cols; e++)
        col[e] = pl->map[e] < 0 ? za : x32[pl->map[e]];
      mac(ocg, cols, r, args->in[1], g * ocg * r, w4 ? Q_S4 : Q_S8, col,
          acc + (nn * p->out_c + g * ocg) * cols);
    }
  if (st == XO_OK) st = xo_zp_conv(&pl->h.p, args, 0, acc);
  if (st == XO_OK && pl->h.p.out_dtype == XO_DTYPE_S32) {
    memcpy(args->out, acc, (size_t)total * 4);
  } else if (st == XO_OK && pl->h.p.requant) {
    st = requantize_out(acc, total, args->scale[0][0], args->scale[1], per_ch,
                        p->out_c, cols, pl->h.p.has_bias ? args->bias : NULL,
                        args, args->out);
  } else if (st == XO_OK) {
    float sa = args->scale[0][0];
    float so =
        output_scale(acc, total, sa, args->scale[1], per_ch, p->out_c, cols);
    /* channel of element e is (e / cols) % OC: requantize per image */
    for (int64_t nn = 0; nn < p->in_n && st == XO_OK; nn++)
      st = requantize_block(p->out_c, cols, acc + nn * p->out_c * cols, sa,
                            args->scale[1], per_ch, 1, 0, so,
                            (float *)args->out + nn * p->out_c * cols);
    if (st == XO_OK && pl->h.p.has_bias)
      xo_add_bias_nchw(&pl->h.p, args->bias, args->out);
  }
  free(col);
  free(x32);
  free(acc);
  return st;
}

static xo_status npu_attention(const xo_im2col_plan *pl, const xo_args *args) {
  return xo_attn_s8_scalar(&pl->h.p, args); /* the scheme v2, as the core's */
}

/* A run: the op's bit-exact results, then the model's time for them. */
static xo_status run_with(xo_status (*op)(const xo_im2col_plan *,
                                          const xo_args *),
                          void *v, const xo_args *args, xo_run_stats *stats) {
  const xo_im2col_plan *pl = v;
  const npu_profile *prof = &profiles[pl->h.device];
  xo_status st = op(pl, args);
  double compute = args->ops / (prof->tops * 1e12 * prof->util);
  double memory = args->bytes / (prof->gbs * 1e9);
  stats->kernel_s = (compute > memory ? compute : memory) + prof->latency;
  stats->modeled = 1;
  return st;
}

static xo_status npu_run_matmul(void *v, const xo_args *args,
                                xo_run_stats *stats) {
  return run_with(npu_matmul, v, args, stats);
}

static xo_status npu_run_conv(void *v, const xo_args *args,
                              xo_run_stats *stats) {
  return run_with(npu_conv, v, args, stats);
}

static xo_status npu_run_attention(void *v, const xo_args *args,
                                   xo_run_stats *stats) {
  return run_with(npu_attention, v, args, stats);
}

static void npu_describe_plan(const void *v, char *impl, size_t n) {
  const xo_plan_head *pl = v;
  const npu_profile *p = &profiles[pl->device];
  snprintf(impl, n,
           "npusim:%s_%s (modeled: max(ops / (%g TOPS x %.0f%%), bytes / %g "
           "GB/s) + %.0f us; %s rounding)",
           xo_op_name(pl->p.op), xo_precision_name((xo_precision)pl->p.prec),
           p->tops, p->util * 100, p->gbs, p->latency * 1e6,
           single_rounding ? "single" : "gemmlowp double");
}

/* zero points through the core's identity (xo_zp_*), on sums of the
 * stored values; quantized outputs natively (requantize_out); group-wise
 * scales are not modeled */
enum {
  NPU_TAKES = XO_TAKES_ASYM_A | XO_TAKES_ASYM_B | XO_TAKES_S32 |
  XO_TAKES_REQUANT
};
const xo_backend xo_backend_npusim = {
    .name = "npusim",
    .init = npu_init,
    .device_count = npu_count,
    .describe = npu_describe,
    .ops[XO_OP_MATMUL] = {.run = npu_run_matmul, .takes = NPU_TAKES},
    .ops[XO_OP_CONV2D] = {.plan = xo_im2col_plan_make,
                          .run = npu_run_conv,
                          .takes = NPU_TAKES},
    .ops[XO_OP_ATTENTION] = {.run = npu_run_attention},
    .plan_size = sizeof(xo_im2col_plan),
    .plan_release = xo_im2col_plan_release,
    .plan_describe = npu_describe_plan,
};
