/* opencl_ops.c - matmul, conv2d and attention on the OpenCL kernels: build
 * options per problem, buffers, enqueues, and kernel time from events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opencl.h"

/* The -D name of an operand format, and its bytes per element (0: int4). */
static const char *fmt_of(xo_precision prec, int is_unsigned, int weights,
                          size_t *es) {
  switch (prec) {
    case XO_PREC_FP32: *es = 4; return "F32";
    case XO_PREC_BF16: *es = 2; return "BF16";
    case XO_PREC_FP16: *es = 2; return "F16";
    case XO_PREC_FP8: *es = 1; return "F8";
    case XO_PREC_INT4:
      if (weights) {
        *es = 0;
        return "S4";
      }
      *es = 1; /* int4 activations are int8 (W4A8) */
      return is_unsigned ? "U8" : "S8";
    default: *es = 1; return is_unsigned ? "U8" : "S8";
  }
}

static size_t bytes_of(size_t es, int64_t n) {
  return es ? (size_t)n * es : (size_t)(n + 1) / 2;
}

static const char *et_of(size_t es) {
  return es == 4 ? "float" : es == 2 ? "ushort" : "char";
}

/* Choose the GEMM's parameters for M x N x K (tune.c: the tuner may
 * search now, in the plan, never in a run) and build its kernel. */
static xo_status gemm_kernel(cl_plan *pl, int M, int N, int K,
                             const char *a_fmt, const char *b_fmt,
                             const char *flags) {
  char opts[480], params[160];
  int integer = xo_precision_is_integer((xo_precision)pl->h.p.prec);
  /* fp16 on a device with half arithmetic: products in half, which only
   * the direct kernel has (its block from the tuner, else a default) */
  int half = pl->h.p.prec == XO_PREC_FP16 && pl->dev->fp16;
  pl->tune =
      cl_tune_gemm(pl->dev, pl->h.device, integer, M, N, K, a_fmt, b_fmt);
  if (half && !pl->tune.direct) {
    cl_tuning t = {.direct = 1, .mw = 4, .vw = 8, .lx = 8, .ly = 4};
    if (!cl_tuning_fits(pl->dev, &t)) t.lx = t.ly = 1;
    snprintf(t.from, sizeof t.from, "default direct block (fp16 arithmetic)");
    pl->tune = t;
  }
  cl_gemm_options(&pl->tune, params, sizeof params);
  snprintf(opts, sizeof opts, "%s -DACC=%s -DA_%s -DB_%s %s%s", params,
           integer ? "int" : "float", a_fmt, b_fmt, flags,
           half ? " -DXO_HALF" : "");
  return cl_kernel_get(pl->dev, pl->tune.direct ? "gemm_blk" : "gemm", opts,
                       pl->tune.direct ? "xo_gemm_blk" : "xo_gemm", &pl->main);
}

/* The gemm kernel's options for p's output: raw accumulators, or scaled
 * (per channel along per_channel: "-DSCALE_COLS" for matmul's columns,
 * "-DSCALE_ROWS" for conv's rows), group-wise sums, bias. flags holds 160
 * bytes. */
/* Whether the kernel leaves s32 sums for the host to finish with the core's
 * zero-point identity (semantics.h xo_zp_*): the kernels subtract only a
 * matmul's input zero point, and a convolution's im2col pads with x's
 * stored zero point, so the sums there are of the stored values. */
static int zp_on_host(const xo_problem *p) {
  return p->b_asym || (p->op == XO_OP_CONV2D && p->a_asym);
}

static void gemm_flags(const xo_problem *p, const char *per_channel,
                       char *flags) {
  flags[0] = '\0';
  if (xo_precision_is_integer((xo_precision)p->prec)) {
    if (p->out_dtype == XO_DTYPE_S32 || zp_on_host(p)) {
      strcat(flags, "-DOUT_S32");
      return; /* no scales, group sums or bias on s32 */
    } else if (p->b_granularity != XO_Q_TENSOR)
      strcat(strcat(flags, "-DSCALES "), per_channel);
    else
      strcat(flags, "-DSCALES");
    if (p->b_granularity == XO_Q_GROUP) strcat(flags, " -DADD");
  }
  if (p->has_bias) strcat(flags, " -DBIAS");
}

