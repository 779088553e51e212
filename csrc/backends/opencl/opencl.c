/* opencl.c - the OpenCL backend: the ICD loader (dlopen'ed), devices with
 * their capabilities, contexts and queues, the program cache and the tuning
 * table. Kernels are pure OpenCL C in kernels/, embedded at build time
 * (generated/cl_sources.h, written by embed.py). */
#include "opencl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generated/cl_sources.h"

cl_api CL;
static void *handle;
enum { MAX_DEVICES = 16 };
static cl_dev devs[MAX_DEVICES];
static int ndevs;

static xo_status cl_init(void) {
  static const xo_dl_lib lib = {
      .what = "the OpenCL ICD loader",
      .sonames = {"libOpenCL.so.1"},
      .hint =
          "on Debian `apt-get install ocl-icd-libopencl1 "
          "pocl-opencl-icd`",
  };
#define XO_CL_SYM(f, type) {"cl" #f, (void **)&CL.f, 0},
  const xo_dl_sym syms[] = {XO_CL_FUNCS(XO_CL_SYM)};
#undef XO_CL_SYM
  xo_status st = xo_dl_open(&lib, syms, sizeof syms / sizeof syms[0], &handle);
  if (st != XO_OK) return st;
  cl_platform_id plats[8];
  cl_uint np = 0;
  if (CL.GetPlatformIDs(8, plats, &np) != CL_SUCCESS || np == 0)
    return xo_fail(XO_ERR_UNAVAILABLE,
                   "the OpenCL loader finds no platform (no ICD installed: "
                   "e.g. `apt-get install pocl-opencl-icd`, or a GPU driver)");
  for (cl_uint p = 0; p < np && p < 8; p++) {
    cl_device_id ids[MAX_DEVICES];
    cl_uint nd = 0;
    if (CL.GetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, MAX_DEVICES, ids, &nd) !=
        CL_SUCCESS)
      continue;
    for (cl_uint i = 0; i < nd && ndevs < MAX_DEVICES; i++) {
      cl_dev *d = &devs[ndevs++];
      memset(d, 0, sizeof *d);
      d->platform = plats[p];
      d->id = ids[i];
      pthread_mutex_init(&d->lock, NULL);
      char ext[4096] = "";
      cl_device_type type = 0;
      CL.GetPlatformInfo(plats[p], CL_PLATFORM_NAME, sizeof d->platform_name,
                         d->platform_name, NULL);
      CL.GetDeviceInfo(ids[i], CL_DEVICE_NAME, sizeof d->name, d->name, NULL);
      CL.GetDeviceInfo(ids[i], CL_DEVICE_VENDOR, sizeof d->vendor, d->vendor,
                       NULL);
      CL.GetDeviceInfo(ids[i], CL_DEVICE_VERSION, sizeof d->version, d->version,
                       NULL);
      CL.GetDeviceInfo(ids[i], CL_DRIVER_VERSION, sizeof d->driver, d->driver,
                       NULL);
      CL.GetDeviceInfo(ids[i], CL_DEVICE_EXTENSIONS, sizeof ext - 1, ext, NULL);
      CL.GetDeviceInfo(ids[i], CL_DEVICE_TYPE, sizeof type, &type, NULL);
      CL.GetDeviceInfo(ids[i], CL_DEVICE_MAX_COMPUTE_UNITS, sizeof d->units,
                       &d->units, NULL);
      CL.GetDeviceInfo(ids[i], CL_DEVICE_MAX_CLOCK_FREQUENCY, sizeof d->mhz,
                       &d->mhz, NULL);
      CL.GetDeviceInfo(ids[i], CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT,
                       sizeof d->vector_float, &d->vector_float, NULL);
      CL.GetDeviceInfo(ids[i], CL_DEVICE_PREFERRED_VECTOR_WIDTH_HALF,
                       sizeof d->vector_half, &d->vector_half, NULL);
      CL.GetDeviceInfo(ids[i], CL_DEVICE_PREFERRED_VECTOR_WIDTH_INT,
                       sizeof d->vector_int, &d->vector_int, NULL);
      CL.GetDeviceInfo(ids[i], CL_DEVICE_LOCAL_MEM_SIZE, sizeof d->local_mem,
                       &d->local_mem, NULL);
      CL.GetDeviceInfo(ids[i], CL_DEVICE_MAX_MEM_ALLOC_SIZE,
                       sizeof d->max_alloc, &d->max_alloc, NULL);
      CL.GetDeviceInfo(ids[i], CL_DEVICE_MAX_WORK_GROUP_SIZE,
                       sizeof d->max_group, &d->max_group, NULL);
      d->is_cpu = (type & CL_DEVICE_TYPE_CPU) != 0;
      d->is_gpu = (type & CL_DEVICE_TYPE_GPU) != 0;
      d->fp16 = strstr(ext, "cl_khr_fp16") != NULL;
      d->fp64 = strstr(ext, "cl_khr_fp64") != NULL;
      d->dot4 = strstr(ext, "cl_khr_integer_dot_product") != NULL;
    }
  }
  if (ndevs == 0)
    return xo_fail(XO_ERR_UNAVAILABLE, "OpenCL platforms expose no device");
  return XO_OK;
}

