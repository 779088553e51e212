/* dnnl_api.h - the subset of oneDNN v3's C API (dnnl.h) the backend calls,
 * declared here so that building xpuops needs no oneDNN headers: the
 * library itself is dlopen'ed at run time (onednn.c), and its ABI is what
 * these declarations state. tests/test_cpu_backends.py compiles
 * dnnl_signature_check.c, which includes this file with
 * XO_DNNL_REAL_HEADER after oneDNN's own dnnl.h: every prototype below must
 * then agree with oneDNN's, and every constant's value with its header, or
 * the compiler stops. Values are those of oneDNN 3.2 (the onednn-cpu-gomp
 * wheel xpuops loads); the check guards against any other. */
#ifndef XO_DNNL_API_H
#define XO_DNNL_API_H

#include <stddef.h>
#include <stdint.h>

/* The constants the backend uses, per enum type: (name, value). */
#define XO_DNNL_STATUS(X) X(dnnl_success, 0)
#define XO_DNNL_DATA_TYPES(X) \
  X(dnnl_f16, 1)              \
  X(dnnl_bf16, 2)             \
  X(dnnl_f32, 3)              \
  X(dnnl_s32, 4)              \
  X(dnnl_s8, 5)               \
  X(dnnl_u8, 6)
/* dnnl_nchw and dnnl_oihw are aliases of dnnl_abcd (5), dnnl_goihw of
 * dnnl_abcde (6) */
#define XO_DNNL_FORMAT_TAGS(X) \
  X(dnnl_format_tag_any, 1)    \
  X(dnnl_a, 2)                 \
  X(dnnl_ab, 3)                \
  X(dnnl_abc, 4)               \
  X(dnnl_nchw, 5)              \
  X(dnnl_oihw, 5)              \
  X(dnnl_goihw, 6)
#define XO_DNNL_ENGINE_KINDS(X) X(dnnl_cpu, 1)
#define XO_DNNL_PROP_KINDS(X) X(dnnl_forward_inference, 96)
#define XO_DNNL_ALG_KINDS(X)       \
  X(dnnl_convolution_direct, 1)    \
  X(dnnl_eltwise_tanh, 33)         \
  X(dnnl_eltwise_linear, 38)       \
  X(dnnl_softmax_accurate, 196608) \
  X(dnnl_binary_add, 131056)
#define XO_DNNL_QUERIES(X)       \
  X(dnnl_query_impl_info_str, 8) \
  X(dnnl_query_src_md, 129)      \
  X(dnnl_query_weights_md, 131)  \
  X(dnnl_query_dst_md, 133)      \
  X(dnnl_query_scratchpad_md, 136)
#define XO_DNNL_SCRATCHPAD_MODES(X) X(dnnl_scratchpad_mode_user, 1)
#define XO_DNNL_STREAM_FLAGS(X) X(dnnl_stream_default_flags, 1)
#define XO_DNNL_CPU_ISAS(X)             \
  X(dnnl_cpu_isa_avx2, 7)               \
  X(dnnl_cpu_isa_avx2_vnni, 15)         \
  X(dnnl_cpu_isa_avx2_vnni_2, 31)       \
  X(dnnl_cpu_isa_avx512_core, 39)       \
  X(dnnl_cpu_isa_avx512_core_vnni, 103) \
  X(dnnl_cpu_isa_avx512_core_bf16, 231) \
  X(dnnl_cpu_isa_avx512_core_fp16, 495) \
  X(dnnl_cpu_isa_avx512_core_amx, 4079) \
  X(dnnl_cpu_isa_avx512_core_amx_fp16, 8175)