static void name_gemm(cl_plan *pl, const char *after) {
  char kernel[96];
  cl_tuning_name(&pl->tune, kernel, sizeof kernel);
  snprintf(pl->impl, sizeof pl->impl,
           "opencl:%s_%s (%.60s from the %.100s%s, on %.80s%s)",
           xo_op_name(pl->h.p.op),
           xo_precision_name((xo_precision)pl->h.p.prec), kernel, pl->tune.from,
           after, pl->dev->name,
           zp_on_host(&pl->h.p) ? "; zero-point terms on the host" : "");
}

static xo_status run_matmul(cl_plan *pl, const xo_args *args, run_ctx *r,
                            cl_mem *m);
static xo_status run_conv(cl_plan *pl, const xo_args *args, run_ctx *r,
                          cl_mem *m);
static xo_status run_attention(cl_plan *pl, const xo_args *args, run_ctx *r,
                               cl_mem *m);

xo_status cl_plan_matmul(void *plan) {
  cl_plan *pl = plan;
  const xo_problem *p = &pl->h.p;
  cl_plan_begin(pl);
  xo_precision prec = (xo_precision)p->prec;
  char flags[160];
  size_t ea, eb;
  gemm_flags(p, "-DSCALE_COLS", flags);
  pl->enqueue = run_matmul;
  xo_status st = gemm_kernel(pl, (int)p->mm.m, (int)p->mm.n, (int)p->mm.k,
                             fmt_of(prec, p->a_asym, 0, &ea),
                             fmt_of(prec, 0, 1, &eb), flags);
  name_gemm(pl, "");
  return st;
}

/* conv: A = weights [OC/g][R], B = the im2col of x */
xo_status cl_plan_conv(void *plan) {
  cl_plan *pl = plan;
  const xo_problem *p = &pl->h.p;
  cl_plan_begin(pl);
  xo_precision prec = (xo_precision)p->prec;
  char flags[160], opts[64];
  size_t ew, ex;
  gemm_flags(p, "-DSCALE_ROWS", flags);
  pl->enqueue = run_conv;
  const char *fw = fmt_of(prec, 0, 1, &ew),
             *fx = fmt_of(prec, p->a_asym, 0, &ex);
  const xo_conv_desc *c = &p->conv;
  xo_status st =
      gemm_kernel(pl, (int)(c->out_c / c->groups), (int)(c->out_h * c->out_w),
                  (int)(c->in_c / c->groups * c->kh * c->kw), fw, fx, flags);
  name_gemm(pl, ", after xo_im2col");
  /* u8 activations gather as uchar, so the padding value za keeps its bits */
  snprintf(opts, sizeof opts, "-DET=%s",
           p->a_asym && ex == 1 ? "uchar" : et_of(ex));
  if (st == XO_OK)
    st = cl_kernel_get(pl->dev, "im2col", opts, "xo_im2col", &pl->im2col);
  return st;
}