cl_dev *cl_device(int index) {
  return &devs[index];
}

static int cl_count(void) {
  return ndevs;
}

/* Peaks from what the device reports: compute units x clock x preferred
 * vector lanes x 2 (one multiply-add per lane per cycle). The kernels
 * compute in f32 or s32 whatever the storage format, so every float
 * precision has fp32's ceiling and the integer ones int32's; except fp16
 * on a device with cl_khr_fp16 (half lanes: products in half), and int8
 * and int4 on one with cl_khr_integer_dot_product (4 multiply-adds per
 * int32 lane: the packed 4 x 8-bit dot). */
static void describe_peaks(const cl_dev *d, xo_device_desc *desc) {
  if (!d->units || !d->mhz || !d->vector_float) return;
  for (int p = 0; p < XO_PREC_COUNT; p++) {
    if (desc->precisions[p] == XO_SUPPORT_NONE) continue;
    int integer = xo_precision_is_integer((xo_precision)p);
    int half = p == XO_PREC_FP16 && d->fp16 && d->vector_half;
    int dot = integer && d->dot4;
    cl_uint lanes = integer ? d->vector_int
                    : half  ? d->vector_half
                            : d->vector_float;
    const char *kind = integer ? "int32" : half ? "half" : "float";
    xo_peak *pk = &desc->peak[p];
    pk->ops_per_s = (double)d->units * d->mhz * 1e6 * 2 * lanes * (dot ? 4 : 1);
    snprintf(pk->source, sizeof pk->source, "theoretical");
    snprintf(pk->formula, sizeof pk->formula,
             "%u compute units x %.2f GHz x %u %s lanes x 2 (multiply-add; "
             "the device's reported width, computing %s in %s)%s",
             d->units, d->mhz / 1000.0, lanes, kind,
             xo_precision_name((xo_precision)p), kind,
             dot ? " x 4 (packed 4 x 8-bit dot products, "
                   "cl_khr_integer_dot_product)"
                 : "");
  }
}

