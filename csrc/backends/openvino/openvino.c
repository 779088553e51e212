/* openvino.c - the vendor-runtime path: OpenVINO's C API, dlopen'ed.
 *
 * Each op becomes an OpenVINO IR built in C (ir.c) and compiled for the
 * device; the same code serves openvino:CPU here and openvino:NPU where an
 * NPU driver exists, only the device string differs. Weights are graph
 * constants, so a plan keeps the model it compiled for the last weights it
 * saw (keyed by a hash of every constant) and recompiles only when they
 * change; compile time is reported apart from the inference time.
 * int8 uses the QDQ form OpenVINO's low-precision transformations turn into
 * int8 execution: i8 tensors, Convert, Multiply by the scale. Vendors may
 * compute int8 layers in other precisions, so accumulators are not promised
 * bit-exact (exact_integer = 0). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/semantics.h"
#include "ir.h"
#include "ov_api.h"

static ov_api OV;
static void *handle;
static ov_core_t *core;

enum { MAX_DEV = 8 };
typedef struct ov_dev {
  char name[32]; /* OpenVINO's device name: CPU, GPU.0, NPU */
  char full[128], caps[128];
  int present;
  char reason[200];
} ov_dev;
static ov_dev devs[MAX_DEV];
static int ndevs;

static xo_status ov_err(const char *what, ov_status_e s) {
  const char *msg = OV.get_last_err_msg ? OV.get_last_err_msg() : NULL;
  return xo_fail(XO_ERR_RUNTIME, "openvino: %s failed (status %d)%s%s", what, s,
                 msg ? ": " : "", msg ? msg : "");
}

static xo_status ov_init(void) {
  static const xo_dl_lib lib = {
      .what = "OpenVINO's C API",
      .backend = "openvino",
      .env = "XPUOPS_OPENVINO_LIB",
      .wheel = {"openvino/libs/libopenvino_c.so*"},
      .sonames = {"libopenvino_c.so"},
      .hint = "`pip install openvino`",
  };
  const xo_dl_sym syms[] = {
      {"ov_core_create", (void **)&OV.core_create, 0},
      {"ov_core_free", (void **)&OV.core_free, 0},
      {"ov_core_get_available_devices", (void **)&OV.core_get_available_devices,
       0},
      {"ov_available_devices_free", (void **)&OV.available_devices_free, 0},
      {"ov_core_get_property", (void **)&OV.core_get_property, 0},
      {"ov_free", (void **)&OV.free, 0},
      {"ov_core_read_model_from_memory_buffer",
       (void **)&OV.core_read_model_from_memory_buffer, 0},
      {"ov_core_compile_model", (void **)&OV.core_compile_model, 0},
      {"ov_compiled_model_create_infer_request",
       (void **)&OV.compiled_model_create_infer_request, 0},
      {"ov_infer_request_set_input_tensor_by_index",
       (void **)&OV.infer_request_set_input_tensor_by_index, 0},
      {"ov_infer_request_set_output_tensor_by_index",
       (void **)&OV.infer_request_set_output_tensor_by_index, 0},
      {"ov_infer_request_infer", (void **)&OV.infer_request_infer, 0},
      {"ov_tensor_create_from_host_ptr",
       (void **)&OV.tensor_create_from_host_ptr, 0},
      {"ov_tensor_free", (void **)&OV.tensor_free, 0},
      {"ov_shape_create", (void **)&OV.shape_create, 0},
      {"ov_shape_free", (void **)&OV.shape_free, 0},
      {"ov_model_free", (void **)&OV.model_free, 0},
      {"ov_compiled_model_free", (void **)&OV.compiled_model_free, 0},
      {"ov_infer_request_free", (void **)&OV.infer_request_free, 0},
      {"ov_get_last_err_msg", (void **)&OV.get_last_err_msg, 0},
  };
  xo_status st = xo_dl_open(&lib, syms, sizeof syms / sizeof syms[0], &handle);
  if (st != XO_OK) return st;
  ov_status_e s = OV.core_create(&core);
  if (s != 0)
    return xo_fail(XO_ERR_UNAVAILABLE, "ov_core_create failed (%d)", s);
  ov_available_devices_t list = {0};
  if (OV.core_get_available_devices(core, &list) == 0) {
    for (size_t i = 0; i < list.size && ndevs < MAX_DEV; i++) {
      ov_dev *d = &devs[ndevs++];
      snprintf(d->name, sizeof d->name, "%s", list.devices[i]);
      d->present = 1;
      char *v = NULL;
      if (OV.core_get_property(core, d->name, "FULL_DEVICE_NAME", &v) == 0) {
        snprintf(d->full, sizeof d->full, "%s", v);
        OV.free(v);
      }
      if (OV.core_get_property(core, d->name, "OPTIMIZATION_CAPABILITIES",
                               &v) == 0) {
        snprintf(d->caps, sizeof d->caps, "%s", v);
        OV.free(v);
      }
    }
    OV.available_devices_free(&list);
  }
  /* the kinds this path is for, listed with the reason when absent */
  const char *want[] = {"NPU", "GPU"};
  for (int w = 0; w < 2; w++) {
    int found = 0;
    for (int i = 0; i < ndevs; i++)
      found |= strncmp(devs[i].name, want[w], 3) == 0;
    if (found || ndevs >= MAX_DEV) continue;
    ov_dev *d = &devs[ndevs++];
    snprintf(d->name, sizeof d->name, "%s", want[w]);
    snprintf(d->reason, sizeof d->reason,
             "OpenVINO's %s plugin finds no device here: %s", want[w],
             w == 0 ? "no NPU, or its driver (linux-npu-driver / Level Zero) "
                      "is not installed"
                    : "no GPU with an OpenCL or Level Zero driver");
  }
  return XO_OK;
}

