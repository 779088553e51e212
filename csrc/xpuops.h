/* xpuops.h - the public API of the xpuops C core.
 *
 * Quantized matmul, conv2d and attention behind one device abstraction.
 * Every fallible function returns xo_status and writes results through
 * out-pointers; on failure a thread-local message (xo_last_error) says why.
 * Nothing here exits, aborts or prints. Tensors passed in are borrowed views:
 * the core never frees or modifies caller memory except the output tensor.
 */
#ifndef XPUOPS_H
#define XPUOPS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum xo_status {
  XO_OK = 0,
  XO_ERR_INVALID_ARG = 1, /* bad shape, value or argument: ValueError */
  XO_ERR_UNSUPPORTED = 2, /* valid request this device/precision cannot run */
  XO_ERR_UNAVAILABLE = 3, /* backend or device not present on this machine */
  XO_ERR_NO_MEMORY = 4,   /* an allocation failed */
  XO_ERR_OVERFLOW = 5,    /* a size or an s32 accumulator would overflow */
  XO_ERR_TYPE = 6,        /* wrong element type: TypeError */
  XO_ERR_RUNTIME = 7,     /* a backend library failed at run time */
} xo_status;

/* The message of the last failure on this thread (never NULL, static storage
 * owned by the core, valid until the next failing call on this thread). */
const char *xo_last_error(void);

/* Element types of tensors as they cross the API. */
typedef enum xo_dtype {
  XO_DTYPE_F64 = 0,
  XO_DTYPE_F32,
  XO_DTYPE_F16,
  XO_DTYPE_BF16,   /* ml_dtypes.bfloat16 bit pattern */
  XO_DTYPE_F8E4M3, /* ml_dtypes.float8_e4m3fn bit pattern */
  XO_DTYPE_S32,
  XO_DTYPE_S8,
  XO_DTYPE_U8,
  XO_DTYPE_COUNT
} xo_dtype;

/* Size in bytes of one element of dtype (0 for an unknown dtype). */
size_t xo_dtype_size(xo_dtype dtype);

/* Compute precisions: operand format, accumulator and unit (DESIGN.md s2). */
typedef enum xo_precision {
  XO_PREC_ANY = -1, /* "whatever the device runs", where a function allows */
  XO_PREC_FP64 = 0,
  XO_PREC_FP32,
  XO_PREC_BF16,
  XO_PREC_FP16,
  XO_PREC_FP8,
  XO_PREC_INT8,
  XO_PREC_INT4,
  XO_PREC_COUNT
} xo_precision;

/* "fp32", "int8", ... (static storage); NULL for an out-of-range value. */
const char *xo_precision_name(xo_precision prec);
/* 1 for int8/int4 (counted in TOPS), 0 for float precisions (TFLOPS). */
int xo_precision_is_integer(xo_precision prec);

#define XO_MAX_DIMS 8

/* A borrowed, strided view of caller memory. Strides are in bytes and may be
 * zero (broadcast) or negative (reversed views). */
typedef struct xo_tensor {
  xo_dtype dtype;
  int ndim;
  int64_t shape[XO_MAX_DIMS];
  int64_t strides[XO_MAX_DIMS];
  void *data;
} xo_tensor;

/* Number of elements of t, overflow-checked (XO_ERR_OVERFLOW). */
xo_status xo_tensor_numel(const xo_tensor *t, int64_t *numel);

/* ---- conversion and packing ------------------------------------------- */

/* Convert n elements from src (strided view, any float dtype) into dst, a
 * contiguous buffer of dtype dst_dtype (F64, F32, F16, BF16 or F8E4M3) in
 * row-major order of src's shape. Rounding is round-to-nearest-even with
 * the bit patterns of NumPy (float16) and ml_dtypes (bfloat16, float8). */
xo_status xo_convert(const xo_tensor *src, xo_dtype dst_dtype, void *dst);

/* Pack n int4 values (int8 in [-8, 7], or uint8 in [0, 15] when is_unsigned)
 * two per byte, element 2i in the low nibble of byte i (ONNX order); dst
 * holds (n + 1) / 2 bytes, an odd tail padded with 0. */
xo_status xo_pack_int4(const int8_t *src, int64_t n, int is_unsigned,
                       uint8_t *dst);