xo_status cl_plan_attention(void *plan) {
  cl_plan *pl = plan;
  const xo_attn_desc *p = &pl->h.p.attn;
  xo_precision prec = (xo_precision)pl->h.p.prec;
  cl_plan_begin(pl);
  char opts[200];
  size_t es;
  xo_status st;
  pl->enqueue = run_attention;
  const char *has_mask = p->mask ? " -DHAS_MASK" : "";
  int dot4 = prec == XO_PREC_INT8 ? cl_dot4_mode(pl->dev) : 0;
  if (prec == XO_PREC_INT8) {
    /* the output divides by sum(P), softcap by c: correctly rounded, as on
     * the CPU; Q.K and P.V through packed dot products where there are
     * some (bit-identical: integer sums) */
    snprintf(opts, sizeof opts,
             "-DINT8_ATTENTION -DHD=%lld -DHDV=%lld%s%s "
             "-cl-fp32-correctly-rounded-divide-sqrt",
             (long long)p->d, (long long)p->dv, has_mask,
             dot4 == 2 ? " -DDOT4 -DXO_DOT_SOFT"
             : dot4    ? " -DDOT4"
                       : "");
    st =
        cl_kernel_get(pl->dev, "attention", opts, "xo_attention_s8", &pl->main);
  } else {
    int bk = p->d > 128 || p->dv > 128 ? 16 : 32;
    snprintf(opts, sizeof opts, "-DQ_%s -DHD=%lld -DHDV=%lld -DBQ=16 -DBK=%d%s",
             fmt_of(prec, 0, 0, &es), (long long)p->d, (long long)p->dv, bk,
             has_mask);
    st = cl_kernel_get(pl->dev, "attention", opts, "xo_attention", &pl->main);
  }
  snprintf(pl->impl, sizeof pl->impl, "opencl:attention_%s (%s%s, on %s)",
           xo_precision_name(prec),
           prec == XO_PREC_INT8 ? "xo_attention_s8, two-pass int8 scheme v2"
                                : "xo_attention, tiled online softmax",
           dot4 == 2 ? ", Q.K and P.V as DOT4 (software dot)"
           : dot4    ? ", Q.K and P.V as DOT4"
                     : "",
           pl->dev->name);
  return st;
}

/* Set kernel arguments from a list of (size, pointer). */
typedef struct karg {
  size_t size;
  const void *ptr;
} karg;

static xo_status set_args(cl_kernel k, const karg *a, int n) {
  for (int i = 0; i < n; i++)
    if (CL.SetKernelArg(k, (cl_uint)i, a[i].size, a[i].ptr) != CL_SUCCESS)
      return xo_fail(XO_ERR_RUNTIME, "OpenCL: kernel argument %d refused", i);
  return XO_OK;
}

enum { MAX_EVENTS = 4096 };

struct run_ctx {
  cl_dev *d;
  cl_event ev[MAX_EVENTS];
  int nev;
  int missed;        /* a kernel ran without an event: event time is partial */
  double fallback_s; /* wall time of what had no event */
};

static xo_status enqueue(run_ctx *r, cl_kernel k, int dims, const size_t *g,
                         const size_t *l) {
  cl_event *ev = r->nev < MAX_EVENTS ? &r->ev[r->nev] : NULL;
  cl_int err = CL.EnqueueNDRangeKernel(r->d->queue, k, (cl_uint)dims, NULL, g,
                                       l, 0, NULL, ev);
  if (err != CL_SUCCESS)
    return xo_fail(XO_ERR_RUNTIME, "OpenCL: enqueue failed (error %d)", err);
  if (ev)
    r->nev++;
  else
    r->missed = 1;
  return XO_OK;
}

/* Kernel time: the sum of the kernels' own start-to-end event times; 0 when
 * there were none, one did not answer or a kernel ran without one (the core
 * then times the call and says "wall"). */
static double event_seconds(run_ctx *r) {
  double s = 0;
  int answered = r->nev > 0 && !r->missed;
  for (int i = 0; i < r->nev; i++) {
    cl_ulong t0 = 0, t1 = 0;
    if (CL.GetEventProfilingInfo(r->ev[i], CL_PROFILING_COMMAND_START,
                                 sizeof t0, &t0, NULL) != CL_SUCCESS ||
        CL.GetEventProfilingInfo(r->ev[i], CL_PROFILING_COMMAND_END, sizeof t1,
                                 &t1, NULL) != CL_SUCCESS ||
        t1 < t0)
      answered = 0;
    else
      s += (double)(t1 - t0) * 1e-9;
    CL.ReleaseEvent(r->ev[i]);
  }
  r->nev = 0;
  return answered ? s : 0;
}

static size_t round_up(int64_t v, size_t to) {
  return (size_t)((v + (int64_t)to - 1) / (int64_t)to) * to;
}

