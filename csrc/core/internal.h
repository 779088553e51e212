/* internal.h - private to the core and its backends: the backend table, the
 * problem description that keys the plan cache, and shared helpers. The
 * rules of the ops (which keys a query sees, the kv-head map, empty
 * reductions, bias, the int8 attention steps) are in semantics.h. */
#ifndef XO_INTERNAL_H
#define XO_INTERNAL_H

#include <stdarg.h>
#include <stdint.h>

#include "../xpuops.h"

/* Hot loops are compiled for several ISAs and chosen at load time (ifunc).
 * Contraction to FMA is off everywhere, so every clone computes the same
 * bits: only the vector width differs. */
/* The fuzz build (make fuzz-c) passes -DXO_CLONES= because clang 15 names
 * target_clones symbols differently from gcc. */
#ifndef XO_CLONES
#if defined(__x86_64__) && defined(__linux__)
#define XO_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
/* target_clones needs x86 and the ifunc resolver of glibc */
#define XO_CLONES
#endif
#endif

/* ---- status ------------------------------------------------------------ */

/* Record a failure message for this thread and return status. */
xo_status xo_fail(xo_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- overflow-checked sizes -------------------------------------------- */

/* *r = a * b for non-negative a, b; XO_ERR_OVERFLOW past INT64_MAX. */
xo_status xo_mul_size(int64_t a, int64_t b, int64_t *r);
/* Product of n non-negative dims with the same check. */
xo_status xo_prod_size(const int64_t *dims, int n, int64_t *r);
/* malloc of count * size bytes (count may be 0), overflow-checked. */
xo_status xo_alloc(int64_t count, size_t size, void **p);

/* Monotonic wall clock in seconds. */
double xo_now(void);

/* ---- the CPU (probe.c) -------------------------------------------------- */

/* The theoretical per-core peak of this CPU in prec (DESIGN.md s3): ops per
 * cycle of the widest instruction that runs it here, with the instruction
 * in formula (fp8 and int4: the units they are widened to); all 0 when no
 * instruction here does. */
void xo_cpu_peak(xo_precision prec, xo_peak *peak);
/* desc->peak[p] = xo_cpu_peak(p) for every precision desc lists: the peaks
 * of a backend that computes on this CPU's cores. */
void xo_cpu_peaks_fill(xo_device_desc *desc);

/* ---- strided iteration ------------------------------------------------- */

/* Called once per innermost row of a strided tensor, in row-major order:
 * n elements starting at src, stride bytes apart; first is the row-major
 * index of the row's first element. */
typedef xo_status (*xo_row_fn)(const char *src, int64_t stride, int64_t n,
                               int64_t first, void *ctx);
/* Visit every row of t (a 0-d tensor is one row of one element). */
xo_status xo_foreach_row(const xo_tensor *t, xo_row_fn fn, void *ctx);
/* Load n strided elements of dtype as double (exact for every dtype). */
void xo_load_f64(xo_dtype dtype, const char *src, int64_t stride, int64_t n,
                 double *dst);

/* ---- formats ----------------------------------------------------------- */

/* The operand format of a float precision (F64, F32, BF16, F16, F8E4M3). */
xo_dtype xo_prec_operand_dtype(xo_precision prec);
/* Decode n contiguous elements of a float dtype to float32 (exact for
 * everything narrower than f32). */
void xo_decode_f32(xo_dtype dtype, const void *src, int64_t n, float *dst);
/* Largest |q| of a symmetric int precision: 127 (int8) or 7 (int4). */
int32_t xo_qmax(xo_precision prec);

/* ---- problems: what a plan is for -------------------------------------- */

typedef enum xo_op_kind {
  XO_OP_MATMUL = 1,
  XO_OP_CONV2D = 2,
  XO_OP_ATTENTION = 3,
  XO_OP_COUNT /* bound of xo_backend.ops (index 0 is unused) */
} xo_op_kind;

/* "matmul", "conv2d", "attention" (static storage); "op" otherwise. */
const char *xo_op_name(int op);

/* matmul: out [batch, m, n] = a [batch_a, m, k] @ b [batch_b, k, n], where
 * batch_a, batch_b are batch or 1 (broadcast). */
typedef struct xo_matmul_desc {
  int64_t batch, batch_a, batch_b, m, n, k;
} xo_matmul_desc;

/* conv2d, NCHW: out [in_n, out_c, out_h, out_w] from x [in_n, in_c, in_h,
 * in_w] and w [out_c, in_c / groups, kh, kw]; out_h, out_w are computed
 * once, by the core (ops/conv2d.c). */
typedef struct xo_conv_desc {
  int64_t in_n, in_c, in_h, in_w, out_c, kh, kw, out_h, out_w;
  int64_t stride[2], pad_begin[2], pad_end[2], dil[2], groups;
} xo_conv_desc;

/* attention: q [b, h, lq, d], k [b, hkv, lk, d], v [b, hkv, lk, dv], out
 * [b, h, lq, dv]; which keys a row sees is decided by semantics.h
 * (xo_attn_row) from these fields and the call's kv_lengths and mask. */
typedef struct xo_attn_desc {
  int64_t b, h, hkv, lq, lk, d;
  double scale;
  int64_t causal; /* XO_CAUSAL_* (rules.h); 64 bits: no padding */
  int64_t dv;     /* v's head size, the output's */
  int64_t has_window, win_left, win_right; /* -1: unbounded on that side */
  double softcap;                          /* 0: none */
  int64_t kv_lengths; /* 1: xo_args.kv_lengths holds b key lengths */
  int64_t mask;       /* 1: xo_args.mask holds an additive mask (2: it varies
                         over heads) */
  /* int8: bit 0, k came quantized (a KV cache: not centred, its per-key
   * scales); bit 1, v came quantized (its per-channel scales) */
  int64_t kv_quant;
} xo_attn_desc;

/* The plan-cache key: a small header common to the ops, then the op's own
 * descriptor. Always memset to 0 before filling, so that it can be compared
 * and hashed as bytes (every member is 4 or 8 bytes, laid out without
 * padding); unused members and the rest of the union stay 0. */
typedef struct xo_problem {
  int32_t op;        /* xo_op_kind: which member of the union */
  int32_t prec;      /* xo_precision */
  int32_t out_dtype; /* xo_dtype: F64, F32 or S32 */
  int32_t has_bias;
  /* quantized operands: 0 symmetric, 1 with zero points */
  int32_t a_asym, b_asym;
  int32_t b_granularity; /* xo_qgranularity of b / w */
  /* 1: the backend writes the s8 result itself (XO_TAKES_REQUANT), with
   * out_dtype S8; the core otherwise requantizes a float result */
  int32_t requant;
  int64_t group_size; /* XO_Q_GROUP weights: elements per group along K */
  union {
    xo_matmul_desc mm;
    xo_conv_desc conv;
    xo_attn_desc attn;
  };
} xo_problem;

/* The plan cache compares and hashes problems as bytes: no member may leave
 * padding that a memset could miss after assignment. */
_Static_assert(sizeof(xo_matmul_desc) == 6 * 8, "xo_matmul_desc padded");
_Static_assert(sizeof(xo_conv_desc) == 18 * 8, "xo_conv_desc padded");
_Static_assert(sizeof(xo_attn_desc) == 16 * 8, "xo_attn_desc padded");
_Static_assert(sizeof(xo_attn_desc) <= sizeof(xo_conv_desc),
               "xo_attn_desc outgrows the union");
_Static_assert(sizeof(xo_problem) == 40 + sizeof(xo_conv_desc),
               "xo_problem padded");

/* Buffers for one run, all contiguous in the operand formats:
 *   fp64/fp32: double/float; bf16, fp16: uint16 bits; fp8: uint8 bits.
 *   int8: activations (a, x) int8, or uint8 when they have zero points;
 *         weights (b, w) int8 always, their zero points in [-128, 127]
 *         (uint8 weights arrive shifted by 128: ops/prepare.c).
 *   int4: `a` int8 activations as int8; `b`/`w` s4 packed two per byte
 *         (xo_pack_int4 order over the whole row-major tensor), zero
 *         points in [-8, 7].
 * matmul: in[0] = a [batch_a, m, k], in[1] = b [batch_b, k, n].
 * conv2d: in[0] = x [n, c, h, w], in[1] = w [oc, c/groups, kh, kw].
 * attention: in[0..2] = q, k, v. For int8 (scheme v2) they are s8: q
 *   per (batch, head, row), k per (batch, kv-head, key) after subtracting
 *   its mean over keys (or as given: attn.kv_quant), v per (batch,
 *   kv-head, channel); scale[0] has b*h*lq floats, scale[1] b*hkv*lk,
 *   scale[2] b*hkv*dv. kv_lengths and mask: see the members.
 * out: f64 for fp64, s32 when out_dtype is S32, else f32. */
typedef struct xo_args {
  const void *in[3];
  const float *scale[3];        /* int precisions: per problem layout */
  const int32_t *zero_point[3]; /* NULL when symmetric */
  /* f64 for fp64, else f32; or NULL. conv2d: p->has_bias, added by the
   * backend. matmul: the core adds it after the run (xo_add_bias_cols);
   * only a backend that requantizes (p->requant) reads it. */
  const void *bias;
  void *out;
  /* attention: b key lengths in [0, lk] (attn.kv_lengths), or NULL */
  const int64_t *kv_lengths;
  /* attention: an additive mask (attn.mask; f64 for fp64, else f32; -inf
   * hides a key), element [b, h, i, j] at mask_stride . (b, h, i, j) in
   * elements: 0 along a broadcast dimension, never materialized */
  const void *mask;
  int64_t mask_stride[4];
  /* p->requant: the s8 result's scale and zero point (DESIGN.md s2) */
  float out_scale;
  int32_t out_zero_point;
  /* xo_operand.cache_token of the weights (in[1]); 0: not cacheable */
  uint64_t weight_token;
  /* the call's operations and bytes (DESIGN.md s3), for performance models */
  double ops, bytes;
} xo_args;

/* What a backend reports of one run. */
typedef struct xo_run_stats {
  double kernel_s;  /* time the backend itself measured (device events where
                       it has them), else 0 and the core times the call */
  int modeled;      /* 1: kernel_s comes from a performance model */
  int events;       /* 1: kernel_s is the sum of the device's own event
                       times (every event answered) */
  double compile_s; /* work of plan kind done in this run (a recompile) */
} xo_run_stats;

/* ---- backends ---------------------------------------------------------- */

/* The start of every plan. The core allocates a plan (xo_backend.plan_size
 * bytes, zeroed), fills this head, lets the op's plan function prepare the
 * rest, and frees it after the backend's plan_release: a backend never
 * allocates or frees a plan itself. */
typedef struct xo_plan_head {
  xo_problem p;    /* what the plan is for */
  int device;      /* the backend's device index */
  const char *how; /* what runs, for the impl string: xo_op_impl.how; a
                      plan function may name something more precise */
} xo_plan_head;

/* Quantized layouts an op entry takes beyond symmetric operands with
 * per-tensor or per-output-channel scales and a float result. The core
 * refuses the others with XO_ERR_UNSUPPORTED naming the devices that take
 * them. */
enum {
  XO_TAKES_ASYM_A = 1, /* activations (a, x) with zero points */
  XO_TAKES_ASYM_B = 2, /* weights (b, w) with zero points */
  XO_TAKES_GROUP = 4,  /* group-wise weight scales (int4 matmul) */
  XO_TAKES_S32 = 8,    /* raw s32 accumulators as the result */
  XO_TAKES_ALL = 15,
  /* writes the s8 result of out_scale itself (p->requant); else the core
   * requantizes the backend's float result (semantics.h xo_requant_s8) */
  XO_TAKES_REQUANT = 16
};

/* What one backend does for one op. The op is the outer axis of a backend's
 * table (as in oneDNN's cpu_matmul_list): xo_backend.ops[op]. An entry whose
 * run is NULL is empty: the backend lacks the op, and the core refuses it
 * with XO_ERR_UNSUPPORTED naming the op and the devices that run it. */
typedef struct xo_op_impl {
  /* XO_OK, or XO_ERR_UNSUPPORTED with a message, for problem p. The core has
   * already checked that the device lists p's precision and that the entry
   * takes p's quantized layout. (optional: NULL accepts every such
   * problem) */
  xo_status (*supports)(int index, const xo_problem *p);
  /* Prepare once what many runs reuse (compiled kernels, primitives, maps),
   * into plan (an xo_plan_head, then the backend's fields). After a failure
   * the core calls plan_release and frees the plan. (optional: NULL, the
   * head is all a run needs) */
  xo_status (*plan)(void *plan);
  /* Execute many. May run concurrently on the same plan from several
   * threads: a run keeps its scratch to itself. Never called for an empty
   * reduction: the core writes that result (semantics.h xo_fill_empty). */
  xo_status (*run)(void *plan, const xo_args *args, xo_run_stats *stats);
  unsigned takes;  /* XO_TAKES_* */
  const char *how; /* what runs ("blocked gemm, portable C"), or NULL */
} xo_op_impl;

/* One backend: a table of function pointers, filled with designated
 * initializers in the backend's own folder; registered by one line in
 * registry.c (which also ranks it for the aliases "cpu", "gpu", "npu"). */
typedef struct xo_backend {
  const char *name;
  /* Find libraries and devices. XO_OK, or XO_ERR_UNAVAILABLE with a reason
   * in the thread's message. Called once, under the registry lock. */
  xo_status (*init)(void);
  /* Number of devices after a successful init. */
  int (*device_count)(void);
  /* Fill desc for device index (name, kind, precisions, peaks...). */
  xo_status (*describe)(int index, xo_device_desc *desc);
  /* Per op, indexed by xo_op_kind: {supports, plan, run}, or empty. */
  xo_op_impl ops[XO_OP_COUNT];
  /* Bytes of the backend's plan, which starts with an xo_plan_head (0: the
   * head alone). */
  size_t plan_size;
  /* Release what a plan function made (kernels, maps, locks), on a plan
   * whose fields a failed plan function may have left zero; not the plan's
   * memory. (optional) */
  void (*plan_release)(void *plan);
  /* Describe what a plan runs into impl (kernel, ISA). (optional: the core
   * writes "<backend>:<op>_<precision> (<how>)") */
  void (*plan_describe)(const void *plan, char *impl, size_t n);
  /* Apply a new CPU thread count to the backend's pools. (optional) */
  void (*set_num_threads)(int n);
  /* Release the backend's global state (contexts, runtime objects); called
   * once at process exit, after every plan is freed, when no plan is in
   * use. Libraries stay loaded. (optional) */
  void (*fini)(void);
} xo_backend;

/* The entry of b for op, or NULL when b lacks it. */
const xo_op_impl *xo_backend_op(const xo_backend *b, int op);

/* Names of the available devices that run op in prec (-1: any precision)
 * taking the layouts in takes (XO_TAKES_*), comma separated, into buf
 * ("none on this machine" when there is none). */
void xo_devices_that_run(int op, int prec, unsigned takes, char *buf, size_t n);

/* The same for problem p, asking each device's supports too (a refusal's
 * message: the devices that run exactly this problem). Overwrites the
 * thread's error message. */
void xo_devices_that_support(const xo_problem *p, unsigned takes, char *buf,
                             size_t n);

/* ---- plans that convolve through an im2col GEMM (im2col.c) -------------- */

/* The start of such a plan: the head, then the gather map. */
typedef struct xo_im2col_plan {
  xo_plan_head h;
  int64_t *map; /* see xo_im2col_map */
  int64_t rows, cols;
} xo_im2col_plan;
/* xo_op_impl.plan of a conv2d through im2col: builds the map once. */
xo_status xo_im2col_plan_make(void *plan);
/* xo_backend.plan_release for plans whose only resource is that map. */
void xo_im2col_plan_release(void *plan);

/* ---- libraries loaded at run time (dl.c) -------------------------------- */

/* A library a backend loads with dlopen, so that importing xpuops never
 * depends on it. */
typedef struct xo_dl_lib {
  const char *what;    /* its name in messages: "oneDNN" */
  const char *backend; /* whose xo_set_library_path replaces the sonames */
  const char *env;     /* a variable naming the file: the only candidate */
  /* where the library's Python wheel puts it, relative to a search root
   * (xo_set_search_roots: site-packages, the environment's prefix); a
   * pattern may end in '*' (the first match in name order) */
  const char *wheel[3];
  const char *sonames[4]; /* tried in order (NULL ends the list) */
  const char *prefix;     /* tried before each plain symbol name, or NULL */
  const char *hint;       /* how to install it, for the message */
} xo_dl_lib;

/* One symbol to resolve into *slot. */
typedef struct xo_dl_sym {
  const char *name;
  void **slot;
  int optional; /* 1: left NULL when missing; 0: its absence fails */
} xo_dl_sym;

/* Open lib and resolve the n syms. The candidates: the file lib->env
 * names, else the path set with xo_set_library_path, else the first file
 * its wheel put under a search root, each as the only one (no silent
 * fallback to another copy); else the sonames in order. XO_ERR_UNAVAILABLE with
 * the reason, "cannot load <what> (<dlerror>); <hint>" or "<what> at <path>
 * lacks <symbol>", and the library closed again, when it cannot. The handle
 * stays open for the process: backends never dlclose (library destructors at
 * exit run in their own order). */
xo_status xo_dl_open(const xo_dl_lib *lib, const xo_dl_sym *syms, int n,
                     void **handle);

/* 1 once the registry has started enumerating devices: library paths and
 * search roots can no longer change. */
int xo_registry_started(void);

/* Where the Python layer found a backend's library ("openblas", "onednn"),
 * or NULL: the backend then tries the system's soname. */
const char *xo_library_path(const char *backend);

struct xo_device {
  const xo_backend *backend;
  int index;
  xo_device_desc desc;
};

/* A cached plan, reference counted while in use. */
typedef struct xo_plan_ref xo_plan_ref;
/* Look up or create the plan for (dev, p); *plan_s gets the creation time
 * (0 on a hit). Release with xo_plan_release. */
xo_status xo_plan_acquire(xo_device_t dev, const xo_problem *p,
                          xo_plan_ref **ref, void **plan, double *plan_s,
                          int *created);
void xo_plan_release(xo_plan_ref *ref);
/* At process exit: refuse new plans, free the idle ones, and return how
 * many are still alive (in use on another thread): 0 means no backend
 * object is referenced by a plan any more. */
int64_t xo_cache_close(void);

/* What every op does first: *info (local, when the caller passed none)
 * zeroed; XO_ERR_INVALID_ARG unless have_args (no NULL argument) and prec
 * is a precision; p zeroed with op, prec and the float result type (F64
 * for fp64, else F32). */
xo_status xo_op_begin(int op, xo_precision prec, int have_args, xo_problem *p,
                      xo_op_info **info, xo_op_info *local);

/* Run a problem on dev: check support, get the plan, run, fill info's
 * times and impl. Shared by the three ops. */
xo_status xo_dispatch(xo_device_t dev, const xo_problem *p, const xo_args *args,
                      xo_op_info *info);

/* xo_dispatch, then the result's last steps by the core's rules
 * (semantics.h): a matmul's bias (args->bias) added to the float result,
 * and with requant the s8 result of args->out_scale / out_zero_point in
 * args->out: written by a backend that takes XO_TAKES_REQUANT, else
 * requantized by the core from the backend's float result. p is the float
 * (or s32) problem; its out_dtype is not S8. */
xo_status xo_dispatch_result(xo_device_t dev, const xo_problem *p,
                             const xo_args *args, int requant,
                             xo_op_info *info);

/* ---- operand preparation (ops/prepare.c) -------------------------------- */

/* An operand in the format a backend consumes (see xo_args). Owns all. */
typedef struct xo_prepared {
  const void *ptr;     /* what the backend reads: data, or the caller's own
                          memory when it already is in the operand format */
  void *data;          /* owned buffer, or NULL when ptr borrows */
  float *scale;        /* int precisions */
  int32_t *zero_point; /* NULL when symmetric */
  int64_t nscales;
  int asym;
  xo_qgranularity granularity;
  int64_t group_size;
  int32_t qmag;  /* largest |q - zero_point| the values can have */
  int64_t bytes; /* size of data */
  /* non-NULL: the buffers belong to this entry of the prepared-weights
   * cache (prep_cache.c), which xo_prepared_free releases instead */
  void *cached;
} xo_prepared;

/* Bring op into the operand format of prec. For int precisions a float
 * operand is quantized with def (the op's default for this role) and a
 * pre-quantized one is checked and copied. pack4 marks the weights (b, w):
 * int4 values are packed two per byte, and weights with zero points are
 * stored signed (u8 / u4 values and zero points shifted by 128 / 8, which
 * leaves every q - zero_point as it was); activations with zero points are
 * stored unsigned (s8 shifted up by 128) so that u8 x s8 kernels read both.
 * name ("a", "w", ...) goes into messages. */
xo_status xo_prepare(const xo_operand *op, xo_precision prec,
                     const xo_qspec *def, int pack4, const char *name,
                     xo_prepared *out);
void xo_prepared_free(xo_prepared *p);

/* The prepared-weights cache (core/prep_cache.c): xo_prepare keeps the
 * prepared form of quantized weights (pack4) whose operand has a cache
 * token, keyed by the token, precision and view, so that an immutable
 * QTensor is converted once. Bounded by XPUOPS_PREPARED_CACHE_MB (else a
 * quarter of memory; 0: off), least recently used entries not in use
 * evicted first. */
/* 1 and *out filled (sharing the entry's buffers) on a hit, else 0. */
int xo_prep_cache_get(const xo_operand *op, xo_precision prec,
                      xo_prepared *out);
/* Hand p's buffers to the cache when they fit (p->cached then set, p
 * still usable); otherwise p stays the caller's. */
void xo_prep_cache_put(const xo_operand *op, xo_precision prec, xo_prepared *p);
/* Drop one use of an entry (xo_prepared_free does it). */
void xo_prep_cache_release(void *entry);
/* Free every entry not in use (at process exit). */
void xo_prep_cache_clear(void);
/* The largest |q - zero_point| op's values can have in prec: fixed by its
 * quantization spec (def when op is float and quantized by the core), not
 * by the data, so limits are checked before anything is converted. */
int32_t xo_operand_qmag(const xo_operand *op, xo_precision prec,
                        const xo_qspec *def);
/* Bytes xo_prepare(op, prec, ..., pack4) will allocate: 0 when a backend
 * can read the caller's memory as it is. XO_ERR_OVERFLOW when the size
 * does not fit 64 bits. */
xo_status xo_prepare_bytes(const xo_operand *op, xo_precision prec, int pack4,
                           int64_t *bytes);
/* XO_ERR_NO_MEMORY (with the sizes) when the n named buffers op is about to
 * allocate exceed the memory available: refused up front instead of
 * paging, or being killed, half way through. */
xo_status xo_check_memory(const char *op, int n, const char *const *names,
                          const int64_t *bytes);
/* The caller's memory of t when it already is contiguous in dtype (*owned
 * NULL: nothing copied), else a new contiguous buffer of dtype (*owned, the
 * caller frees it). Backends read *ptr and never write it. */
xo_status xo_borrow_or_convert(const xo_tensor *t, xo_dtype dtype,
                               const void **ptr, void **owned, int64_t *numel);
/* Convert a float tensor to a new contiguous buffer of dtype. */
xo_status xo_to_contiguous(const xo_tensor *t, xo_dtype dtype, void **out,
                           int64_t *numel);
/* XO_OK when oq is NULL, else checks a quantized result's request: an
 * integer precision, an S8 out, scale finite > 0, zero point in s8. */
xo_status xo_check_outq(xo_precision prec, const xo_tensor *out,
                        const xo_outq *oq);
/* The bias [n] (one per `per`) converted to p's float out_dtype into a new
 * buffer *out (caller frees); refused with S32 results, and when finite is
 * set, any non-finite value. */
xo_status xo_take_bias(const xo_tensor *bias, int64_t n, const char *per,
                       const xo_problem *p, int finite, void **out);
/* Check an output tensor: rank, shape, dtype and row-major contiguity. */
xo_status xo_check_output(const xo_tensor *out, int ndim, const int64_t *shape,
                          xo_dtype dtype);

/* The im2col gather map of a convolution, for one (image, group): entry
 * r * cols + p is the offset into that group's [C/groups, H, W] input of
 * row r = (c * KH + i) * KW + j and output pixel p, or -1 for padding.
 * Caller frees *map. */
xo_status xo_im2col_map(const xo_conv_desc *c, int64_t **map, int64_t *rows,
                        int64_t *cols);

/* col[e] = src[map[e]] (0 where map[e] < 0) for n elements of es bytes
 * (8: double, 4: float, 2: int16). */
void xo_im2col_gather(const void *src, size_t es, const int64_t *map, int64_t n,
                      void *col);

/* out[i, j] = float(acc[i, j]) * (sa * sb[per_col ? j : 0]) for an
 * [m, n] block, or out += that when add (group-wise sums, in group order).
 * The scale product is formed in f32 first, as DESIGN.md s2 writes it. */
void xo_dequant_rows(int64_t m, int64_t n, const int32_t *acc, float sa,
                     const float *sb, int per_col, int add, float *out);

#endif /* XO_INTERNAL_H */