/* The inverse of xo_pack_int4: dst receives n int8 values. */
xo_status xo_unpack_int4(const uint8_t *src, int64_t n, int is_unsigned,
                         int8_t *dst);

/* ---- quantization (DESIGN.md s2) -------------------------------------- */

/* Where the scales of a quantized operand vary. */
typedef enum xo_qgranularity {
  XO_Q_TENSOR = 0, /* one scale for the whole tensor */
  XO_Q_AXIS,       /* one scale per index of `axis` */
  XO_Q_GROUP,      /* per index of `axis` and per group_size run along
                      `group_axis` */
} xo_qgranularity;

typedef struct xo_qspec {
  xo_precision prec; /* XO_PREC_INT8 or XO_PREC_INT4 */
  xo_qgranularity granularity;
  int axis;           /* XO_Q_AXIS / XO_Q_GROUP: the axis with its own scales */
  int group_axis;     /* XO_Q_GROUP: the axis cut into groups */
  int64_t group_size; /* XO_Q_GROUP: elements per group along group_axis */
  int symmetric;      /* 1: s8/s4, zero point 0; 0: u8/u4 with zero points */
} xo_qspec;

/* Number of scales spec gives a tensor of shape x: 1, shape[axis], or
 * shape[axis] * shape[group_axis] / group_size (row-major over the two axes
 * in increasing axis order). */
xo_status xo_quant_nscales(const xo_tensor *x, const xo_qspec *spec,
                           int64_t *nscales);

/* Quantize the float tensor x (strided, any float dtype) to q (contiguous,
 * one int8/uint8 per element, row-major), scale (float32, nscales) and, when
 * not symmetric, zero_point (int32, nscales). All buffers are caller-owned.
 * x is first rounded to float32; scale = max|x| / qmax in float32, an
 * all-zero slice gets scale 1; q = clip(rint(x / scale)) with ties to even.
 * NaN or Inf in x is XO_ERR_INVALID_ARG. */
xo_status xo_quantize(const xo_tensor *x, const xo_qspec *spec, int8_t *q,
                      float *scale, int32_t *zero_point);

/* Quantize x with the caller's scales and zero points (ONNX QuantizeLinear):
 * q = saturate(rint(x / scale) + zero_point) into [lo, hi], x / scale in
 * float32, ties to even. spec gives the layout of scale and zero_point
 * (nscales each; zero_point NULL: 0); lo, hi: -qmax, qmax (symmetric),
 * -128, 127 (int8), 0, 255 (uint8), -8, 7 / 0, 15 (int4). q is written as
 * bytes (uint8 values keep their bits). Scales must be finite and > 0,
 * zero points within [lo, hi]; NaN or Inf in x is XO_ERR_INVALID_ARG. */
xo_status xo_quantize_given(const xo_tensor *x, const xo_qspec *spec,
                            const float *scale, const int32_t *zero_point,
                            int32_t lo, int32_t hi, int8_t *q);

/* ---- devices ----------------------------------------------------------- */

typedef struct xo_device *xo_device_t; /* owned by the registry; lives until
                                          process exit */

typedef enum xo_support {
  XO_SUPPORT_NONE = 0,
  XO_SUPPORT_NATIVE = 1,   /* the device's own arithmetic in this format */
  XO_SUPPORT_EMULATED = 2, /* computed exactly as specified, by widening */
} xo_support;

/* A device's peak in one precision, as its backend knows it (DESIGN.md s3:
 * every figure says where it came from). Either form, or neither (0, 0:
 * unknown, e.g. a vendor device that does not say). */
typedef struct xo_peak {
  /* CPU backends: operations per cycle per core of the widest instruction
   * the precision runs on here (one multiply-add = 2). The caller
   * multiplies by the clock it measures (xo_measure_clock) and by the cores
   * (xo_device_desc.peak_cores). 0 when ops_per_s gives the peak. */
  double ops_per_cycle;
  /* The whole device's peak in operations per second: OpenCL, compute
   * units x clock x vector lanes x 2 as the device reports them; npusim, the
   * chip's rating. 0 when ops_per_cycle gives the peak. */
  double ops_per_s;
  char source[12];   /* "theoretical" or "rated"; "" when unknown */
  char formula[192]; /* how: the instruction, or the formula with its terms */
} xo_peak;

