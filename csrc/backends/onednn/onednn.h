/* onednn.h - private to the oneDNN backend.
 *
 * oneDNN v3 comes from PyPI (onednn-cpu-gomp: the CPU build on GNU OpenMP).
 * The library is dlopen'ed so that importing xpuops never depends on it; its
 * functions are reached through the table below, typed from dnnl_api.h, our
 * own declaration of the subset we call (checked against oneDNN's header by
 * the tests), so the build needs no oneDNN headers. */
#ifndef XO_ONEDNN_H
#define XO_ONEDNN_H

#include <pthread.h>

#include "../../core/semantics.h"
#include "dnnl_api.h"

/* Every oneDNN function the backend calls. */
#define XO_DNNL_FUNCS(X)                            \
  X(dnnl_version)                                   \
  X(dnnl_get_effective_cpu_isa)                     \
  X(dnnl_engine_create)                             \
  X(dnnl_engine_destroy)                            \
  X(dnnl_stream_create)                             \
  X(dnnl_stream_destroy)                            \
  X(dnnl_memory_desc_create_with_tag)               \
  X(dnnl_memory_desc_create_with_strides)           \
  X(dnnl_memory_desc_destroy)                       \
  X(dnnl_memory_desc_get_size)                      \
  X(dnnl_memory_desc_equal)                         \
  X(dnnl_memory_desc_clone)                         \
  X(dnnl_memory_create)                             \
  X(dnnl_memory_destroy)                            \
  X(dnnl_primitive_attr_create)                     \
  X(dnnl_primitive_attr_destroy)                    \
  X(dnnl_primitive_attr_set_scales_mask)            \
  X(dnnl_primitive_attr_set_zero_points_mask)       \
  X(dnnl_primitive_attr_set_scratchpad_mode)        \
  X(dnnl_primitive_attr_set_post_ops)               \
  X(dnnl_post_ops_create)                           \
  X(dnnl_post_ops_destroy)                          \
  X(dnnl_post_ops_append_eltwise)                   \
  X(dnnl_post_ops_append_binary)                    \
  X(dnnl_matmul_primitive_desc_create)              \
  X(dnnl_convolution_forward_primitive_desc_create) \
  X(dnnl_softmax_forward_primitive_desc_create)     \
  X(dnnl_reorder_primitive_desc_create)             \
  X(dnnl_primitive_desc_query)                      \
  X(dnnl_primitive_desc_query_md)                   \
  X(dnnl_primitive_desc_destroy)                    \
  X(dnnl_primitive_create)                          \
  X(dnnl_primitive_execute)                         \
  X(dnnl_primitive_destroy)

typedef struct dnn_api {
#define XO_DNNL_MEMBER(f) __typeof__(&f) f;
  XO_DNNL_FUNCS(XO_DNNL_MEMBER)
#undef XO_DNNL_MEMBER
  void (*omp_set_num_threads)(int);
} dnn_api;

extern dnn_api D;
extern dnnl_engine_t dnn_engine;

/* One primitive with what running it needs. */
typedef struct dnn_prim {
  dnnl_primitive_t prim;
  char impl[96];  /* oneDNN's implementation name, e.g. brg:avx512_core_amx */
  size_t scratch; /* user-managed scratchpad bytes */
  dnnl_memory_desc_t scratch_md;
} dnn_prim;

enum { DNN_MAX_MDS = 12 };

/* Weights derived once (unpacked, widened, reordered) for the immutable
 * operand named by token; kept by the plan across calls. */
typedef struct dnn_wcache {
  pthread_rwlock_t lock;
  uint64_t token; /* 0: empty */
  void *buf;
  size_t bytes;
} dnn_wcache;

/* The cached weights for token with the read lock held (release with
 * dnn_wcache_done), or NULL with no lock held. */
const void *dnn_wcache_get(dnn_wcache *c, uint64_t token);
void dnn_wcache_done(dnn_wcache *c);
/* Keep a copy of bytes at src under token (no-op for token 0). */
void dnn_wcache_put(dnn_wcache *c, uint64_t token, const void *src,
                    size_t bytes);

