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
  cl_uint units, mhz, vector_float, vector_int;
  cl_ulong local_mem, max_alloc;
  size_t max_group;
  pthread_mutex_t lock; /* context creation, program cache, kernel args */
  cl_context ctx;
  cl_command_queue queue;
  cl_program_entry programs[CL_MAX_PROGRAMS];
  int nprograms;
} cl_dev;

cl_dev *cl_device(int index);

/* GEMM tiling for a device and precision: the tuning table's most
 * specific entry (vendor+device, vendor, default), or XPUOPS_OPENCL_TUNE
 * ("TS=32,WPT=4"). */
typedef struct cl_tuning {
  int ts, wpt;
  const char *from; /* which entry chose it */
} cl_tuning;
cl_tuning cl_tune_gemm(const cl_dev *d, xo_precision prec);

/* A kernel of source `which` ("gemm", "im2col", "attention") built with
 * options, from the device's program cache (made on first use, under
 * d->lock). Compile errors come back as XO_ERR_RUNTIME with the build
 * log. */
xo_status cl_kernel_get(cl_dev *d, const char *which, const char *options,
                        const char *name, cl_kernel *k);

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

/* What every op's plan does first: the device and its GEMM tuning. */
void cl_plan_begin(cl_plan *pl);
/* Each op's plan (xo_op_impl.plan): kernels, the plan's enqueue and impl. */
xo_status cl_plan_matmul(void *plan);
xo_status cl_plan_conv(void *plan);
xo_status cl_plan_attention(void *plan);
/* Run pl's op: enqueue, wait, and the kernels' event time (0: none). */
xo_status cl_run_ops(cl_plan *pl, const xo_args *args, double *kernel_s);

#endif /* XO_OPENCL_H */