static xo_status run_gemm(cl_plan *pl, run_ctx *r, int M, int N, int K, int k0,
                          int k1, cl_mem A, long a_off, long a_bs, cl_mem B,
                          long b_off, long b_bs, cl_mem C, long c_off, int za,
                          cl_mem sa, cl_mem sb, int sb_off, int row_off,
                          cl_mem bias, int batch) {
  karg a[] = {{4, &M},    {4, &N},      {4, &K},       {4, &k0},  {4, &k1},
              {8, &A},    {8, &a_off},  {8, &a_bs},    {8, &B},   {8, &b_off},
              {8, &b_bs}, {8, &C},      {8, &c_off},   {4, &za},  {8, &sa},
              {8, &sb},   {4, &sb_off}, {4, &row_off}, {8, &bias}};
  xo_status st = set_args(pl->main, a, (int)(sizeof a / sizeof a[0]));
  if (st != XO_OK) return st;
  size_t g[3], l[3];
  cl_gemm_ranges(&pl->tune, M, N, batch, g, l);
  return enqueue(r, pl->main, 3, g, l);
}

static xo_status read_out(run_ctx *r, cl_mem m, void *host, size_t bytes) {
  cl_int err = CL.EnqueueReadBuffer(r->d->queue, m, CL_TRUE, 0, bytes, host, 0,
                                    NULL, NULL);
  return err == CL_SUCCESS ? XO_OK
                           : xo_fail(XO_ERR_RUNTIME,
                                     "OpenCL: reading the result failed "
                                     "(error %d)",
                                     err);
}

/* Weights with zero points: s32 sums per group (or of all K) from the
 * kernel, which subtracts za itself; the core's identity adds zw's term and
 * the core dequantizes, group sums in group order as ref adds them. */
static xo_status matmul_zp(cl_plan *pl, const xo_args *args, run_ctx *r,
                           cl_mem *m, int za, long a_bs, long b_bs, size_t nc) {
  const xo_problem *pp = &pl->h.p;
  const xo_matmul_desc *p = &pp->mm;
  int group = pp->b_granularity == XO_Q_GROUP;
  int64_t gs = group ? pp->group_size : p->k, mn = p->m * p->n;
  int f32 = pp->out_dtype != XO_DTYPE_S32;
  int32_t *acc = f32 ? malloc(nc) : args->out;
  if (acc == NULL) return xo_fail(XO_ERR_NO_MEMORY, "opencl: no memory");
  xo_status st = XO_OK;
  for (int64_t g = 0; g < p->k / gs && st == XO_OK; g++) {
    st = run_gemm(pl, r, (int)p->m, (int)p->n, (int)p->k, (int)(g * gs),
                  (int)((g + 1) * gs), m[0], 0, a_bs, m[1], 0, b_bs, m[2], 0,
                  za, m[3], m[4], 0, 0, m[4], (int)p->batch);
    if (st == XO_OK) st = read_out(r, m[2], acc, nc);
    if (st == XO_OK) st = xo_zp_matmul(pp, args, g * gs, (g + 1) * gs, 1, acc);
    if (st != XO_OK || !f32) continue;
    if (!group) {
      xo_dequant_result(pp, args, acc, args->out);
      continue;
    }
    for (int64_t b = 0; b < p->batch; b++)
      xo_dequant_rows(p->m, p->n, acc + b * mn, args->scale[0][0],
                      args->scale[1] + g * p->n, 1, g > 0,
                      (float *)args->out + b * mn);
  }
  if (f32) free(acc);
  return st;
}