/* Macros in dnnl_types.h / dnnl_config.h */
#define XO_DNNL_MACROS(X)            \
  X(DNNL_MAX_NDIMS, 12)              \
  X(DNNL_RUNTIME_OMP, 2u)            \
  X(DNNL_ARG_SRC, 1)                 \
  X(DNNL_ARG_FROM, 1)                \
  X(DNNL_ARG_SRC_1, 2)               \
  X(DNNL_ARG_DST, 17)                \
  X(DNNL_ARG_TO, 17)                 \
  X(DNNL_ARG_WEIGHTS, 33)            \
  X(DNNL_ARG_BIAS, 41)               \
  X(DNNL_ARG_SCRATCHPAD, 80)         \
  X(DNNL_ARG_ATTR_SCALES, 4096)      \
  X(DNNL_ARG_ATTR_ZERO_POINTS, 8192) \
  X(DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE, 32768)

#ifdef XO_DNNL_REAL_HEADER
/* The check build: oneDNN's header is already included; assert the values. */
#define XO_DNNL_CHECK(name, value) \
  _Static_assert((long)(name) == (long)(value), #name " moved");
XO_DNNL_STATUS(XO_DNNL_CHECK)
XO_DNNL_DATA_TYPES(XO_DNNL_CHECK)
XO_DNNL_FORMAT_TAGS(XO_DNNL_CHECK)
XO_DNNL_ENGINE_KINDS(XO_DNNL_CHECK)
XO_DNNL_PROP_KINDS(XO_DNNL_CHECK)
XO_DNNL_ALG_KINDS(XO_DNNL_CHECK)
XO_DNNL_QUERIES(XO_DNNL_CHECK)
XO_DNNL_SCRATCHPAD_MODES(XO_DNNL_CHECK)
XO_DNNL_STREAM_FLAGS(XO_DNNL_CHECK)
XO_DNNL_CPU_ISAS(XO_DNNL_CHECK)
XO_DNNL_MACROS(XO_DNNL_CHECK)
_Static_assert(DNNL_ARG_ATTR_MULTIPLE_POST_OP(1) == 2 * 32768,
               "DNNL_ARG_ATTR_MULTIPLE_POST_OP moved");
#undef XO_DNNL_CHECK
#else
#define XO_DNNL_ENUM(name, value) name = value,
typedef enum { XO_DNNL_STATUS(XO_DNNL_ENUM) } dnnl_status_t;
typedef enum { XO_DNNL_DATA_TYPES(XO_DNNL_ENUM) } dnnl_data_type_t;
typedef enum { XO_DNNL_FORMAT_TAGS(XO_DNNL_ENUM) } dnnl_format_tag_t;
typedef enum { XO_DNNL_ENGINE_KINDS(XO_DNNL_ENUM) } dnnl_engine_kind_t;
typedef enum { XO_DNNL_PROP_KINDS(XO_DNNL_ENUM) } dnnl_prop_kind_t;
typedef enum { XO_DNNL_ALG_KINDS(XO_DNNL_ENUM) } dnnl_alg_kind_t;
typedef enum { XO_DNNL_QUERIES(XO_DNNL_ENUM) } dnnl_query_t;
typedef enum { XO_DNNL_SCRATCHPAD_MODES(XO_DNNL_ENUM) } dnnl_scratchpad_mode_t;
enum { XO_DNNL_STREAM_FLAGS(XO_DNNL_ENUM) };
typedef enum { XO_DNNL_CPU_ISAS(XO_DNNL_ENUM) } dnnl_cpu_isa_t;
#undef XO_DNNL_ENUM

#define DNNL_MAX_NDIMS 12
#define DNNL_RUNTIME_OMP 2u
#define DNNL_ARG_SRC 1
#define DNNL_ARG_FROM 1
#define DNNL_ARG_SRC_1 2
#define DNNL_ARG_DST 17
#define DNNL_ARG_TO 17
#define DNNL_ARG_WEIGHTS 33
#define DNNL_ARG_BIAS 41
#define DNNL_ARG_SCRATCHPAD 80
#define DNNL_ARG_ATTR_SCALES 4096
#define DNNL_ARG_ATTR_ZERO_POINTS 8192
#define DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE 32768
#define DNNL_ARG_ATTR_MULTIPLE_POST_OP(idx) \
  (DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE * ((idx) + 1))

typedef int64_t dnnl_dim_t;
typedef dnnl_dim_t dnnl_dims_t[DNNL_MAX_NDIMS];

/* Opaque handles, with oneDNN's own struct tags. */
typedef struct dnnl_engine *dnnl_engine_t;
typedef struct dnnl_stream *dnnl_stream_t;
typedef struct dnnl_memory_desc *dnnl_memory_desc_t;
typedef const struct dnnl_memory_desc *const_dnnl_memory_desc_t;
typedef struct dnnl_memory *dnnl_memory_t;
typedef struct dnnl_primitive_attr *dnnl_primitive_attr_t;
typedef const struct dnnl_primitive_attr *const_dnnl_primitive_attr_t;
typedef struct dnnl_post_ops *dnnl_post_ops_t;
typedef const struct dnnl_post_ops *const_dnnl_post_ops_t;
typedef struct dnnl_primitive_desc *dnnl_primitive_desc_t;
typedef const struct dnnl_primitive_desc *const_dnnl_primitive_desc_t;
typedef struct dnnl_primitive *dnnl_primitive_t;
typedef const struct dnnl_primitive *const_dnnl_primitive_t;

typedef struct {
  int major, minor, patch;
  const char *hash;
  unsigned cpu_runtime, gpu_runtime;
} dnnl_version_t;

typedef struct {
  int arg;
  dnnl_memory_t memory;
} dnnl_exec_arg_t;
#endif /* XO_DNNL_REAL_HEADER */

/* The functions, as oneDNN 3.2 declares them (redeclared in the check
 * build, where a mismatch is an error). */
const dnnl_version_t *dnnl_version(void);
dnnl_cpu_isa_t dnnl_get_effective_cpu_isa(void);
dnnl_status_t dnnl_engine_create(dnnl_engine_t *engine, dnnl_engine_kind_t kind,
                                 size_t index);
dnnl_status_t dnnl_engine_destroy(dnnl_engine_t engine);
dnnl_status_t dnnl_stream_create(dnnl_stream_t *stream, dnnl_engine_t engine,
                                 unsigned flags);
dnnl_status_t dnnl_stream_destroy(dnnl_stream_t stream);
dnnl_status_t dnnl_memory_desc_create_with_tag(dnnl_memory_desc_t *memory_desc,
                                               int ndims,
                                               const dnnl_dims_t dims,
                                               dnnl_data_type_t data_type,
                                               dnnl_format_tag_t tag);
dnnl_status_t dnnl_memory_desc_create_with_strides(
    dnnl_memory_desc_t *memory_desc, int ndims, const dnnl_dims_t dims,
    dnnl_data_type_t data_type, const dnnl_dims_t strides);
dnnl_status_t dnnl_memory_desc_destroy(dnnl_memory_desc_t memory_desc);
size_t dnnl_memory_desc_get_size(const_dnnl_memory_desc_t memory_desc);
int dnnl_memory_desc_equal(const_dnnl_memory_desc_t lhs,
                           const_dnnl_memory_desc_t rhs);
dnnl_status_t dnnl_memory_desc_clone(
    dnnl_memory_desc_t *memory_desc,
    const_dnnl_memory_desc_t existing_memory_desc);
dnnl_status_t dnnl_memory_create(dnnl_memory_t *memory,
                                 const_dnnl_memory_desc_t memory_desc,
                                 dnnl_engine_t engine, void *handle);
dnnl_status_t dnnl_memory_destroy(dnnl_memory_t memory);
dnnl_status_t dnnl_primitive_attr_create(dnnl_primitive_attr_t *attr);
dnnl_status_t dnnl_primitive_attr_destroy(dnnl_primitive_attr_t attr);
dnnl_status_t dnnl_primitive_attr_set_scales_mask(dnnl_primitive_attr_t attr,
                                                  int arg, int mask);
dnnl_status_t dnnl_primitive_attr_set_zero_points_mask(
    dnnl_primitive_attr_t attr, int arg, int mask);
dnnl_status_t dnnl_primitive_attr_set_scratchpad_mode(
    dnnl_primitive_attr_t attr, dnnl_scratchpad_mode_t mode);
dnnl_status_t dnnl_primitive_attr_set_post_ops(dnnl_primitive_attr_t attr,
                                               const_dnnl_post_ops_t post_ops);
dnnl_status_t dnnl_post_ops_create(dnnl_post_ops_t *post_ops);
dnnl_status_t dnnl_post_ops_destroy(dnnl_post_ops_t post_ops);
dnnl_status_t dnnl_post_ops_append_eltwise(dnnl_post_ops_t post_ops,
                                           dnnl_alg_kind_t alg_kind,
                                           float alpha, float beta);
dnnl_status_t dnnl_post_ops_append_binary(dnnl_post_ops_t post_ops,
                                          dnnl_alg_kind_t alg_kind,
                                          const_dnnl_memory_desc_t src1_desc);
dnnl_status_t dnnl_matmul_primitive_desc_create(
    dnnl_primitive_desc_t *primitive_desc, dnnl_engine_t engine,
    const_dnnl_memory_desc_t src_desc, const_dnnl_memory_desc_t weights_desc,
    const_dnnl_memory_desc_t bias_desc, const_dnnl_memory_desc_t dst_desc,
    const_dnnl_primitive_attr_t attr);
dnnl_status_t dnnl_convolution_forward_primitive_desc_create(
    dnnl_primitive_desc_t *primitive_desc, dnnl_engine_t engine,
    dnnl_prop_kind_t prop_kind, dnnl_alg_kind_t alg_kind,
    const_dnnl_memory_desc_t src_desc, const_dnnl_memory_desc_t weights_desc,
    const_dnnl_memory_desc_t bias_desc, const_dnnl_memory_desc_t dst_desc,
    const dnnl_dims_t strides, const dnnl_dims_t dilates,
    const dnnl_dims_t padding_l, const dnnl_dims_t padding_r,
    const_dnnl_primitive_attr_t attr);
dnnl_status_t dnnl_softmax_forward_primitive_desc_create(
    dnnl_primitive_desc_t *primitive_desc, dnnl_engine_t engine,
    dnnl_prop_kind_t prop_kind, dnnl_alg_kind_t alg_kind,
    const_dnnl_memory_desc_t src_desc, const_dnnl_memory_desc_t dst_desc,
    int softmax_axis, const_dnnl_primitive_attr_t attr);
dnnl_status_t dnnl_reorder_primitive_desc_create(
    dnnl_primitive_desc_t *reorder_primitive_desc,
    const_dnnl_memory_desc_t src_desc, dnnl_engine_t src_engine,
    const_dnnl_memory_desc_t dst_desc, dnnl_engine_t dst_engine,
    const_dnnl_primitive_attr_t attr);
dnnl_status_t dnnl_primitive_desc_query(
    const_dnnl_primitive_desc_t primitive_desc, dnnl_query_t what, int index,
    void *result);
const_dnnl_memory_desc_t dnnl_primitive_desc_query_md(
    const_dnnl_primitive_desc_t primitive_desc, dnnl_query_t what, int index);
dnnl_status_t dnnl_primitive_desc_destroy(dnnl_primitive_desc_t primitive_desc);
dnnl_status_t dnnl_primitive_create(dnnl_primitive_t *primitive,
                                    const_dnnl_primitive_desc_t primitive_desc);
dnnl_status_t dnnl_primitive_execute(const_dnnl_primitive_t primitive,
                                     dnnl_stream_t stream, int nargs,
                                     const dnnl_exec_arg_t *args);
dnnl_status_t dnnl_primitive_destroy(dnnl_primitive_t primitive);

#endif /* XO_DNNL_API_H */