static xo_status cl_describe(int index, xo_device_desc *desc) {
  const cl_dev *d = &devs[index];
  snprintf(desc->name, sizeof desc->name, "opencl:%d", index);
  /* an OpenCL device that reports itself as a CPU (PoCL) is a CPU */
  snprintf(desc->kind, sizeof desc->kind, "%s", d->is_gpu ? "gpu" : "cpu");
  snprintf(desc->full_name, sizeof desc->full_name,
           "%s: %s (%s, %u CUs @ %u MHz)", d->platform_name, d->name,
           d->version, d->units, d->mhz);
  desc->exact_integer = 1;
  if (d->is_cpu && strstr(d->platform_name, "Portable Computing Language"))
    /* PoCL's pthread driver starts one pool of worker threads, sized when
     * the platform is first queried (POCL_CPU_MAX_CU_NUM, else every
     * core), and every kernel runs on all of them: nothing in OpenCL can
     * resize it afterwards */
    snprintf(desc->threads, sizeof desc->threads,
             "fixed at %u threads by PoCL when the platform started "
             "(set POCL_CPU_MAX_CU_NUM before import); does not follow "
             "set_num_threads",
             d->units);
  else if (d->is_cpu)
    snprintf(desc->threads, sizeof desc->threads,
             "%u compute units, chosen by the OpenCL runtime; does not "
             "follow set_num_threads",
             d->units);
  else
    snprintf(desc->threads, sizeof desc->threads,
             "its own compute units (%u); set_num_threads is for CPU pools",
             d->units);
  desc->compute_units = (int)d->units;
  desc->clock_mhz = (int)d->mhz;
  desc->vector_f32 = (int)d->vector_float;
  desc->vector_i32 = (int)d->vector_int;
  /* the kernels compute in f32 (or s32) whatever the storage format: only
   * fp32, the integer paths and fp16 on a device with cl_khr_fp16
   * (products in half, gemm_blk.cl XO_HALF) use the format's own
   * arithmetic */
  desc->precisions[XO_PREC_FP32] = XO_SUPPORT_NATIVE;
  desc->precisions[XO_PREC_INT8] = XO_SUPPORT_NATIVE;
  desc->precisions[XO_PREC_BF16] = XO_SUPPORT_EMULATED;
  desc->precisions[XO_PREC_FP16] =
      d->fp16 ? XO_SUPPORT_NATIVE : XO_SUPPORT_EMULATED;
  desc->precisions[XO_PREC_FP8] = XO_SUPPORT_EMULATED;
  desc->precisions[XO_PREC_INT4] = XO_SUPPORT_EMULATED;
  describe_peaks(d, desc);
  return XO_OK;
}

/* ---- tuning: data, most specific entry first ------------------------- */

typedef struct tune_entry {
  const char *vendor; /* substring of the platform name, or NULL: any */
  const char *device; /* substring of the device name, or NULL: any */
  int ts, wpt;
} tune_entry;

static const tune_entry kGemmTuning[] = {
    /* found by benchmarks/opencl_tune.py on PoCL 3.1, Xeon (AVX-512) */
    {"Portable Computing Language", "avx512", 32, 8},
    {"Portable Computing Language", NULL, 32, 4},
    {"NVIDIA", NULL, 32, 8},
    {NULL, NULL, 16, 4}, /* default: small enough for any device */
};

cl_tuning cl_table_gemm(const cl_dev *d) {
  cl_tuning t = {.ts = 8, .wpt = 1, .from = "smallest tile"};
  for (size_t i = 0; i < sizeof kGemmTuning / sizeof kGemmTuning[0]; i++) {
    const tune_entry *e = &kGemmTuning[i];
    if (e->vendor && !strstr(d->platform_name, e->vendor)) continue;
    if (e->device && !strstr(d->name, e->device)) continue;
    t.ts = e->ts;
    t.wpt = e->wpt;
    if (!cl_tuning_fits(d, &t)) continue;
    snprintf(t.from, sizeof t.from, "%s",
             e->device   ? "tuning table: vendor + device"
             : e->vendor ? "tuning table: vendor"
                         : "tuning table: default");
    return t;
  }
  t.ts = 8;
  t.wpt = 1;
  return t;
}

/* ---- context, programs, buffers ---------------------------------------- */

static xo_status ensure_context(cl_dev *d) {
  cl_int err = CL_SUCCESS;
  if (d->ctx) return XO_OK;
  d->ctx = CL.CreateContext(NULL, 1, &d->id, NULL, NULL, &err);
  if (err != CL_SUCCESS)
    return xo_fail(XO_ERR_RUNTIME, "OpenCL: no context (error %d)", err);
  d->queue =
      CL.CreateCommandQueue(d->ctx, d->id, CL_QUEUE_PROFILING_ENABLE, &err);
  if (err != CL_SUCCESS)
    return xo_fail(XO_ERR_RUNTIME, "OpenCL: no queue (error %d)", err);
  return XO_OK;
}

