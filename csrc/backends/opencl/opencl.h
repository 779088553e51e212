/* opencl.h - private to the OpenCL backend. */
#ifndef XO_OPENCL_H
#define XO_OPENCL_H

#include <pthread.h>

#include "../../core/semantics.h"
#include "cl_api.h"

/* The OpenCL functions the backend calls, from the dlopen'ed ICD loader:
 * X(name, type) for clName of type. */
#define XO_CL_FUNCS(X)                                     \
  X(GetPlatformIDs, clGetPlatformIDs_fn)                   \
  X(GetPlatformInfo, clGetPlatformInfo_fn)                 \
  X(GetDeviceIDs, clGetDeviceIDs_fn)                       \
  X(GetDeviceInfo, clGetDeviceInfo_fn)                     \
  X(CreateContext, clCreateContext_fn)                     \
  X(CreateCommandQueue, clCreateCommandQueue_fn)           \
  X(CreateProgramWithSource, clCreateProgramWithSource_fn) \
  X(BuildProgram, clBuildProgram_fn)                       \
  X(GetProgramBuildInfo, clGetProgramBuildInfo_fn)         \
  X(CreateKernel, clCreateKernel_fn)                       \
  X(SetKernelArg, clSetKernelArg_fn)                       \
  X(CreateBuffer, clCreateBuffer_fn)                       \
  X(EnqueueReadBuffer, clEnqueueReadBuffer_fn)             \
  X(EnqueueNDRangeKernel, clEnqueueNDRangeKernel_fn)       \
  X(Finish, clFinish_fn)                                   \
  X(GetEventProfilingInfo, clGetEventProfilingInfo_fn)     \
  X(ReleaseMemObject, clRelease_fn)                        \
  X(ReleaseKernel, clRelease_fn)                           \
  X(ReleaseProgram, clRelease_fn)                          \
  X(ReleaseEvent, clRelease_fn)                            \
  X(ReleaseCommandQueue, clRelease_fn)                     \
  X(ReleaseContext, clRelease_fn)

typedef struct cl_api {
#define XO_CL_MEMBER(f, type) type f;
  XO_CL_FUNCS(XO_CL_MEMBER)
#undef XO_CL_MEMBER
} cl_api;

extern cl_api CL;

enum { CL_MAX_PROGRAMS = 256 };

typedef struct cl_program_entry {
  char key[512]; /* source name + build options */
  cl_program prog;
} cl_program_entry;

/* One OpenCL device: a context and an in-order, profiling queue made on
 * first use, and the programs compiled for it. */
typedef struct cl_dev {
  cl_platform_id platform;
  cl_device_id id;
  char platform_name[128], name[128], vendor[128], version[128], driver[128];
  int is_cpu, is_gpu, fp16, fp64;
  int dot4; /* cl_khr_integer_dot_product (packed 4 x 8-bit) */
  cl_uint units, mhz, vector_float, vector_int, vector_half;
  cl_ulong local_mem, max_alloc;
  size_t max_group;
  pthread_mutex_t lock; /* context creation, program cache, kernel args */
  cl_context ctx;
  cl_command_queue queue;
  cl_program_entry programs[CL_MAX_PROGRAMS];
  int nprograms;
} cl_dev;

cl_dev *cl_device(int index);

/* Which GEMM kernel runs and with what parameters: the tiled xo_gemm
 * (gemm.cl: TS x TS tiles in local memory, WPT rows per work-item) or the
 * direct xo_gemm_blk (gemm_blk.cl: an MW x VW block per work-item,
 * LX x LY work-groups, packed 4 x 8-bit dot products with dot4). */
typedef struct cl_tuning {
  int ts, wpt;                /* tiled */
  int direct, mw, vw, lx, ly; /* direct */
  int dot4;       /* 1: cl_khr_integer_dot_product, 2: the software dot */
  char from[112]; /* where they came from, for the impl string */
} cl_tuning;
/* The fixed table's most specific entry (vendor+device, vendor, default):
 * the starting point of the tuner (opencl.c). */
cl_tuning cl_table_gemm(const cl_dev *d);
/* The parameters for a GEMM of M x N x K with these operand formats
 * ("F32", "S8"...) on device index (tune.c): XPUOPS_OPENCL_TUNE
 * ("TS=32,WPT=4" or "MW=4,VW=8,LX=8,LY=4"), else tuned (in this process,
 * the cache file, or a bounded search now), else the table. */
cl_tuning cl_tune_gemm(cl_dev *d, int index, int integer, int M, int N, int K,
                       const char *a_fmt, const char *b_fmt);
/* Packed 4 x 8-bit integer dot products for 8-bit kernels on d: 0 none,
 * 1 cl_khr_integer_dot_product, 2 the software dot of the same semantics
 * (XPUOPS_OPENCL_DOT4=soft, for tests; "0" turns the path off). */
int cl_dot4_mode(const cl_dev *d);
/* 1 if the device can run t (work-group and local memory sizes). */
int cl_tuning_fits(const cl_dev *d, const cl_tuning *t);
/* t's build options (-DTS... or -DMW... -DDOT4), its kernel and parameters
 * for the impl string, and its global and local sizes for M x N x batch. */
void cl_gemm_options(const cl_tuning *t, char *buf, size_t n);
void cl_tuning_name(const cl_tuning *t, char *buf, size_t n);
void cl_gemm_ranges(const cl_tuning *t, int M, int N, int batch, size_t g[3],
                    size_t l[3]);
/* The path of device d's tuning cache file; 0 when there is no cache
 * directory (XPUOPS_CACHE_DIR, XDG_CACHE_HOME/xpuops, ~/.cache/xpuops). */
int cl_tune_cache_path(const cl_dev *d, char *buf, size_t n);

/* A kernel of source `which` ("gemm", "im2col", "attention") built with
 * options, from the device's program cache (made on first use, under
 * d->lock). Compile errors come back as XO_ERR_RUNTIME with the build
 * log. */
xo_status cl_kernel_get(cl_dev *d, const char *which, const char *options,
                        const char *name, cl_kernel *k);

/* The device's context and queue, made on first use. */
xo_status cl_context_ready(cl_dev *d);
/* An input buffer holding a copy of bytes at host; with host NULL or no
 * bytes, a small placeholder for an argument the kernel never reads. */
xo_status cl_buffer(cl_dev *d, const void *host, size_t bytes, cl_mem *m);
/* A device buffer of bytes for the kernels to write (contents undefined). */
xo_status cl_alloc(cl_dev *d, size_t bytes, cl_mem *m);

/* One run's events and what had none (opencl_ops.c). */
typedef struct run_ctx run_ctx;

typedef struct cl_plan cl_plan;
struct cl_plan {
  xo_plan_head h; /* first: the core's plan head */
  cl_dev *dev;
  cl_tuning tune;
  cl_kernel main, im2col;
  char impl[320];
  /* the op's buffers and enqueues, set by its plan function; m holds up
   * to 8 buffers, released after the run */
  xo_status (*enqueue)(cl_plan *pl, const xo_args *args, run_ctx *r, cl_mem *m);
};

/* What every op's plan does first: the device. */
void cl_plan_begin(cl_plan *pl);
/* Each op's plan (xo_op_impl.plan): kernels, the plan's enqueue and impl. */
xo_status cl_plan_matmul(void *plan);
xo_status cl_plan_conv(void *plan);
xo_status cl_plan_attention(void *plan);
/* Run pl's op: enqueue, wait, and the kernels' event time (0: none). */
xo_status cl_run_ops(cl_plan *pl, const xo_args *args, double *kernel_s);

#endif /* XO_OPENCL_H */