typedef struct xo_device_desc {
  char name[64];    /* "ref", "opencl:0", "openvino:NPU", ... */
  char backend[32]; /* "ref", "openblas", ... */
  char kind[8];     /* "cpu", "gpu" or "npu" */
  char full_name[128];
  int available;     /* 0: reason says why */
  int simulated;     /* 1: times are modeled, not measured */
  int exact_integer; /* 1: int accumulators are bit-identical to ref */
  char reason[256];
  xo_support precisions[XO_PREC_COUNT];
  /* what the device says of itself, for theoretical peaks (0: unknown) */
  int compute_units, clock_mhz;
  int vector_f32, vector_i32; /* preferred vector widths, in lanes */
  /* 1: the device's CPU thread pool follows xo_set_num_threads; threads
   * says how its thread count is set, or why it cannot follow */
  int follows_threads;
  char threads[160];
  /* the device's peaks, as its backend knows them: per precision (index
   * xo_precision), for those the device runs */
  xo_peak peak[XO_PREC_COUNT];
  /* cores a CPU peak counts (ops_per_cycle x cores x clock): 0, the
   * xo_get_num_threads() count at the time; n > 0, fixed (ref: 1) */
  int peak_cores;
  /* rated memory bandwidth in GB/s (1e9 bytes/s); 0: not rated, measure
   * it (xo_measure_bandwidth) */
  double bandwidth_gbs;
  /* simulated devices: the performance model's assumptions, stated with
   * every figure: kernel time = max(ops / (peak x model_utilisation),
   * bytes / bandwidth) + model_dispatch_s (seconds). 0 elsewhere. */
  double model_utilisation, model_dispatch_s;
} xo_device_desc;

/* Number of device entries (available or not); initializes the registry on
 * first use. Thread-safe. */
int xo_device_count(void);
/* Describe device i (0 <= i < xo_device_count()). */
xo_status xo_device_describe(int i, xo_device_desc *desc);
/* The index of dev for xo_device_describe (-1 for NULL): what a handle from
 * xo_device_find or xo_device_resolve is called, and what it runs. */
int xo_device_index(xo_device_t dev);
/* Find an available device by exact name; XO_ERR_UNAVAILABLE with the
 * backend's reason when it exists but is not available. */
xo_status xo_device_find(const char *name, xo_device_t *dev);

/* Resolve what a user calls a device: an exact device name ("ref",
 * "opencl:0", "openvino:NPU", "npusim:<chip>", as xo_device_find), or one of
 * the aliases "cpu", "gpu", "npu" (exact, lower case), which mean "the best
 * available device of that kind that runs prec":
 *   - candidates: available, not simulated (npusim is never an alias's
 *     choice), whose kind (xo_device_desc.kind) is the alias (an OpenCL
 *     device that reports itself as a CPU, such as PoCL, is a "cpu"), and
 *     that list prec in xo_device_desc.precisions (any prec with
 *     XO_PREC_ANY);
 *   - best first, by the registry's preference (registry.c kBackends):
 *     cpu: onednn, openblas, openvino, opencl, ref; gpu: opencl, openvino;
 *     npu: openvino. The first device of the first backend that qualifies.
 * prec is read for aliases only: a named device that cannot run prec is
 * refused by the op itself (XO_ERR_UNSUPPORTED naming the devices that can).
 * Errors: XO_ERR_INVALID_ARG for an unknown name (the message lists the
 * valid ones) or precision; XO_ERR_UNAVAILABLE for a named device that is
 * not available here (with its reason), or an alias with no candidate (the
 * message names the available devices). *dev is owned by the registry. */
xo_status xo_device_resolve(const char *name, xo_precision prec,
                            xo_device_t *dev);

/* Shape classes an alias may choose by: XO_SHAPE_SMALL is a matmul with
 * M*N*K <= 2^18 (batch folded into M), whose time is mostly the library's
 * fixed cost per call; XO_SHAPE_SKINNY a larger matmul with M <= 32 (decode:
 * streaming the weights is the time); XO_SHAPE_ATTENTION an attention
 * (the op, not its shape: its fastest device differs from a GEMM's);
 * XO_SHAPE_ANY everything else. */
