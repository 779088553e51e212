/* cl_api.h - the part of the OpenCL 1.2 C API this backend calls, declared
 * here (types, constants and function-pointer types, as in the Khronos
 * headers) so that building xpuops never needs OpenCL headers: the ICD
 * loader libOpenCL.so.1 is dlopen'ed at run time. */
#ifndef XO_CL_API_H
#define XO_CL_API_H

#include <stddef.h>
#include <stdint.h>

typedef int32_t cl_int;
typedef uint32_t cl_uint;
typedef uint64_t cl_ulong;
typedef cl_ulong cl_bitfield;
typedef cl_bitfield cl_device_type;
typedef cl_bitfield cl_mem_flags;
typedef cl_bitfield cl_command_queue_properties;
typedef intptr_t cl_context_properties;
typedef cl_uint cl_platform_info;
typedef cl_uint cl_device_info;
typedef cl_uint cl_program_build_info;
typedef cl_uint cl_profiling_info;
typedef struct _cl_platform_id *cl_platform_id;
typedef struct _cl_device_id *cl_device_id;
typedef struct _cl_context *cl_context;
typedef struct _cl_command_queue *cl_command_queue;
typedef struct _cl_mem *cl_mem;
typedef struct _cl_program *cl_program;
typedef struct _cl_kernel *cl_kernel;
typedef struct _cl_event *cl_event;

enum {
  CL_SUCCESS = 0,
  CL_BUILD_PROGRAM_FAILURE = -11,
};
#define CL_DEVICE_TYPE_CPU (1u << 1)
#define CL_DEVICE_TYPE_GPU (1u << 2)
#define CL_DEVICE_TYPE_ACCELERATOR (1u << 3)
#define CL_DEVICE_TYPE_ALL 0xFFFFFFFFu
#define CL_PLATFORM_VERSION 0x0901
#define CL_PLATFORM_NAME 0x0902
#define CL_DEVICE_TYPE 0x1000
#define CL_DEVICE_MAX_COMPUTE_UNITS 0x1002
#define CL_DEVICE_MAX_WORK_GROUP_SIZE 0x1004
#define CL_DEVICE_PREFERRED_VECTOR_WIDTH_INT 0x1008
#define CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT 0x100A
#define CL_DEVICE_PREFERRED_VECTOR_WIDTH_HALF 0x1034
#define CL_DEVICE_MAX_CLOCK_FREQUENCY 0x100C
#define CL_DEVICE_MAX_MEM_ALLOC_SIZE 0x1010
#define CL_DEVICE_GLOBAL_MEM_SIZE 0x101F
#define CL_DEVICE_LOCAL_MEM_SIZE 0x1023
#define CL_DEVICE_NAME 0x102B
#define CL_DEVICE_VENDOR 0x102C
#define CL_DRIVER_VERSION 0x102D
#define CL_DEVICE_VERSION 0x102F
#define CL_DEVICE_EXTENSIONS 0x1030
#define CL_QUEUE_PROFILING_ENABLE (1u << 1)
#define CL_MEM_READ_WRITE (1u << 0)
#define CL_MEM_READ_ONLY (1u << 2)
#define CL_MEM_COPY_HOST_PTR (1u << 5)
#define CL_PROGRAM_BUILD_LOG 0x1183
#define CL_PROFILING_COMMAND_START 0x1282
#define CL_PROFILING_COMMAND_END 0x1283
#define CL_TRUE 1

typedef cl_int (*clGetPlatformIDs_fn)(cl_uint, cl_platform_id *, cl_uint *);
typedef cl_int (*clGetPlatformInfo_fn)(cl_platform_id, cl_platform_info, size_t,
                                       void *, size_t *);
typedef cl_int (*clGetDeviceIDs_fn)(cl_platform_id, cl_device_type, cl_uint,
                                    cl_device_id *, cl_uint *);
typedef cl_int (*clGetDeviceInfo_fn)(cl_device_id, cl_device_info, size_t,
                                     void *, size_t *);
typedef cl_context (*clCreateContext_fn)(
    const cl_context_properties *, cl_uint, const cl_device_id *,
    void (*)(const char *, const void *, size_t, void *), void *, cl_int *);
typedef cl_command_queue (*clCreateCommandQueue_fn)(cl_context, cl_device_id,
                                                    cl_command_queue_properties,
                                                    cl_int *);
typedef cl_program (*clCreateProgramWithSource_fn)(cl_context, cl_uint,
                                                   const char **,
                                                   const size_t *, cl_int *);
typedef cl_int (*clBuildProgram_fn)(cl_program, cl_uint, const cl_device_id *,
                                    const char *, void (*)(cl_program, void *),
                                    void *);
typedef cl_int (*clGetProgramBuildInfo_fn)(cl_program, cl_device_id,
                                           cl_program_build_info, size_t,
                                           void *, size_t *);
typedef cl_kernel (*clCreateKernel_fn)(cl_program, const char *, cl_int *);
typedef cl_int (*clSetKernelArg_fn)(cl_kernel, cl_uint, size_t, const void *);
typedef cl_mem (*clCreateBuffer_fn)(cl_context, cl_mem_flags, size_t, void *,
                                    cl_int *);
typedef cl_int (*clEnqueueReadBuffer_fn)(cl_command_queue, cl_mem, cl_uint,
                                         size_t, size_t, void *, cl_uint,
                                         const cl_event *, cl_event *);
typedef cl_int (*clEnqueueNDRangeKernel_fn)(cl_command_queue, cl_kernel,
                                            cl_uint, const size_t *,
                                            const size_t *, const size_t *,
                                            cl_uint, const cl_event *,
                                            cl_event *);
typedef cl_int (*clFinish_fn)(cl_command_queue);
typedef cl_int (*clGetEventProfilingInfo_fn)(cl_event, cl_profiling_info,
                                             size_t, void *, size_t *);
typedef cl_int (*clRelease_fn)(void *);

#endif /* XO_CL_API_H */