typedef struct dnn_plan {
  xo_plan_head h;                     /* first: the core's plan head */
  dnn_prim main, second, third;       /* matmul | conv | QK, softmax, PV */
  dnn_prim reorder[3];                /* conv: src in, weights in, dst out */
  dnnl_memory_desc_t md[DNN_MAX_MDS]; /* owned descriptors, see users */
  int nmd;
  size_t bytes[4]; /* conv: reordered src, weights, dst */
  float *mask;     /* attention: the rules' additive mask, made with the
                    * plan, or NULL (none, or built per run) */
  int has_mask;    /* attention: S gets an additive mask (binary post-op) */
  int mask_po;     /* attention: that post-op's index */
  int widen8;      /* fp8 operands widened to bf16 (exact) */
  int unpack4;     /* int4 weights unpacked to s8 (exact) */
  dnn_wcache wc;   /* derived weights of the last immutable operand */
  int wc_ready;    /* wc.lock initialised (dnn_plan_begin) */
  char impl[400];  /* what runs (3 primitives for attention): xo_op_info
                    * keeps the first 319 characters */
} dnn_plan;

/* ", fp8 widened to bf16", ", int4 unpacked to s8" or "": for impl. */
const char *dnn_emulation(const dnn_plan *pl);

/* Create a primitive from pd (taking ownership of pd) and record what it
 * runs and its scratchpad. */
xo_status dnn_prim_make(dnnl_primitive_desc_t pd, dnn_prim *out,
                        const char *what);
void dnn_prim_free(dnn_prim *p);
/* A new memory descriptor owned by the plan (freed with it). */
dnnl_memory_desc_t dnn_md(dnn_plan *pl, int ndims, const int64_t *dims,
                          dnnl_data_type_t dt, dnnl_format_tag_t tag);
dnnl_memory_desc_t dnn_md_strided(dnn_plan *pl, int ndims, const int64_t *dims,
                                  dnnl_data_type_t dt, const int64_t *strides);
/* An attr with user scratchpad; NULL on failure. */
dnnl_primitive_attr_t dnn_attr(void);
/* Execute with n (arg, md, pointer) triples plus the scratchpad. */
typedef struct dnn_arg {
  int arg;
  const_dnnl_memory_desc_t md;
  const void *ptr;
} dnn_arg;
xo_status dnn_exec(const dnn_prim *p, const dnn_arg *args, int n);

/* Thread-local scratch, slot 0..DNN_SLOTS-1, grown as needed and kept for
 * the next run on this thread. */
enum { DNN_SLOTS = 8 };
void *dnn_scratch(int slot, size_t bytes);

/* fp8 E4M3 codes to bf16 bits (every E4M3 value is a bf16 value). */
void dnn_fp8_to_bf16(const uint8_t *src, int64_t n, uint16_t *dst);
/* The n activations src as the primitive reads them: src itself, or (fp8)
 * widened to bf16 in scratch slot 0; NULL when that cannot be had. */
const void *dnn_activation(const dnn_plan *pl, const void *src, int64_t n);

/* What every op's plan does first: the weight cache and the emulations
 * (fp8 widened to bf16, int4 unpacked to s8). */
void dnn_plan_begin(dnn_plan *pl);
/* What every run does first: OpenMP's thread count is per calling thread,
 * so it is set for this one, every time. */
void dnn_run_begin(void);

/* Each op's plan (xo_op_impl.plan: primitives and descriptors; attention
 * names itself in pl->impl, the others are named after pl->main) and run
 * (xo_op_impl.run). */
xo_status dnn_matmul_plan(void *plan);
xo_status dnn_matmul_run(void *plan, const xo_args *args, xo_run_stats *stats);
xo_status dnn_conv_plan(void *plan);
xo_status dnn_conv_run(void *plan, const xo_args *args, xo_run_stats *stats);
xo_status dnn_attention_plan(void *plan);
xo_status dnn_attention_run(void *plan, const xo_args *args,
                            xo_run_stats *stats);

/* The oneDNN data type of an operand of precision prec (fp8 widened). */
dnnl_data_type_t dnn_operand_type(xo_precision prec, int is_unsigned);

#endif /* XO_ONEDNN_H */