/* f16 arithmetic of its own: the plugin says FP16 and, on a CPU, the CPU
 * has AVX512-FP16 or AMX-FP16. Without them the CPU plugin, asked for f16
 * inference precision, rounds the operands to bf16 and still reports f16
 * (54 dB where f16 gives 60 on N(0,1) matmuls), so fp16 is then compiled
 * with f32 inference precision and labelled emulated. */
static int native_f16(int index) {
  const ov_dev *d = &devs[index];
  if (strstr(d->caps, "FP16") == NULL) return 0;
  if (strncmp(d->name, "CPU", 3) != 0) return 1;
  xo_cpu_features f = xo_cpu_features_get();
  return f.avx512_fp16 || f.amx_fp16;
}

/* At exit, with every plan (and so every compiled model) gone. */
static void ov_fini(void) {
  if (core) OV.core_free(core);
  core = NULL;
}

static int ov_count(void) {
  return ndevs;
}

static xo_status ov_describe(int index, xo_device_desc *desc) {
  const ov_dev *d = &devs[index];
  snprintf(desc->name, sizeof desc->name, "openvino:%s", d->name);
  snprintf(desc->kind, sizeof desc->kind, "%s",
           strncmp(d->name, "NPU", 3) == 0   ? "npu"
           : strncmp(d->name, "GPU", 3) == 0 ? "gpu"
                                             : "cpu");
  if (!d->present) return xo_fail(XO_ERR_UNAVAILABLE, "%s", d->reason);
  snprintf(desc->full_name, sizeof desc->full_name, "OpenVINO %s: %s [%s]",
           d->name, d->full, d->caps);
  desc->exact_integer = 0; /* the plugin chooses int8 arithmetic itself */
  if (strncmp(d->name, "CPU", 3) == 0) {
    desc->follows_threads = 1;
    snprintf(desc->threads, sizeof desc->threads,
             "follows set_num_threads (INFERENCE_NUM_THREADS at compile; a "
             "plan compiled for another count is recompiled on its next run)");
  } else {
    snprintf(desc->threads, sizeof desc->threads,
             "the device's own; set_num_threads is for CPU pools");
  }
  desc->precisions[XO_PREC_FP32] = XO_SUPPORT_NATIVE;
  desc->precisions[XO_PREC_FP16] =
      native_f16(index) ? XO_SUPPORT_NATIVE : XO_SUPPORT_EMULATED;
  desc->precisions[XO_PREC_INT8] =
      strstr(d->caps, "INT8") ? XO_SUPPORT_NATIVE : XO_SUPPORT_EMULATED;
  desc->precisions[XO_PREC_INT4] = XO_SUPPORT_EMULATED; /* s4 unpacked */
  /* the CPU plugin computes on this CPU's cores: their peaks */
  if (strcmp(desc->kind, "cpu") == 0) xo_cpu_peaks_fill(desc);
  return XO_OK;
}

static xo_status ov_supports_conv(int index, const xo_problem *p) {
  const xo_conv_desc *c = &p->conv;
  (void)index;
  /* Found by `make fuzz`: for these the CPU plugin's int8 path infers a
   * wrong output shape (e.g. 3x3 for a 1x1 input, stride 2, pad 1) and
   * inference fails. Refused up front rather than failing mid-run. */
  if (xo_precision_is_integer((xo_precision)p->prec) && c->kh == 1 &&
      c->kw == 1 && (c->stride[0] > 1 || c->stride[1] > 1) &&
      (c->pad_begin[0] || c->pad_begin[1] || c->pad_end[0] || c->pad_end[1]))
    return xo_fail(XO_ERR_UNSUPPORTED,
                   "openvino: an int8/int4 1x1 convolution with stride > 1 "
                   "and padding gets a wrong output shape from the CPU "
                   "plugin; use onednn, ref or npusim, or fp32");
  return XO_OK;
}

static xo_status ov_supports_attention(int index, const xo_problem *p) {
  (void)index;
  if (xo_precision_is_integer((xo_precision)p->prec))
    return xo_fail(XO_ERR_UNSUPPORTED,
                   "openvino: the int8 attention scheme (u8 P) is not "
                   "expressed as an OpenVINO graph; use onednn, ref or npusim");
  return XO_OK;
}

typedef struct ov_plan ov_plan;

/* Where a graph's bind puts the output among its tensors (inputs before). */
enum { OV_OUT = 4 };

/* One op as an OpenVINO graph: how it is built, which constants it bakes
 * in (a new value means a new model), how a call's tensors bind to it, and
 * what its result needs afterwards. */
typedef struct ov_graph {
  xo_status (*build)(ov_plan *pl, const xo_args *args, ir *g);
  uint64_t (*constants)(const ov_plan *pl, const xo_args *args);
  /* wrap the inputs into t[0..*nin) and the output into t[OV_OUT] */
  xo_status (*bind)(const ov_plan *pl, const xo_args *args, int et,
                    ov_tensor_t **t, int *nin);
  void (*finish)(const ov_plan *pl, const xo_args *args); /* (optional) */
  /* 1: the graph computes in f32 whatever the operands (f16 converted in
   * the graph), so it compiles with f32 inference precision */
  int f32_inside;
} ov_graph;