enum {
  XO_SHAPE_ANY = 0,
  XO_SHAPE_SMALL = 1,
  XO_SHAPE_SKINNY = 2,
  XO_SHAPE_ATTENTION = 3 /* any attention problem */
};
int xo_matmul_shape_class(int64_t m, int64_t k, int64_t n);
/* xo_device_resolve for a problem of shape_class: an alias ranks the
 * backends by their preference for that class (registry.c), then as
 * xo_device_resolve. */
xo_status xo_device_resolve_shape(const char *name, xo_precision prec,
                                  int shape_class, xo_device_t *dev);

/* Directories where Python wheels put files (site-packages, the
 * environment's prefix), in order, before the first device query: each
 * backend looks there for its own library (the patterns live in the
 * backend's folder). Copied; at most 8. XO_ERR_INVALID_ARG after the
 * registry has been initialized. */
xo_status xo_set_search_roots(const char *const *roots, int n);

/* Tell the core where backend's library is (e.g. "onednn" ->
 * ".../lib/libdnnl.so.3"), before the first device query; path is copied.
 * XO_ERR_INVALID_ARG after the registry has been initialized. */
xo_status xo_set_library_path(const char *backend, const char *path);

/* One thread count for every CPU-side pool (n >= 1), passed at once to
 * each backend that can follow it (OpenBLAS, oneDNN; OpenVINO CPU plans
 * recompile on their next run); xo_device_desc.follows_threads says which
 * can. Call it between ops: a pool may be resized under a running one.
 * Until set, it is the number of cores this process may run on
 * (sched_getaffinity). */
xo_status xo_set_num_threads(int n);
int xo_get_num_threads(void);

/* ---- ops --------------------------------------------------------------- */

/* XO_ERR_OVERFLOW unless k * amag * bmag fits an s32 accumulator (amag,
 * bmag: the largest |q - zero_point| of each operand, e.g. 127); what
 * names the reduction length in the message ("K", "group_size", ...). The
 * ops check this before converting anything; exported so that a caller
 * can check before it converts its own inputs. */
xo_status xo_check_accumulator(int64_t k, int32_t amag, int32_t bmag,
                               const char *what);
/* Memory the system can give now without swapping (Linux MemAvailable),
 * in bytes; 0 when unknown. The ops refuse (XO_ERR_NO_MEMORY) operand
 * copies larger than this before allocating them. */
int64_t xo_memory_available(void);

/* A quantized operand's parameters (borrowed). */
typedef struct xo_qparams {
  xo_qspec spec;
  const float *scale;        /* nscales float32 */
  const int32_t *zero_point; /* nscales int32, NULL when symmetric */
} xo_qparams;

/* An operand: float data (q == NULL; the core converts or quantizes it to
 * the precision), or already-quantized integer values (dtype S8/U8, one
 * value per element, int4 values unpacked) with q describing them. */
typedef struct xo_operand {
  xo_tensor t;
  const xo_qparams *q;
  /* Nonzero: the caller promises this operand's data and parameters were
   * validated (values within the precision's range) and never change under
   * this token (an immutable QTensor), so the core skips re-checking them
   * and a backend may keep forms derived from them (unpacked, widened,
   * reordered weights) across calls. 0: check and derive on every call. */
  uint64_t cache_token;
} xo_operand;

/* What a call did, for measurement. Times in seconds. */
typedef struct xo_op_info {
  double prepare_s; /* converting / quantizing inputs */
  double plan_s;    /* creating the plan (0 when it came from the cache) */
  double kernel_s;  /* the backend's run */
  int plan_created; /* 1 if this call created its plan */
  int modeled;      /* 1: kernel_s is a model's figure, not a timing */
  int native;       /* 1 native, 0 emulated */
  double ops;       /* operations counted as in DESIGN.md s3 */
  double bytes;     /* operand + result bytes in the operand formats */
  char impl[320];   /* what ran: backend, kernel, ISA */
  /* where kernel_s came from: "events" (the device's own event times),
   * "wall" (a host clock around the run) or "modeled" (a performance
   * model) */
  char timing[8];
} xo_op_info;