static xo_status run_matmul(cl_plan *pl, const xo_args *args, run_ctx *r,
                            cl_mem *m) {
  const xo_problem *pp = &pl->h.p;
  const xo_matmul_desc *p = &pp->mm;
  xo_precision prec = (xo_precision)pp->prec;
  size_t ea, eb;
  fmt_of(prec, pp->a_asym, 0, &ea);
  fmt_of(prec, 0, 1, &eb);
  int64_t na = p->batch_a * p->m * p->k, nb = p->batch_b * p->k * p->n;
  size_t nc = (size_t)(p->batch * p->m * p->n) * 4;
  int integer = xo_precision_is_integer(prec);
  int group = pp->b_granularity == XO_Q_GROUP;
  int64_t nsb = group ? (p->k / pp->group_size) * p->n
                : pp->b_granularity == XO_Q_AXIS ? p->n
                                                 : 1;
  /* group-wise sums add into C: start it at zero */
  void *zero = group ? calloc(1, nc) : NULL;
  if (group && zero == NULL)
    return xo_fail(XO_ERR_NO_MEMORY, "opencl: no memory");
  xo_status st = cl_buffer(r->d, args->in[0], bytes_of(ea, na), &m[0]);
  if (st == XO_OK) st = cl_buffer(r->d, args->in[1], bytes_of(eb, nb), &m[1]);
  if (st == XO_OK)
    st = zero ? cl_buffer(r->d, zero, nc, &m[2]) : cl_alloc(r->d, nc, &m[2]);
  if (st == XO_OK)
    st = cl_buffer(r->d, integer ? args->scale[0] : NULL, 4, &m[3]);
  if (st == XO_OK)
    st = cl_buffer(r->d, integer ? args->scale[1] : NULL, (size_t)nsb * 4,
                   &m[4]);
  free(zero);
  if (st != XO_OK) return st;
  int za = pp->a_asym ? args->zero_point[0][0] : 0;
  long a_bs = p->batch_a > 1 ? p->m * p->k : 0;
  long b_bs = p->batch_b > 1 ? p->k * p->n : 0;
  if (zp_on_host(pp)) return matmul_zp(pl, args, r, m, za, a_bs, b_bs, nc);
  if (group) {
    for (int64_t g = 0; g < p->k / pp->group_size && st == XO_OK; g++)
      st = run_gemm(pl, r, (int)p->m, (int)p->n, (int)p->k,
                    (int)(g * pp->group_size), (int)((g + 1) * pp->group_size),
                    m[0], 0, a_bs, m[1], 0, b_bs, m[2], 0, za, m[3], m[4],
                    (int)(g * p->n), 0, m[4], (int)p->batch);
  } else {
    st = run_gemm(pl, r, (int)p->m, (int)p->n, (int)p->k, 0, (int)p->k, m[0], 0,
                  a_bs, m[1], 0, b_bs, m[2], 0, za, m[3], m[4], 0, 0, m[4],
                  (int)p->batch);
  }
  if (st == XO_OK) st = read_out(r, m[2], args->out, nc);
  return st;
}