struct ov_plan {
  xo_plan_head h; /* first: the core's plan head */
  const ov_graph *graph;
  int index;
  pthread_mutex_t lock; /* one infer request: one run at a time */
  int lock_ready;
  uint64_t key; /* hash of the constants compiled in */
  ov_compiled_model_t *compiled;
  ov_infer_request_t *request;
  /* The constants' bytes the compiled model was read from: the CPU plugin
   * keeps pointing into them (an attention mask is used in place), so they
   * live as long as the model. Freeing them at compile time let the next
   * graph's constants overwrite this one's mask. */
  uint8_t *weights;
  double compile_s; /* the last compile, reported with that run */
  /* fp16 without f16 arithmetic: f16 operands widened to f32 in the graph,
   * f32 inference precision */
  int f16_in_f32;
  /* attention with kv_lengths or a mask: the additive mask input [B, 1 or
   * H, Lq, Lk], built from the rules at each run (runs hold the lock) */
  float *mask;
  /* INFERENCE_NUM_THREADS the model was compiled with (CPU): a compiled
   * model keeps its thread count, so a new set_num_threads recompiles */
  int threads;
};

static void release_model(ov_plan *pl) {
  if (pl->request) OV.infer_request_free(pl->request);
  if (pl->compiled) OV.compiled_model_free(pl->compiled);
  free(pl->weights);
  pl->request = NULL;
  pl->compiled = NULL;
  pl->weights = NULL;
}

/* Release a plan's model, also of a plan whose function failed. */
static void ov_plan_release(void *v) {
  ov_plan *pl = v;
  release_model(pl);
  free(pl->mask);
  if (pl->lock_ready) pthread_mutex_destroy(&pl->lock);
}

