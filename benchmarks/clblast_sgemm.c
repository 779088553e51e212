/* clblast_sgemm.c - the peer for the OpenCL GEMM: CLBlast's SGEMM on the
 * same OpenCL device. Timed by the wall clock from the call to clFinish:
 * CLBlast may run several kernels (padding, transposes, the GEMM) and
 * returns the event of one of them only. Benchmark only (Debian's
 * libclblast-dev); xpuops does not link it.
 *
 *   clblast_sgemm N [device-index] [repeats]   (prints best ms and GFLOPS) */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <clblast_c.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s N [device-index] [repeats]\n", argv[0]);
    return 2;
  }
  size_t n = (size_t)atol(argv[1]);
  int want = argc > 2 ? atoi(argv[2]) : 0, reps = argc > 3 ? atoi(argv[3]) : 5;
  cl_platform_id plats[8];
  cl_uint np = 0;
  clGetPlatformIDs(8, plats, &np);
  cl_device_id dev = NULL;
  int seen = 0;
  for (cl_uint p = 0; p < np && !dev; p++) {
    cl_device_id ids[16];
    cl_uint nd = 0;
    if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 16, ids, &nd)) continue;
    for (cl_uint i = 0; i < nd && !dev; i++, seen++)
      if (seen == want) dev = ids[i];
  }
  if (!dev) {
    fprintf(stderr, "no OpenCL device %d\n", want);
    return 1;
  }
  char name[256];
  clGetDeviceInfo(dev, CL_DEVICE_NAME, sizeof name, name, NULL);
  cl_int err;
  cl_context ctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
  cl_command_queue q =
      clCreateCommandQueue(ctx, dev, CL_QUEUE_PROFILING_ENABLE, &err);
  float *h = malloc(n * n * sizeof(float));
  for (size_t i = 0; i < n * n; i++) h[i] = (float)((i * 7919) % 1000) / 1000;
  cl_mem a = clCreateBuffer(ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR,
                            n * n * 4, h, &err);
  cl_mem b = clCreateBuffer(ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR,
                            n * n * 4, h, &err);
  cl_mem c = clCreateBuffer(ctx, CL_MEM_READ_WRITE, n * n * 4, NULL, &err);
  double best = 1e30;
  for (int r = 0; r < reps + 1; r++) {
    cl_event ev;
    double t0 = now();
    CLBlastStatusCode s = CLBlastSgemm(
        CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, n, n, n,
        1.0f, a, 0, n, b, 0, n, 0.0f, c, 0, n, &q, &ev);
    if (s != CLBlastSuccess) {
      fprintf(stderr, "CLBlastSgemm failed: %d\n", (int)s);
      return 1;
    }
    clFinish(q);
    double dt = now() - t0;
    if (r > 0 && dt < best) best = dt; /* the first run compiles */
    clReleaseEvent(ev);
  }
  printf("CLBlast SGEMM %zux%zux%zu on %s: %.2f ms, %.1f FP32 GFLOPS\n", n, n,
         n, name, best * 1e3, 2.0 * n * n * n / best / 1e9);
  return 0;
}