static xo_status run_conv(cl_plan *pl, const xo_args *args, run_ctx *r,
                          cl_mem *m) {
  const xo_problem *pp = &pl->h.p;
  const xo_conv_desc *p = &pp->conv;
  xo_precision prec = (xo_precision)pp->prec;
  size_t ew, ex;
  fmt_of(prec, 0, 1, &ew);
  fmt_of(prec, pp->a_asym, 0, &ex);
  int cg = (int)(p->in_c / p->groups), ocg = (int)(p->out_c / p->groups);
  int R = cg * (int)(p->kh * p->kw), P = (int)(p->out_h * p->out_w);
  int64_t nx = p->in_n * p->in_c * p->in_h * p->in_w, nw = p->out_c * R;
  size_t nout = (size_t)(p->in_n * p->out_c * P) * 4;
  int integer = xo_precision_is_integer(prec);
  xo_status st = cl_buffer(r->d, args->in[0], bytes_of(ex, nx), &m[0]);
  if (st == XO_OK) st = cl_buffer(r->d, args->in[1], bytes_of(ew, nw), &m[1]);
  if (st == XO_OK) st = cl_alloc(r->d, nout, &m[2]);
  if (st == XO_OK)
    st = cl_buffer(r->d, integer ? args->scale[0] : NULL, 4, &m[3]);
  if (st == XO_OK)
    st = cl_buffer(r->d, integer ? args->scale[1] : NULL,
                   (size_t)(pp->b_granularity ? p->out_c : 1) * 4, &m[4]);
  if (st == XO_OK)
    st = cl_buffer(r->d, args->bias, pp->has_bias ? (size_t)p->out_c * 4 : 0,
                   &m[5]);
  if (st == XO_OK) st = cl_alloc(r->d, (size_t)R * P * ex, &m[6]);
  if (st != XO_OK) return st;
  int C = cg, H = (int)p->in_h, W = (int)p->in_w, KH = (int)p->kh,
      KW = (int)p->kw, OH = (int)p->out_h, OW = (int)p->out_w;
  int SH = (int)p->stride[0], SW = (int)p->stride[1];
  int PH = (int)p->pad_begin[0], PW = (int)p->pad_begin[1];
  int DH = (int)p->dil[0], DW = (int)p->dil[1];
  /* padding holds x's stored zero point: a padded tap is x - za = 0 */
  int pad = pp->a_asym ? args->zero_point[0][0] : 0;
  for (int64_t n = 0; n < p->in_n && st == XO_OK; n++)
    for (int64_t g = 0; g < p->groups && st == XO_OK; g++) {
      long x_off = (long)((n * p->in_c + g * cg) * p->in_h * p->in_w);
      karg a[] = {{8, &m[0]}, {8, &x_off}, {8, &m[6]}, {4, &C},  {4, &H},
                  {4, &W},    {4, &KH},    {4, &KW},   {4, &OH}, {4, &OW},
                  {4, &SH},   {4, &SW},    {4, &PH},   {4, &PW}, {4, &DH},
                  {4, &DW},   {4, &pad}};
      st = set_args(pl->im2col, a, (int)(sizeof a / sizeof a[0]));
      size_t gsz[2] = {(size_t)P, (size_t)R};
      if (st == XO_OK) st = enqueue(r, pl->im2col, 2, gsz, NULL);
      if (st == XO_OK)
        st = run_gemm(pl, r, ocg, P, R, 0, R, m[1], (long)(g * ocg * R), 0,
                      m[6], 0, 0, m[2], (long)((n * p->out_c + g * ocg) * P), 0,
                      m[3], m[4], 0, (int)(g * ocg), m[5], 1);
    }
  if (!zp_on_host(pp))
    return st == XO_OK ? read_out(r, m[2], args->out, nout) : st;
  /* s32 sums of the stored values: the core's identity, scales and bias */
  int f32 = pp->out_dtype != XO_DTYPE_S32;
  int32_t *acc = f32 ? malloc(nout) : args->out;
  if (acc == NULL) return xo_fail(XO_ERR_NO_MEMORY, "opencl: no memory");
  if (st == XO_OK) st = read_out(r, m[2], acc, nout);
  if (st == XO_OK) st = xo_zp_conv(pp, args, 0, acc);
  if (st == XO_OK && f32) xo_dequant_result(pp, args, acc, args->out);
  if (f32) free(acc);
  return st;
}