static uint64_t fnv(uint64_t h, const void *data, size_t n) {
  const unsigned char *b = data;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

static const char *et_of(xo_precision prec) {
  return prec == XO_PREC_FP16            ? "f16"
         : xo_precision_is_integer(prec) ? "i8"
                                         : "f32";
}

static size_t es_of(xo_precision prec) {
  return prec == XO_PREC_FP16 ? 2 : xo_precision_is_integer(prec) ? 1 : 4;
}

/* f32 <- Convert(x) * scale (a constant broadcastable to x). */
static ir_port dequant(ir *g, ir_port x, const float *scale, int rank,
                       const int64_t *sdims, size_t n) {
  char attrs[64];
  snprintf(attrs, sizeof attrs, "destination_type=\"f32\"");
  ir_port f = x;
  f.et = "f32";
  f = ir_op(g, "Convert", "opset1", attrs, &x, 1, f);
  ir_port s = ir_const(g, "f32", rank, sdims, scale, n * 4);
  ir_port in[2] = {f, s};
  return ir_op(g, "Multiply", "opset1", "auto_broadcast=\"numpy\"", in, 2, f);
}

static ir_port to_f32(ir *g, ir_port y) {
  if (strcmp(y.et, "f32") == 0) return y;
  ir_port o = y;
  o.et = "f32";
  return ir_op(g, "Convert", "opset1", "destination_type=\"f32\"", &y, 1, o);
}

/* Constant weights: int4 unpacked to s8 (an exact widening). */
static const void *weights_bytes(const xo_problem *p, const void *w, int64_t n,
                                 int8_t **tmp) {
  *tmp = NULL;
  if (p->prec != XO_PREC_INT4) return w;
  if (xo_alloc(n, 1, (void **)tmp) != XO_OK) return NULL;
  xo_unpack_int4(w, n, 0, *tmp);
  return *tmp;
}

static xo_status build_matmul(ov_plan *pl, const xo_args *args, ir *g) {
  const xo_problem *pp = &pl->h.p;
  const xo_matmul_desc *p = &pp->mm;
  xo_precision prec = (xo_precision)pp->prec;
  int integer = xo_precision_is_integer(prec);
  int64_t nb = p->batch_a > p->batch_b ? p->batch_a : p->batch_b;
  int64_t ad[3] = {p->batch_a, p->m, p->k}, bd[3] = {p->batch_b, p->k, p->n};
  int64_t od[3] = {nb, p->m, p->n}, one[3] = {1, 1, 1};
  int64_t sd[3] = {1, 1, pp->b_granularity == XO_Q_AXIS ? p->n : 1};
  int8_t *tmp = NULL;
  const void *w =
      weights_bytes(pp, args->in[1], p->batch_b * p->k * p->n, &tmp);
  if (w == NULL) return xo_fail(XO_ERR_NO_MEMORY, "openvino: no memory");
  ir_port a = ir_param(g, et_of(prec), 3, ad);
  ir_port b = ir_const(g, et_of(prec), 3, bd, w,
                       (size_t)(p->batch_b * p->k * p->n) * es_of(prec));
  free(tmp);
  if (pl->f16_in_f32) { /* exact widening: the arithmetic is f32 */
    a = to_f32(g, a);
    b = to_f32(g, b);
  }
  if (integer) {
    a = dequant(g, a, args->scale[0], 3, one, 1);
    b = dequant(g, b, args->scale[1], 3, sd, (size_t)sd[2]);
  }
  ir_port in[2] = {a, b};
  ir_port y = ir_op(
      g, "MatMul", "opset1", "transpose_a=\"false\" transpose_b=\"false\"", in,
      2, ir_shape(integer || pl->f16_in_f32 ? "f32" : et_of(prec), 3, od));
  ir_result(g, to_f32(g, y));
  return XO_OK;
}

static xo_status build_conv(ov_plan *pl, const xo_args *args, ir *g) {
  const xo_problem *pp = &pl->h.p;
  const xo_conv_desc *p = &pp->conv;
  xo_precision prec = (xo_precision)pp->prec;
  int integer = xo_precision_is_integer(prec);
  int64_t G = p->groups, cg = p->in_c / G, ocg = p->out_c / G;
  int64_t xd[4] = {p->in_n, p->in_c, p->in_h, p->in_w};
  int64_t wd5[5] = {G, ocg, cg, p->kh, p->kw},
          wd4[4] = {p->out_c, cg, p->kh, p->kw};
  int64_t od[4] = {p->in_n, p->out_c, p->out_h, p->out_w};
  int64_t one4[4] = {1, 1, 1, 1}, bd[4] = {1, p->out_c, 1, 1};
  int64_t s5[5] = {G, ocg, 1, 1, 1}, s4[4] = {p->out_c, 1, 1, 1};
  int64_t nw = p->out_c * cg * p->kh * p->kw;
  int8_t *tmp = NULL;
  const void *wb = weights_bytes(pp, args->in[1], nw, &tmp);
  if (wb == NULL) return xo_fail(XO_ERR_NO_MEMORY, "openvino: no memory");
  ir_port x = ir_param(g, et_of(prec), 4, xd);
  ir_port w = ir_const(g, et_of(prec), G > 1 ? 5 : 4, G > 1 ? wd5 : wd4, wb,
                       (size_t)nw * es_of(prec));
  free(tmp);
  if (pl->f16_in_f32) { /* exact widening: the arithmetic is f32 */
    x = to_f32(g, x);
    w = to_f32(g, w);
  }
  if (integer) {
    int per = pp->b_granularity == XO_Q_AXIS;
    int64_t ones5[5] = {1, 1, 1, 1, 1};
    x = dequant(g, x, args->scale[0], 4, one4, 1);
    w = dequant(g, w, args->scale[1], G > 1 ? 5 : 4,
                per ? (G > 1 ? s5 : s4) : (G > 1 ? ones5 : one4),
                per ? (size_t)p->out_c : 1);
  }
  char attrs[256];
  snprintf(
      attrs, sizeof attrs,
      "strides=\"%lld,%lld\" dilations=\"%lld,%lld\" pads_begin=\"%lld,%lld\" "
      "pads_end=\"%lld,%lld\" auto_pad=\"explicit\"",
      (long long)p->stride[0], (long long)p->stride[1], (long long)p->dil[0],
      (long long)p->dil[1], (long long)p->pad_begin[0],
      (long long)p->pad_begin[1], (long long)p->pad_end[0],
      (long long)p->pad_end[1]);
  ir_port in[2] = {x, w};
  ir_port y = ir_op(
      g, G > 1 ? "GroupConvolution" : "Convolution", "opset1", attrs, in, 2,
      ir_shape(integer || pl->f16_in_f32 ? "f32" : et_of(prec), 4, od));
  y = to_f32(g, y);
  if (pp->has_bias) {
    ir_port bias = ir_const(g, "f32", 4, bd, args->bias, (size_t)p->out_c * 4);
    ir_port add[2] = {y, bias};
    y = ir_op(g, "Add", "opset1", "auto_broadcast=\"numpy\"", add, 2, y);
  }
  ir_result(g, y);
  return XO_OK;
}

/* k or v with each kv head repeated for the h / hkv query heads that read
 * it, consecutively: the head map (rules.h xo_rule_kv_head) as a graph. */
static ir_port expand_heads(ir *g, ir_port t, const xo_attn_desc *p,
                            int64_t hd) {
  if (p->h == p->hkv) return t;
  int64_t rep = p->h / p->hkv;
  int64_t s5[5] = {p->b, p->hkv, 1, p->lk, hd},
          b5[5] = {p->b, p->hkv, rep, p->lk, hd};
  int64_t s4[4] = {p->b, p->h, p->lk, hd}, n5[1] = {5}, n4[1] = {4};
  ir_port c5 = ir_const(g, "i64", 1, n5, s5, sizeof s5);
  ir_port r1[2] = {t, c5};
  ir_port x = ir_op(g, "Reshape", "opset1", "special_zero=\"false\"", r1, 2,
                    ir_shape(t.et, 5, s5));
  ir_port cb = ir_const(g, "i64", 1, n5, b5, sizeof b5);
  ir_port r2[2] = {x, cb};
  x = ir_op(g, "Broadcast", "opset3", "mode=\"numpy\"", r2, 2,
            ir_shape(t.et, 5, b5));
  ir_port c4 = ir_const(g, "i64", 1, n4, s4, sizeof s4);
  ir_port r3[2] = {x, c4};
  return ir_op(g, "Reshape", "opset1", "special_zero=\"false\"", r3, 2,
               ir_shape(t.et, 4, s4));
}

/* The heads the mask input spans: H when the user's mask varies over
 * heads, else 1 (broadcast by the SDPA). */
static int64_t mask_heads(const xo_attn_desc *p) {
  return p->mask == 2 ? p->h : 1;
}

/* 1: the mask is an input filled per run (kv_lengths or a user mask), 0: a
 * constant of the rules alone. */
static int mask_input(const xo_attn_desc *p) {
  return p->kv_lengths || p->mask;
}

/* The additive mask [nb, nh, lq, lk] from the rules (and the user's mask):
 * hidden keys get a large finite negative, so exp gives exactly 0 and no
 * -inf - -inf makes a NaN; a row that sees nothing is zeroed afterwards. */
static void fill_mask(const xo_problem *pr, const xo_args *args, int64_t nb,
                      int64_t nh, float *mask) {
  const xo_attn_desc *p = &pr->attn;
  for (int64_t b = 0; b < nb; b++)
    for (int64_t hh = 0; hh < nh; hh++)
      for (int64_t i = 0; i < p->lq; i++) {
        float *mr = mask + ((b * nh + hh) * p->lq + i) * p->lk;
        xo_attn_row row;
        xo_attn_row_get(pr, args, b * p->h + hh, i, &row);
        for (int64_t j = 0; j < p->lk; j++) mr[j] = 0.0f;
        xo_attn_scores_f32(p, &row, 0, p->lk, mr);
        for (int64_t j = 0; j < p->lk; j++)
          if (mr[j] == -INFINITY) mr[j] = -1e30f;
      }
}

/* Attention with a softcap, which OpenVINO's SDPA has no input for, as
 * the graph of its definition (DESIGN.md, attention arguments): S = Q Kᵀ
 * * scale, S = c * tanh(S / c), S + mask, softmax over the keys, P V. q,
 * k, v are f32 with k and v already expanded to the h query heads; mask
 * broadcasts to [b, h, lq, lk]. Unlike the SDPA, whose kernel may fuse
 * the softmax, this graph holds the whole [b, h, lq, lk] score tensor. */
static ir_port decomposed_attention(ir *g, ir_port q, ir_port k, ir_port v,
                                    ir_port mask, ir_port scale,
                                    const xo_attn_desc *p) {
  const char *bc = "auto_broadcast=\"numpy\"";
  int64_t sd[4] = {p->b, p->h, p->lq, p->lk},
          od[4] = {p->b, p->h, p->lq, p->dv};
  ir_port s4 = ir_shape("f32", 4, sd);
  ir_port qk[2] = {q, k};
  ir_port s = ir_op(g, "MatMul", "opset1",
                    "transpose_a=\"false\" transpose_b=\"true\"", qk, 2, s4);
  ir_port ms[2] = {s, scale};
  s = ir_op(g, "Multiply", "opset1", bc, ms, 2, s4);
  float cap = (float)p->softcap;
  ir_port c = ir_const(g, "f32", 0, NULL, &cap, sizeof cap);
  ir_port dv[2] = {s, c};
  s = ir_op(g, "Divide", "opset1", bc, dv, 2, s4);
  s = ir_op(g, "Tanh", "opset1", NULL, &s, 1, s4);
  ir_port mc[2] = {s, c};
  s = ir_op(g, "Multiply", "opset1", bc, mc, 2, s4);
  ir_port am[2] = {s, mask};
  s = ir_op(g, "Add", "opset1", bc, am, 2, s4);
  s = ir_op(g, "SoftMax", "opset8", "axis=\"-1\"", &s, 1, s4);
  ir_port pv[2] = {s, v};
  return ir_op(g, "MatMul", "opset1",
               "transpose_a=\"false\" transpose_b=\"false\"", pv, 2,
               ir_shape("f32", 4, od));
}

static xo_status build_attention(ov_plan *pl, const xo_args *args, ir *g) {
  const xo_attn_desc *p = &pl->h.p.attn;
  xo_precision prec = (xo_precision)pl->h.p.prec;
  (void)args; /* no constant comes from the call */
  /* fp16 inputs are converted and attention runs in f32 (fp16 operands, f32
   * arithmetic, as the contract says) */
  const char *et = et_of(prec);
  int64_t qd[4] = {p->b, p->h, p->lq, p->d},
          kd[4] = {p->b, p->hkv, p->lk, p->d},
          vd[4] = {p->b, p->hkv, p->lk, p->dv},
          od[4] = {p->b, p->h, p->lq, p->dv};
  ir_port q = to_f32(g, ir_param(g, et, 4, qd));
  ir_port k = expand_heads(g, to_f32(g, ir_param(g, et, 4, kd)), p, p->d);
  ir_port v = expand_heads(g, to_f32(g, ir_param(g, et, 4, vd)), p, p->dv);
  ir_port mk;
  if (mask_input(p)) {
    int64_t md[4] = {p->b, mask_heads(p), p->lq, p->lk};
    mk = ir_param(g, "f32", 4, md);
  } else {
    /* the rules alone: the same for every batch and head, one constant */
    int64_t md[4] = {1, 1, p->lq, p->lk};
    size_t n = (size_t)(p->lq * p->lk);
    float *mask = malloc(n * sizeof(float) + 8);
    if (mask == NULL) return xo_fail(XO_ERR_NO_MEMORY, "openvino: no memory");
    xo_args none;
    memset(&none, 0, sizeof none);
    fill_mask(&pl->h.p, &none, 1, 1, mask);
    mk = ir_const(g, "f32", 4, md, mask, n * sizeof(float));
    free(mask);
  }
  float scale = (float)p->scale;
  ir_port sc = ir_const(g, "f32", 0, NULL, &scale, sizeof scale);
  ir_port y;
  if (p->softcap > 0) {
    y = decomposed_attention(g, q, k, v, mk, sc, p);
  } else {
    ir_port in[5] = {q, k, v, mk, sc};
    y = ir_op(g, "ScaledDotProductAttention", "opset13", "causal=\"false\"", in,
              5, ir_shape("f32", 4, od));
  }
  ir_result(g, y);
  return XO_OK;
}

/* Hash of the constants a graph bakes in: the nw weights (b or w), the
 * ns weight scales and a's scale when integer, the bias. */
static uint64_t hash_constants(const ov_plan *pl, const xo_args *args,
                               int64_t nw, int64_t ns, int64_t nbias) {
  xo_precision prec = (xo_precision)pl->h.p.prec;
  uint64_t h = 1469598103934665603ull;
  size_t bytes =
      prec == XO_PREC_INT4 ? (size_t)(nw + 1) / 2 : (size_t)nw * es_of(prec);
  if (args->weight_token) /* an immutable QTensor: its token names it */
    h = fnv(h, &args->weight_token, sizeof args->weight_token);
  else
    h = fnv(h, args->in[1], bytes);
  if (xo_precision_is_integer(prec)) {
    h = fnv(h, args->scale[0], 4);
    h = fnv(h, args->scale[1], (size_t)ns * 4);
  }
  if (pl->h.p.has_bias) h = fnv(h, args->bias, (size_t)nbias * 4);
  return h;
}

static uint64_t constants_matmul(const ov_plan *pl, const xo_args *args) {
  const xo_matmul_desc *p = &pl->h.p.mm;
  int64_t ns = pl->h.p.b_granularity == XO_Q_AXIS ? p->n : 1;
  return hash_constants(pl, args, p->batch_b * p->k * p->n, ns, 0);
}

static uint64_t constants_conv(const ov_plan *pl, const xo_args *args) {
  const xo_conv_desc *p = &pl->h.p.conv;
  int64_t ns = pl->h.p.b_granularity == XO_Q_AXIS ? p->out_c : 1;
  int64_t nw = p->out_c * (p->in_c / p->groups) * p->kh * p->kw;
  return hash_constants(pl, args, nw, ns, p->out_c);
}

/* attention bakes in only the plan's own mask */
static uint64_t constants_none(const ov_plan *pl, const xo_args *args) {
  (void)pl;
  (void)args;
  return 1469598103934665603ull;
}

static const char *hint_of(const ov_plan *pl) {
  return pl->h.p.prec == XO_PREC_FP16 && !pl->graph->f32_inside &&
                 !pl->f16_in_f32
             ? "f16"
             : "f32";
}

static int is_cpu(int index) {
  return strncmp(devs[index].name, "CPU", 3) == 0;
}

static xo_status compile(ov_plan *pl, const xo_args *args, int nthreads) {
  ir g = {0};
  char *xml = NULL;
  size_t len = 0;
  ov_model_t *model = NULL;
  ov_tensor_t *wt = NULL;
  xo_status st = pl->graph->build(pl, args, &g);
  if (st == XO_OK) st = ir_finish(&g, &xml, &len);
  if (st != XO_OK) goto done;
  int64_t wdim = (int64_t)(g.nweights ? g.nweights : 1);
  ov_shape_t shape = {0};
  OV.shape_create(1, &wdim, &shape);
  static uint8_t none[8];
  ov_status_e s = OV.tensor_create_from_host_ptr(
      16 /* U8 */, shape, g.weights ? g.weights : none, &wt);
  OV.shape_free(&shape);
  if (s == 0)
    s = OV.core_read_model_from_memory_buffer(core, xml, len, wt, &model);
  if (s != 0) {
    st = ov_err("reading the generated IR", s);
    goto done;
  }
  release_model(pl);
  const char *dev = devs[pl->index].name;
  char threads[16];
  snprintf(threads, sizeof threads, "%d", nthreads);
  const char *hint = hint_of(pl);
  /* XPUOPS_OPENVINO_CONFIG="KEY=VALUE": one extra compile property (e.g.
   * PERFORMANCE_HINT=LATENCY), passed through unchecked; OpenVINO rejects
   * a bad one, which is also how the tests make a compile fail mid-run. */
  char key[64] = "";
  const char *value = "", *extra = getenv("XPUOPS_OPENVINO_CONFIG");
  size_t extra_pairs = 0; /* the pair always travels; OpenVINO reads only
                             the count it is given */
  if (extra && strchr(extra, '=') && strlen(extra) < sizeof key) {
    snprintf(key, sizeof key, "%s", extra);
    char *eq = strchr(key, '=');
    *eq = '\0';
    value = eq + 1;
    extra_pairs = 1;
  }
  /* DYNAMIC_QUANTIZATION_GROUP_SIZE=0: the CPU plugin would otherwise
   * requantize activations per group of K on its own (a second int8
   * rounding: 45 dB against the scheme's twin instead of ~136) */
  if (strncmp(dev, "CPU", 3) == 0)
    s = OV.core_compile_model(
        core, model, dev, 2 * (3 + extra_pairs), &pl->compiled,
        "INFERENCE_PRECISION_HINT", hint, "INFERENCE_NUM_THREADS", threads,
        "DYNAMIC_QUANTIZATION_GROUP_SIZE", "0", key, value);
  else
    s = OV.core_compile_model(core, model, dev, 2 * (1 + extra_pairs),
                              &pl->compiled, "INFERENCE_PRECISION_HINT", hint,
                              key, value);
  if (s == 0)
    s = OV.compiled_model_create_infer_request(pl->compiled, &pl->request);
  if (s != 0) {
    st = ov_err("compiling the model", s);
    release_model(pl);
  } else {
    pl->weights = g.weights; /* the model's constants: kept with it */
    g.weights = NULL;
    /* read without the lock by ov_plan_describe */
    __atomic_store_n(&pl->threads, nthreads, __ATOMIC_RELAXED);
  }
done:
  if (model) OV.model_free(model);
  if (wt) OV.tensor_free(wt);
  free(xml);
  ir_free(&g);
  return st;
}

static xo_status wrap(int et, int rank, const int64_t *dims, const void *ptr,
                      ov_tensor_t **t) {
  ov_shape_t shape = {0};
  ov_status_e s = OV.shape_create(rank, dims, &shape);
  if (s == 0) s = OV.tensor_create_from_host_ptr(et, shape, (void *)ptr, t);
  OV.shape_free(&shape);
  return s == 0 ? XO_OK : ov_err("wrapping a tensor", s);
}

static xo_status bind_matmul(const ov_plan *pl, const xo_args *args, int et,
                             ov_tensor_t **t, int *nin) {
  const xo_matmul_desc *p = &pl->h.p.mm;
  int64_t nb = p->batch_a > p->batch_b ? p->batch_a : p->batch_b;
  int64_t ad[3] = {p->batch_a, p->m, p->k}, od[3] = {nb, p->m, p->n};
  xo_status st = wrap(et, 3, ad, args->in[0], &t[(*nin)++]);
  if (st == XO_OK) st = wrap(XO_OV_F32, 3, od, args->out, &t[OV_OUT]);
  return st;
}

/* both operands broadcast: the graph computed one batch; copy it */
static void finish_matmul(const ov_plan *pl, const xo_args *args) {
  const xo_matmul_desc *p = &pl->h.p.mm;
  size_t one = (size_t)(p->m * p->n) * 4;
  int64_t nb = p->batch_a > p->batch_b ? p->batch_a : p->batch_b;
  for (int64_t i = nb; i < p->batch; i++)
    memcpy((char *)args->out + i * one, args->out, one);
}

static xo_status bind_conv(const ov_plan *pl, const xo_args *args, int et,
                           ov_tensor_t **t, int *nin) {
  const xo_conv_desc *p = &pl->h.p.conv;
  int64_t xd[4] = {p->in_n, p->in_c, p->in_h, p->in_w};
  int64_t od[4] = {p->in_n, p->out_c, p->out_h, p->out_w};
  xo_status st = wrap(et, 4, xd, args->in[0], &t[(*nin)++]);
  if (st == XO_OK) st = wrap(XO_OV_F32, 4, od, args->out, &t[OV_OUT]);
  return st;
}

static xo_status bind_attention(const ov_plan *pl, const xo_args *args, int et,
                                ov_tensor_t **t, int *nin) {
  const xo_attn_desc *p = &pl->h.p.attn;
  int64_t qd[4] = {p->b, p->h, p->lq, p->d},
          kd[4] = {p->b, p->hkv, p->lk, p->d},
          vd[4] = {p->b, p->hkv, p->lk, p->dv},
          od[4] = {p->b, p->h, p->lq, p->dv};
  xo_status st = wrap(et, 4, qd, args->in[0], &t[(*nin)++]);
  if (st == XO_OK) st = wrap(et, 4, kd, args->in[1], &t[(*nin)++]);
  if (st == XO_OK) st = wrap(et, 4, vd, args->in[2], &t[(*nin)++]);
  if (st == XO_OK && mask_input(p)) {
    int64_t md[4] = {p->b, mask_heads(p), p->lq, p->lk};
    ov_plan *mpl = (ov_plan *)pl; /* the mask buffer: runs hold the lock */
    if (mpl->mask == NULL) {
      st = xo_alloc(md[0] * md[1] * md[2] * md[3], sizeof(float),
                    (void **)&mpl->mask);
      if (st != XO_OK) return st;
    }
    fill_mask(&pl->h.p, args, md[0], md[1], mpl->mask);
    st = wrap(XO_OV_F32, 4, md, mpl->mask, &t[(*nin)++]);
  }
  if (st == XO_OK) st = wrap(XO_OV_F32, 4, od, args->out, &t[OV_OUT]);
  return st;
}

/* a row that sees no key: 0, not the SDPA's NaN */
static void finish_attention(const ov_plan *pl, const xo_args *args) {
  xo_attn_zero_unseen_args(&pl->h.p, args);
}

static const ov_graph kMatmul = {build_matmul, constants_matmul, bind_matmul,
                                 finish_matmul, 0};
static const ov_graph kConv = {build_conv, constants_conv, bind_conv, NULL, 0};
/* fp16 inputs are converted and attention runs in f32 (fp16 operands, f32
 * arithmetic, as the contract says) */
static const ov_graph kAttention = {build_attention, constants_none,
                                    bind_attention, finish_attention, 1};

/* A plan for graph; the model is compiled on the first run, when the
 * constants are known. */
static xo_status plan_with(void *plan, const ov_graph *g) {
  ov_plan *pl = plan;
  pl->graph = g;
  pl->index = pl->h.device;
  pl->f16_in_f32 = pl->h.p.prec == XO_PREC_FP16 && !native_f16(pl->index);
  pthread_mutex_init(&pl->lock, NULL);
  pl->lock_ready = 1;
  return XO_OK;
}

static xo_status ov_plan_matmul(void *plan) {
  return plan_with(plan, &kMatmul);
}

static xo_status ov_plan_conv(void *plan) {
  return plan_with(plan, &kConv);
}

static xo_status ov_plan_attention(void *plan) {
  return plan_with(plan, &kAttention);
}

/* Every op's run: (re)compile when the constants or the thread count
 * changed, bind the call's tensors, infer, finish. */
static xo_status ov_run(void *v, const xo_args *args, xo_run_stats *stats) {
  ov_plan *pl = v;
  xo_precision prec = (xo_precision)pl->h.p.prec;
  int et = prec == XO_PREC_FP16            ? XO_OV_F16
           : xo_precision_is_integer(prec) ? XO_OV_I8
                                           : XO_OV_F32;
  ov_tensor_t *t[OV_OUT + 1] = {0};
  xo_status st = XO_OK;
  pthread_mutex_lock(&pl->lock);
  uint64_t key = pl->graph->constants(pl, args);
  /* the CPU plugin fixes a model's thread pool when it compiles it: a
   * thread count changed since then means a new compile (timed as such) */
  int nthreads = xo_get_num_threads();
  pl->compile_s = 0;
  if (pl->compiled == NULL || key != pl->key ||
      (is_cpu(pl->index) && nthreads != pl->threads)) {
    double t0 = xo_now();
    st = compile(pl, args, nthreads);
    pl->compile_s = xo_now() - t0;
    pl->key = key;
  }
  int nin = 0;
  if (st == XO_OK) st = pl->graph->bind(pl, args, et, t, &nin);
  ov_status_e s = 0;
  for (int i = 0; i < nin && st == XO_OK && s == 0; i++)
    s = OV.infer_request_set_input_tensor_by_index(pl->request, (size_t)i,
                                                   t[i]);
  if (st == XO_OK && s == 0)
    s = OV.infer_request_set_output_tensor_by_index(pl->request, 0, t[OV_OUT]);
  double t0 = xo_now();
  if (st == XO_OK && s == 0) s = OV.infer_request_infer(pl->request);
  stats->kernel_s = xo_now() - t0; /* the inference alone, compile apart */
  if (st == XO_OK && s != 0) st = ov_err("inference", s);
  if (st == XO_OK && pl->graph->finish) pl->graph->finish(pl, args);
  for (int i = 0; i <= OV_OUT; i++)
    if (t[i]) OV.tensor_free(t[i]);
  stats->compile_s = pl->compile_s;
  pthread_mutex_unlock(&pl->lock);
  return st;
}

static void ov_plan_describe(const void *v, char *impl, size_t n) {
  const ov_plan *pl = v;
  xo_precision prec = (xo_precision)pl->h.p.prec;
  const char *how = xo_precision_is_integer(prec) ? ", i8 QDQ graph"
                    : pl->f16_in_f32
                        ? ", f16 operands, f32 inference precision: emulated "
                          "(no AVX512-FP16/AMX-FP16)"
                    : prec == XO_PREC_FP16 && pl->graph->f32_inside
                        ? ", f16 operands converted to f32 in the graph"
                        : "";
  const char *graph = pl->h.p.op == XO_OP_ATTENTION
                          ? (pl->h.p.attn.softcap > 0
                                 ? ", decomposed graph (MatMul, softcap as "
                                   "Tanh, SoftMax, MatMul)"
                                 : ", ScaledDotProductAttention")
                          : "";
  char threads[48] = "";
  int nthreads = __atomic_load_n(&pl->threads, __ATOMIC_RELAXED);
  if (is_cpu(pl->index) && nthreads > 0)
    snprintf(threads, sizeof threads, ", INFERENCE_NUM_THREADS=%d", nthreads);
  snprintf(impl, n,
           "openvino:%s_%s (IR v11 on %s, INFERENCE_PRECISION_HINT=%s%s%s%s)",
           xo_op_name(pl->h.p.op), xo_precision_name(prec),
           devs[pl->index].name, hint_of(pl), threads, how, graph);
}

/* the graphs return f32 and take symmetric, per-tensor or per-channel
 * scales */
const xo_backend xo_backend_openvino = {
    .name = "openvino",
    .init = ov_init,
    .device_count = ov_count,
    .describe = ov_describe,
    .ops[XO_OP_MATMUL] = {.plan = ov_plan_matmul, .run = ov_run},
    .ops[XO_OP_CONV2D] = {.supports = ov_supports_conv,
                          .plan = ov_plan_conv,
                          .run = ov_run},
    .ops[XO_OP_ATTENTION] = {.supports = ov_supports_attention,
                             .plan = ov_plan_attention,
                             .run = ov_run},
    .plan_size = sizeof(ov_plan),
    .plan_release = ov_plan_release,
    .plan_describe = ov_plan_describe,
    .fini = ov_fini,
};