static const char *source_of(const char *which) {
  if (strcmp(which, "gemm") == 0 || strcmp(which, "gemm_blk") == 0)
    return xo_cl_gemm;
  if (strcmp(which, "im2col") == 0) return xo_cl_im2col;
  return xo_cl_attention;
}

static xo_status kernel_get_locked(cl_dev *d, const char *which,
                                   const char *options, const char *name,
                                   cl_kernel *k) {
  char key[512];
  const char *extra = getenv("XPUOPS_OPENCL_BUILD_OPTIONS"); /* tests, tuning */
  char opts[480];
  snprintf(opts, sizeof opts, "%s %s", options, extra ? extra : "");
  snprintf(key, sizeof key, "%s|%s", which, opts);
  xo_status st = ensure_context(d);
  if (st != XO_OK) return st;
  cl_program prog = NULL;
  for (int i = 0; i < d->nprograms; i++)
    if (strcmp(d->programs[i].key, key) == 0) prog = d->programs[i].prog;
  if (prog == NULL) {
    /* the ops' rules (core/rules.h) come first: the kernels apply the
     * same definitions as the C backends */
    /* the direct GEMM (gemm_blk.cl) takes its formats from gemm.cl */
    const char *src[4] = {xo_cl_rules, xo_cl_common, source_of(which),
                          xo_cl_gemm_blk};
    cl_uint nsrc = strcmp(which, "gemm_blk") == 0 ? 4 : 3;
    cl_int err = CL_SUCCESS;
    prog = CL.CreateProgramWithSource(d->ctx, nsrc, src, NULL, &err);
    if (err != CL_SUCCESS)
      return xo_fail(XO_ERR_RUNTIME, "OpenCL: no program (error %d)", err);
    err = CL.BuildProgram(prog, 1, &d->id, opts, NULL, NULL);
    if (err != CL_SUCCESS) {
      char log[4096] = "";
      CL.GetProgramBuildInfo(prog, d->id, CL_PROGRAM_BUILD_LOG, sizeof log - 1,
                             log, NULL);
      CL.ReleaseProgram(prog);
      return xo_fail(XO_ERR_RUNTIME,
                     "OpenCL: building %s.cl with \"%s\" failed (error %d). "
                     "Build log:\n%s",
                     which, opts, err, log);
    }
    if (d->nprograms < CL_MAX_PROGRAMS) {
      cl_program_entry *e = &d->programs[d->nprograms++];
      snprintf(e->key, sizeof e->key, "%s", key);
      e->prog = prog;
    }
  }
  cl_int err = CL_SUCCESS;
  *k = CL.CreateKernel(prog, name, &err);
  return err == CL_SUCCESS
             ? XO_OK
             : xo_fail(XO_ERR_RUNTIME, "OpenCL: no kernel %s (error %d)", name,
                       err);
}

xo_status cl_context_ready(cl_dev *d) {
  pthread_mutex_lock(&d->lock);
  xo_status st = ensure_context(d);
  pthread_mutex_unlock(&d->lock);
  return st;
}

xo_status cl_kernel_get(cl_dev *d, const char *which, const char *options,
                        const char *name, cl_kernel *k) {
  pthread_mutex_lock(&d->lock);
  xo_status st = kernel_get_locked(d, which, options, name, k);
  pthread_mutex_unlock(&d->lock);
  return st;
}

xo_status cl_buffer(cl_dev *d, const void *host, size_t bytes, cl_mem *m) {
  cl_int err = CL_SUCCESS;
  static const char zero[8];
  if (bytes == 0 || host == NULL) { /* a valid, never-read placeholder */
    host = zero;
    bytes = sizeof zero;
  }
  *m = CL.CreateBuffer(d->ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, bytes,
                       (void *)host, &err);
  if (err != CL_SUCCESS)
    return xo_fail(XO_ERR_NO_MEMORY,
                   "OpenCL: cannot allocate %zu bytes on the device (error "
                   "%d)",
                   bytes, err);
  return XO_OK;
}