static xo_status run_attention(cl_plan *pl, const xo_args *args, run_ctx *r,
                               cl_mem *m) {
  const xo_attn_desc *p = &pl->h.p.attn;
  xo_precision prec = (xo_precision)pl->h.p.prec;
  size_t es;
  fmt_of(prec, 0, 0, &es);
  int64_t nq = p->b * p->h * p->lq * p->d, nk = p->b * p->hkv * p->lk * p->d;
  int64_t nv = p->b * p->hkv * p->lk * p->dv;
  size_t nout = (size_t)(p->b * p->h * p->lq * p->dv) * 4;
  /* the kernels always read key lengths (lk without kv_lengths) and a mask
   * (one unused float without) */
  int64_t *kvl = malloc((size_t)p->b * sizeof(int64_t) + 8);
  if (kvl == NULL) return xo_fail(XO_ERR_NO_MEMORY, "opencl: no memory");
  for (int64_t b = 0; b < p->b; b++)
    kvl[b] = args->kv_lengths ? args->kv_lengths[b] : p->lk;
  static const float no_mask = 0.0f;
  const int64_t *ms = args->mask_stride;
  int64_t full[4] = {p->b, p->h, p->lq, p->lk}, nmask = 1;
  for (int d = 0; d < 4 && p->mask; d++)
    nmask += ms[d] ? (full[d] - 1) * ms[d] : 0;
  xo_status st = cl_buffer(r->d, args->in[0], bytes_of(es, nq), &m[0]);
  if (st == XO_OK) st = cl_buffer(r->d, args->in[1], bytes_of(es, nk), &m[1]);
  if (st == XO_OK) st = cl_buffer(r->d, args->in[2], bytes_of(es, nv), &m[2]);
  if (st == XO_OK) st = cl_alloc(r->d, nout, &m[3]);
  if (st == XO_OK)
    st = cl_buffer(r->d, kvl, (size_t)(p->b > 0 ? p->b : 1) * 8, &m[7]);
  if (st == XO_OK)
    st = cl_buffer(r->d, p->mask ? args->mask : &no_mask, (size_t)nmask * 4,
                   &m[8]);
  free(kvl);
  if (st != XO_OK) return st;
  int H = (int)p->h, HKV = (int)p->hkv, LQ = (int)p->lq, LK = (int)p->lk,
      causal = (int)p->causal;
  int WL = p->has_window ? (int)p->win_left : -1;
  int WR = p->has_window ? (int)p->win_right : -1;
  float scale = (float)p->scale, cap = (float)p->softcap;
  int64_t s0 = ms[0], s1 = ms[1], s2 = ms[2], s3 = ms[3];
  size_t bh = (size_t)(p->b * p->h);
  karg rules[] = {{4, &WL}, {4, &WR}, {4, &cap}, {8, &m[7]}, {8, &m[8]},
                  {8, &s0}, {8, &s1}, {8, &s2},  {8, &s3}};
  if (prec == XO_PREC_INT8) {
    /* scheme v2: sq per query row, sk per key, sv per channel */
    size_t nkv = (size_t)(p->b * p->hkv);
    st = cl_buffer(r->d, args->scale[0], bh * (size_t)LQ * 4, &m[4]);
    if (st == XO_OK)
      st = cl_buffer(r->d, args->scale[1], nkv * (size_t)LK * 4, &m[5]);
    if (st == XO_OK)
      st = cl_buffer(r->d, args->scale[2], nkv * (size_t)p->dv * 4, &m[6]);
    karg a[22] = {{8, &m[0]}, {8, &m[1]},   {8, &m[2]}, {8, &m[3]}, {8, &m[4]},
                  {8, &m[5]}, {8, &m[6]},   {4, &H},    {4, &HKV},  {4, &LQ},
                  {4, &LK},   {4, &causal}, {4, &scale}};
    memcpy(a + 13, rules, sizeof rules);
    if (st == XO_OK) st = set_args(pl->main, a, 22);
    size_t g[2] = {(size_t)LQ, bh};
    if (st == XO_OK) st = enqueue(r, pl->main, 2, g, NULL);
  } else {
    karg a[19] = {{8, &m[0]},   {8, &m[1]}, {8, &m[2]}, {8, &m[3]},
                  {4, &H},      {4, &HKV},  {4, &LQ},   {4, &LK},
                  {4, &causal}, {4, &scale}};
    memcpy(a + 10, rules, sizeof rules);
    st = set_args(pl->main, a, 19);
    size_t g[2] = {round_up(LQ, 16), bh}, l[2] = {16, 1};
    if (st == XO_OK) st = enqueue(r, pl->main, 2, g, l);
  }
  if (st == XO_OK) st = read_out(r, m[3], args->out, nout);
  return st;
}

xo_status cl_run_ops(cl_plan *pl, const xo_args *args, double *kernel_s) {
  run_ctx *r = calloc(1, sizeof *r);
  cl_mem m[10] = {0};
  if (r == NULL) return xo_fail(XO_ERR_NO_MEMORY, "opencl: no memory");
  r->d = pl->dev;
  xo_status st = pl->enqueue(pl, args, r, m);
  CL.Finish(r->d->queue);
  *kernel_s = event_seconds(r);
  for (int i = 0; i < 10; i++)
    if (m[i]) CL.ReleaseMemObject(m[i]);
  free(r);
  return st;
}