/* out [batch, M, N] = a [batch, M, K] @ b [batch, K, N]. A zero batch
 * stride broadcasts. out is contiguous, dtype F64 (fp64), F32, or S32
 * (raw accumulators: int8/int4 with both operands pre-quantized and
 * per-tensor or per-output-channel scales). info may be NULL. */
xo_status xo_matmul(xo_device_t dev, xo_precision prec, const xo_operand *a,
                    const xo_operand *b, xo_tensor *out, xo_op_info *info);

/* A quantized result (ONNX QLinearMatMul, QLinearConv): out is int8,
 * saturate(rint_half_even(y / scale) + zero_point) of the float32 result y
 * (bias included); integer precisions only; scale finite and > 0,
 * zero_point in [-128, 127]. */
typedef struct xo_outq {
  float scale;
  int32_t zero_point;
} xo_outq;

/* xo_matmul with a bias [N] (float; f64 for fp64, else f32, added to the
 * float result per output column, as Gemm's C; NULL: none) and a quantized
 * result (oq, out dtype S8; NULL: none). A bias is refused with S32 out. */
xo_status xo_matmul_ex(xo_device_t dev, xo_precision prec, const xo_operand *a,
                       const xo_operand *b, const xo_tensor *bias,
                       const xo_outq *oq, xo_tensor *out, xo_op_info *info);

typedef struct xo_conv_params {
  int64_t stride[2], dilation[2];   /* (h, w), >= 1 */
  int64_t pad_begin[2], pad_end[2]; /* (top, left), (bottom, right) */
  int64_t groups;
} xo_conv_params;

/* The output shape [N, OC, OH, OW] of conv(x, w) with these parameters,
 * checked (XO_ERR_INVALID_ARG naming what is wrong): the one place it is
 * computed, for xo_conv2d and for callers that allocate the output. */
xo_status xo_conv2d_output_shape(const int64_t x_shape[4],
                                 const int64_t w_shape[4],
                                 const xo_conv_params *p, int64_t out[4]);

/* out [N, OC, OH, OW] = conv(x [N, C, H, W], w [OC, C/groups, KH, KW]) +
 * bias [OC]. Any layout reaches here as a strided view (NHWC is an NCHW view
 * with permuted strides). bias may be NULL; it has the output's float dtype
 * and is not allowed with S32 output. */
xo_status xo_conv2d(xo_device_t dev, xo_precision prec, const xo_operand *x,
                    const xo_operand *w, const xo_tensor *bias,
                    const xo_conv_params *p, xo_tensor *out, xo_op_info *info);
/* xo_conv2d with a quantized result (oq, out dtype S8; NULL: none). */
xo_status xo_conv2d_ex(xo_device_t dev, xo_precision prec, const xo_operand *x,
                       const xo_operand *w, const xo_tensor *bias,
                       const xo_conv_params *p, const xo_outq *oq,
                       xo_tensor *out, xo_op_info *info);

/* Causal alignments of xo_attn_params.causal. */
typedef enum xo_causal {
  XO_CAUSAL_NONE = 0,
  XO_CAUSAL_BOTTOM_RIGHT = 1, /* query i sits at key i + (Lk - Lq) */
  XO_CAUSAL_TOP_LEFT = 2,     /* query i sits at key i */
} xo_causal;

/* What attention applies beyond softmax(scale q k^T) v (DESIGN.md s2,
 * attention semantics). Zero-initialize, then set what is wanted. */
typedef struct xo_attn_params {
  double scale; /* finite; the Python layer defaults it to 1/sqrt(D) */
  int causal;   /* xo_causal: key j visible iff j <= i' (the row's position) */
  int has_window;
  /* (left, right), FlashAttention's convention: key j visible iff i' - left
   * <= j <= i' + right; -1 unbounded on that side */
  int64_t window[2];
  double softcap; /* c > 0: scores become c tanh(s / c) after scaling; 0 off */
  /* NULL, or B key lengths in [0, Lk]: keys j >= kv_lengths[b] hidden */
  const int64_t *kv_lengths;
  /* NULL, or a 4-d view whose every dimension is 1 (broadcast) or that of
   * [B, H, Lq, Lk]: U8 as bool (nonzero: may attend) or a float dtype added
   * to the scores (-inf hides a key; NaN and +inf are refused). Borrowed;
   * the core copies only its own elements, never the broadcast. */
  const xo_tensor *mask;
} xo_attn_params;