xo_status cl_alloc(cl_dev *d, size_t bytes, cl_mem *m) {
  cl_int err = CL_SUCCESS;
  *m =
      CL.CreateBuffer(d->ctx, CL_MEM_READ_WRITE, bytes ? bytes : 8, NULL, &err);
  if (err != CL_SUCCESS)
    return xo_fail(XO_ERR_NO_MEMORY,
                   "OpenCL: cannot allocate %zu bytes on the device (error "
                   "%d)",
                   bytes, err);
  return XO_OK;
}

/* ---- the backend table ------------------------------------------------ */

/* a work-group stages a k tile and a v tile of 16 rows (d and dv floats
 * each) in local memory */
static xo_status cl_supports_attention(int index, const xo_problem *p) {
  const cl_dev *d = &devs[index];
  int64_t hd = p->attn.d > p->attn.dv ? p->attn.d : p->attn.dv;
  if (hd > 256 || (size_t)(16 * (p->attn.d + p->attn.dv) * 4) > d->local_mem)
    return xo_fail(XO_ERR_UNSUPPORTED,
                   "opencl: attention head size %lld is too large for "
                   "this device's kernels (at most 256)",
                   (long long)hd);
  return XO_OK;
}

/* Release a plan's kernels (the programs stay in the device's cache). */
static void cl_plan_release(void *plan) {
  cl_plan *pl = plan;
  if (pl->main) CL.ReleaseKernel(pl->main);
  if (pl->im2col) CL.ReleaseKernel(pl->im2col);
}

void cl_plan_begin(cl_plan *pl) {
  pl->dev = &devs[pl->h.device];
}

/* Every op's run: the plan knows its enqueues. */
static xo_status cl_run(void *vplan, const xo_args *args, xo_run_stats *stats) {
  cl_plan *pl = vplan;
  double kernel_s = 0;
  /* clSetKernelArg is not thread-safe: one run per device at a time */
  pthread_mutex_lock(&pl->dev->lock);
  xo_status st = cl_run_ops(pl, args, &kernel_s);
  pthread_mutex_unlock(&pl->dev->lock);
  stats->kernel_s = kernel_s; /* from the device's own events */
  stats->events = kernel_s > 0;
  return st;
}

static void cl_plan_describe(const void *vplan, char *impl, size_t n) {
  const cl_plan *pl = vplan;
  snprintf(impl, n, "%s", pl->impl);
}

/* At exit, with every plan (and so every kernel) gone: the programs,
 * queues and contexts made on first use. */
static void cl_fini(void) {
  for (int i = 0; i < ndevs; i++) {
    cl_dev *d = &devs[i];
    for (int j = 0; j < d->nprograms; j++)
      CL.ReleaseProgram(d->programs[j].prog);
    d->nprograms = 0;
    if (d->queue) CL.ReleaseCommandQueue(d->queue);
    if (d->ctx) CL.ReleaseContext(d->ctx);
    d->queue = NULL;
    d->ctx = NULL;
  }
}

/* the kernels subtract a matmul's input zero point; weight zero points,
 * and a convolution's input zero point (im2col pads with it), go through
 * the core's identity on the s32 sums (opencl_ops.c zp_on_host) */
const xo_backend xo_backend_opencl = {
    .name = "opencl",
    .init = cl_init,
    .device_count = cl_count,
    .describe = cl_describe,
    .ops[XO_OP_MATMUL] = {.plan = cl_plan_matmul,
                          .run = cl_run,
                          .takes = XO_TAKES_ALL},
    .ops[XO_OP_CONV2D] = {.plan = cl_plan_conv,
                          .run = cl_run,
                          .takes =
                              XO_TAKES_ASYM_A | XO_TAKES_ASYM_B | XO_TAKES_S32},
    .ops[XO_OP_ATTENTION] = {.supports = cl_supports_attention,
                             .plan = cl_plan_attention,
                             .run = cl_run},
    .plan_size = sizeof(cl_plan),
    .plan_release = cl_plan_release,
    .plan_describe = cl_plan_describe,
    .fini = cl_fini,
};