/* out [B, H, Lq, Dv] = softmax(mask(softcap(scale q k^T))) v, with q [B, H,
 * Lq, D], k [B, Hkv, Lk, D], v [B, Hkv, Lk, Dv], H % Hkv == 0 (query head
 * h reads kv head h / (H / Hkv)). q is float; k and v are float, or for
 * int8 symmetric int8 operands (a KV cache): k per tensor or per key (axis
 * 2), v per tensor or per channel (axis 3); their scales are used as given
 * and k is not centred. A query row that sees no key gives 0. params may
 * not be NULL. */
xo_status xo_attention(xo_device_t dev, xo_precision prec, const xo_tensor *q,
                       const xo_operand *k, const xo_operand *v,
                       const xo_attn_params *params, xo_tensor *out,
                       xo_op_info *info);

/* ---- the NPU simulator ----------------------------------------------------
 */

/* Register a chip profile for the NPU simulator before the first device
 * query: device "npusim:<slug>" models rated INT8 TOPS at utilisation
 * (0..1], memory bandwidth in GB/s, and a fixed dispatch latency in
 * seconds. label is the chip's name for descriptions. Copied. */
xo_status xo_npusim_add_profile(const char *slug, const char *label,
                                double tops, double gbs, double utilisation,
                                double latency_s);
/* The same with the simulator's own model assumptions (utilisation and
 * dispatch latency, reported in xo_device_desc.model_*), which then live
 * only in the simulator. */
xo_status xo_npusim_add_chip(const char *slug, const char *label, double tops,
                             double gbs);

/* TFLite/gemmlowp fixed-point requantization. real (> 0) becomes
 * multiplier in [2^30, 2^31) and shift with real = multiplier * 2^(shift -
 * 31). */
xo_status xo_quantize_multiplier(double real, int32_t *multiplier, int *shift);
/* saturate(round(acc * multiplier * 2^(shift - 31)) + zero_point) to int8:
 * gemmlowp's two roundings (SaturatingRoundingDoublingHighMul, then
 * RoundingDivideByPOT), or one rounding (round half up at the final shift)
 * when single_rounding. */
int32_t xo_requantize(int32_t acc, int32_t multiplier, int shift,
                      int32_t zero_point, int single_rounding);

/* ---- probes ------------------------------------------------------------- */

/* The sustained clock of the calling core in GHz, from a chain of dependent
 * one-cycle adds (x86-64; XO_ERR_UNSUPPORTED elsewhere). ~0.5 s. */
xo_status xo_measure_clock(double *ghz);
/* Memory read bandwidth in bytes/s: threads read disjoint slices of a
 * buffer of the given size (make it larger than the last-level cache to
 * measure DRAM), best of 5 passes. */
xo_status xo_measure_bandwidth(int64_t bytes, int threads, double *bps);

/* ISA features of this CPU that the OS has enabled: CPUID, and XCR0 for the
 * register state (AVX-512, AMX tiles). All 0 off x86. Backends read it to
 * say which precisions run natively here. */
typedef struct xo_cpu_features {
  int avx512f, avx512_bf16, avx512_fp16; /* fp16 arithmetic: avx512_fp16 */
  int amx_int8, amx_bf16, amx_fp16;      /* ... or amx_fp16 */
  int avx2, avx512_vnni, avx_vnni;       /* named as in /proc/cpuinfo */
} xo_cpu_features;
xo_cpu_features xo_cpu_features_get(void);
/* The theoretical peak a CPU with these features has in prec: operations
 * per cycle per core of its widest instruction and the formula (peak is
 * zeroed when no instruction qualifies). The CPU backends report
 * xo_cpu_features_get()'s; tests feed other feature sets. */
void xo_cpu_peak_of(const xo_cpu_features *features, xo_precision prec,
                    xo_peak *peak);

/* Plan cache statistics (for tests and measurement). */
typedef struct xo_cache_stats {
  int64_t plans_created, hits, evictions, entries, capacity;
} xo_cache_stats;
void xo_cache_stats_get(xo_cache_stats *s);
/* Drop every cached plan not in use. */
void xo_cache_clear(void);

#ifdef __cplusplus
}
#endif
#endif /* XPUOPS_H */
