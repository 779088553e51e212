/* onednn.c - the oneDNN backend: loading, helpers, device description and
 * the backend table. Ops live in onednn_{matmul,conv,attention}.c. */
#include "onednn.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

dnn_api D;
dnnl_engine_t dnn_engine;
static void *handle;
static char isa_name[48];
static xo_support support[XO_PREC_COUNT];

static xo_status dnn_init(void) {
  static const xo_dl_lib lib = {
      .what = "oneDNN",
      .backend = "onednn",
      .env = "XPUOPS_ONEDNN_LIB",
      .wheel = {"lib/libdnnl.so.3"}, /* onednn-cpu-gomp: the data dir */
      .sonames = {"libdnnl.so.3"},
      .hint = "install it with `pip install onednn-cpu-gomp`",
  };
#define XO_DNNL_SYM(f) {#f, (void **)&D.f, 0},
  const xo_dl_sym syms[] = {
      XO_DNNL_FUNCS(XO_DNNL_SYM)
      /* the OpenMP runtime oneDNN was built with (a dependency of the
       * library): checked below, with the reason it matters */
      {"omp_set_num_threads", (void **)&D.omp_set_num_threads, 1},
  };
#undef XO_DNNL_SYM
  xo_status st = xo_dl_open(&lib, syms, sizeof syms / sizeof syms[0], &handle);
  if (st != XO_OK) return st;
  const dnnl_version_t *v = D.dnnl_version();
  if (v->major != 3)
    return xo_fail(XO_ERR_UNAVAILABLE, "oneDNN %d.%d found; v3 is required",
                   v->major, v->minor);
  if (v->cpu_runtime != DNNL_RUNTIME_OMP || D.omp_set_num_threads == NULL)
    return xo_fail(XO_ERR_UNAVAILABLE,
                   "this oneDNN's CPU runtime (0x%x) is not OpenMP: its "
                   "thread count could not follow set_num_threads",
                   v->cpu_runtime);
  if (D.dnnl_engine_create(&dnn_engine, dnnl_cpu, 0) != dnnl_success)
    return xo_fail(XO_ERR_UNAVAILABLE, "oneDNN: no CPU engine");
  return XO_OK;
}

static void tls_release(void);

/* At exit, with every plan gone: this thread's stream and scratch (other
 * threads' went with them), then the engine. */
static void dnn_fini(void) {
  tls_release();
  if (dnn_engine) D.dnnl_engine_destroy(dnn_engine);
  dnn_engine = NULL;
}

static int dnn_device_count(void) {
  return 1;
}

static const char *isa_string(dnnl_cpu_isa_t isa) {
  switch ((int)isa) {
    case dnnl_cpu_isa_avx512_core_amx_fp16: return "AMX (int8, bf16, fp16)";
    case dnnl_cpu_isa_avx512_core_amx: return "AMX (int8, bf16)";
    case dnnl_cpu_isa_avx512_core_fp16: return "AVX-512 FP16";
    case dnnl_cpu_isa_avx512_core_bf16: return "AVX-512 BF16";
    case dnnl_cpu_isa_avx512_core_vnni: return "AVX-512 VNNI";
    case dnnl_cpu_isa_avx512_core: return "AVX-512";
    case dnnl_cpu_isa_avx2_vnni_2: return "AVX2 VNNI-INT8";
    case dnnl_cpu_isa_avx2_vnni: return "AVX2 VNNI";
    case dnnl_cpu_isa_avx2: return "AVX2";
    default: return "SSE4.1";
  }
}

/* Whether oneDNN's int8 kernels get a VNNI dot product (u8 x s8 -> s32)
 * on this ISA. Without one they pair products with vpmaddubsw, whose s16
 * sum saturates for full-range s8 operands: accumulators then differ from
 * the exact ones (found under ONEDNN_MAX_CPU_ISA=AVX2 and AVX512_CORE by
 * thousands), so int8 is not offered there. */
static int isa_has_vnni(dnnl_cpu_isa_t isa) {
  switch ((int)isa) {
    case dnnl_cpu_isa_avx512_core_amx_fp16:
    case dnnl_cpu_isa_avx512_core_amx:
    case dnnl_cpu_isa_avx512_core_fp16:
    case dnnl_cpu_isa_avx512_core_bf16:
    case dnnl_cpu_isa_avx512_core_vnni:
    case dnnl_cpu_isa_avx2_vnni_2:
    case dnnl_cpu_isa_avx2_vnni: return 1;
    default: return 0;
  }
}

/* Native when oneDNN has an optimized (non-reference) matmul for the
 * type on this CPU; its reference implementations widen to f32. */
static xo_support probe(dnnl_data_type_t a, dnnl_data_type_t b,
                        dnnl_data_type_t c) {
  dnnl_memory_desc_t ma = NULL, mb = NULL, mc = NULL;
  dnnl_primitive_desc_t pd = NULL;
  dnnl_dims_t da = {64, 64}, db = {64, 64}, dc = {64, 64};
  xo_support s = XO_SUPPORT_NONE;
  D.dnnl_memory_desc_create_with_tag(&ma, 2, da, a, dnnl_ab);
  D.dnnl_memory_desc_create_with_tag(&mb, 2, db, b, dnnl_ab);
  D.dnnl_memory_desc_create_with_tag(&mc, 2, dc, c, dnnl_ab);
  if (D.dnnl_matmul_primitive_desc_create(&pd, dnn_engine, ma, mb, NULL, mc,
                                          NULL) == dnnl_success) {
    const char *impl = "";
    D.dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    s = strncmp(impl, "ref", 3) == 0 ? XO_SUPPORT_EMULATED : XO_SUPPORT_NATIVE;
    D.dnnl_primitive_desc_destroy(pd);
  }
  D.dnnl_memory_desc_destroy(ma);
  D.dnnl_memory_desc_destroy(mb);
  D.dnnl_memory_desc_destroy(mc);
  return s;
}

static xo_status dnn_describe(int index, xo_device_desc *d) {
  (void)index;
  const dnnl_version_t *v = D.dnnl_version();
  snprintf(isa_name, sizeof isa_name, "%s",
           isa_string(D.dnnl_get_effective_cpu_isa()));
  snprintf(d->name, sizeof d->name, "onednn");
  snprintf(d->kind, sizeof d->kind, "cpu");
  int vnni = isa_has_vnni(D.dnnl_get_effective_cpu_isa());
  snprintf(d->full_name, sizeof d->full_name, "oneDNN %d.%d.%d, %.40s%s",
           v->major, v->minor, v->patch, isa_name,
           vnni ? "" : "; no int8 (without VNNI, s16 pair sums saturate)");
  d->exact_integer = 1;
  d->follows_threads = 1;
  snprintf(d->threads, sizeof d->threads,
           "follows set_num_threads (omp_set_num_threads on each calling "
           "thread, every call)");
  support[XO_PREC_FP32] = probe(dnnl_f32, dnnl_f32, dnnl_f32);
  support[XO_PREC_BF16] = probe(dnnl_bf16, dnnl_bf16, dnnl_f32);
  support[XO_PREC_FP16] = probe(dnnl_f16, dnnl_f16, dnnl_f32);
  support[XO_PREC_INT8] =
      vnni ? probe(dnnl_s8, dnnl_s8, dnnl_s32) : XO_SUPPORT_NONE;
  /* oneDNN 3.2 has no f8 or s4 type: fp8 runs on bf16 (exact widening)
   * and int4 on s8 (exact unpacking), computing the same values */
  if (support[XO_PREC_BF16]) support[XO_PREC_FP8] = XO_SUPPORT_EMULATED;
  if (support[XO_PREC_INT8]) support[XO_PREC_INT4] = XO_SUPPORT_EMULATED;
  memcpy(d->precisions, support, sizeof support);
  xo_cpu_peaks_fill(d);
  return XO_OK;
}

/* Release what a plan made, also a plan whose function failed half way
 * (zeroed fields are skipped). */
static void dnn_plan_release(void *plan) {
  dnn_plan *pl = plan;
  dnn_prim_free(&pl->main);
  dnn_prim_free(&pl->second);
  dnn_prim_free(&pl->third);
  for (int i = 0; i < 3; i++) dnn_prim_free(&pl->reorder[i]);
  for (int i = 0; i < pl->nmd; i++) D.dnnl_memory_desc_destroy(pl->md[i]);
  free(pl->mask);
  free(pl->wc.buf);
  if (pl->wc_ready) pthread_rwlock_destroy(&pl->wc.lock);
}

void dnn_plan_begin(dnn_plan *pl) {
  pthread_rwlock_init(&pl->wc.lock, NULL);
  pl->wc_ready = 1;
  pl->widen8 = pl->h.p.prec == XO_PREC_FP8;
  pl->unpack4 = pl->h.p.prec == XO_PREC_INT4;
}

void dnn_run_begin(void) {
  D.omp_set_num_threads(xo_get_num_threads());
}

const void *dnn_wcache_get(dnn_wcache *c, uint64_t token) {
  if (token == 0) return NULL;
  pthread_rwlock_rdlock(&c->lock);
  if (c->token == token) return c->buf; /* the caller releases */
  pthread_rwlock_unlock(&c->lock);
  return NULL;
}

void dnn_wcache_done(dnn_wcache *c) {
  pthread_rwlock_unlock(&c->lock);
}

void dnn_wcache_put(dnn_wcache *c, uint64_t token, const void *src,
                    size_t bytes) {
  if (token == 0) return;
  void *copy = malloc(bytes ? bytes : 1);
  if (copy == NULL) return; /* not caching is always correct */
  memcpy(copy, src, bytes);
  pthread_rwlock_wrlock(&c->lock);
  void *old = c->buf;
  c->buf = copy;
  c->bytes = bytes;
  c->token = token;
  pthread_rwlock_unlock(&c->lock);
  free(old);
}

static void dnn_plan_describe(const void *plan, char *impl, size_t n) {
  const dnn_plan *pl = plan;
  if (pl->impl[0])
    snprintf(impl, n, "%s", pl->impl);
  else
    snprintf(impl, n, "onednn:%s_%s (%s%s)", xo_op_name(pl->h.p.op),
             xo_precision_name((xo_precision)pl->h.p.prec), pl->main.impl,
             dnn_emulation(pl));
}

const char *dnn_emulation(const dnn_plan *pl) {
  return pl->widen8    ? ", fp8 widened to bf16"
         : pl->unpack4 ? ", int4 unpacked to s8"
                       : "";
}

static void dnn_set_num_threads(int n) {
  D.omp_set_num_threads(n);
}

/* oneDNN 3.2 takes no weight zero points: the primitives give s32 sums and
 * the core's identity adds their term (semantics.h xo_zp_*); input zero
 * points are the primitives' own (a padded conv tap contributes 0) */
const xo_backend xo_backend_onednn = {
    .name = "onednn",
    .init = dnn_init,
    .device_count = dnn_device_count,
    .describe = dnn_describe,
    .ops[XO_OP_MATMUL] = {.plan = dnn_matmul_plan,
                          .run = dnn_matmul_run,
                          .takes = XO_TAKES_ALL},
    .ops[XO_OP_CONV2D] = {.plan = dnn_conv_plan,
                          .run = dnn_conv_run,
                          .takes =
                              XO_TAKES_ASYM_A | XO_TAKES_ASYM_B | XO_TAKES_S32},
    .ops[XO_OP_ATTENTION] = {.plan = dnn_attention_plan,
                             .run = dnn_attention_run},
    .plan_size = sizeof(dnn_plan),
    .plan_release = dnn_plan_release,
    .plan_describe = dnn_plan_describe,
    .set_num_threads = dnn_set_num_threads,
    .fini = dnn_fini,
};

/* ---- helpers ------------------------------------------------------------ */

xo_status dnn_prim_make(dnnl_primitive_desc_t pd, dnn_prim *out,
                        const char *what) {
  const char *impl = "?";
  D.dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
  snprintf(out->impl, sizeof out->impl, "%s", impl);
  const_dnnl_memory_desc_t smd =
      D.dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
  out->scratch = smd ? D.dnnl_memory_desc_get_size(smd) : 0;
  if (smd) D.dnnl_memory_desc_clone(&out->scratch_md, smd);
  dnnl_status_t s = D.dnnl_primitive_create(&out->prim, pd);
  D.dnnl_primitive_desc_destroy(pd);
  if (s != dnnl_success)
    return xo_fail(XO_ERR_RUNTIME,
                   "onednn: cannot create the %s primitive "
                   "(status %d)",
                   what, (int)s);
  return XO_OK;
}

void dnn_prim_free(dnn_prim *p) {
  if (p->prim) D.dnnl_primitive_destroy(p->prim);
  if (p->scratch_md) D.dnnl_memory_desc_destroy(p->scratch_md);
  memset(p, 0, sizeof *p);
}

static dnnl_memory_desc_t keep(dnn_plan *pl, dnnl_status_t s,
                               dnnl_memory_desc_t md) {
  if (s != dnnl_success || pl->nmd >= DNN_MAX_MDS) {
    if (s == dnnl_success) D.dnnl_memory_desc_destroy(md);
    return NULL;
  }
  pl->md[pl->nmd++] = md;
  return md;
}

dnnl_memory_desc_t dnn_md(dnn_plan *pl, int ndims, const int64_t *dims,
                          dnnl_data_type_t dt, dnnl_format_tag_t tag) {
  dnnl_memory_desc_t md = NULL;
  dnnl_status_t s =
      D.dnnl_memory_desc_create_with_tag(&md, ndims, dims, dt, tag);
  return keep(pl, s, md);
}

dnnl_memory_desc_t dnn_md_strided(dnn_plan *pl, int ndims, const int64_t *dims,
                                  dnnl_data_type_t dt, const int64_t *strides) {
  dnnl_memory_desc_t md = NULL;
  dnnl_status_t s =
      D.dnnl_memory_desc_create_with_strides(&md, ndims, dims, dt, strides);
  return keep(pl, s, md);
}

dnnl_primitive_attr_t dnn_attr(void) {
  dnnl_primitive_attr_t attr = NULL;
  if (D.dnnl_primitive_attr_create(&attr) != dnnl_success) return NULL;
  /* the scratchpad comes from our per-thread arena: plans stay shareable
   * between threads and no run allocates it */
  D.dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
  return attr;
}

/* ---- per-thread stream and scratch ------------------------------------- */

typedef struct dnn_tls {
  dnnl_stream_t stream;
  void *slot[DNN_SLOTS];
  size_t size[DNN_SLOTS];
} dnn_tls;

static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void tls_free(void *v) {
  dnn_tls *t = v;
  if (t->stream) D.dnnl_stream_destroy(t->stream);
  for (int i = 0; i < DNN_SLOTS; i++) free(t->slot[i]);
  free(t);
}

static void tls_key_init(void) {
  pthread_key_create(&tls_key, tls_free);
}

static void tls_release(void) {
  pthread_once(&tls_once, tls_key_init);
  dnn_tls *t = pthread_getspecific(tls_key);
  if (t) tls_free(t);
  pthread_setspecific(tls_key, NULL);
}

static dnn_tls *tls(void) {
  pthread_once(&tls_once, tls_key_init);
  dnn_tls *t = pthread_getspecific(tls_key);
  if (t == NULL) {
    t = calloc(1, sizeof *t);
    if (t == NULL) return NULL;
    if (D.dnnl_stream_create(&t->stream, dnn_engine,
                             dnnl_stream_default_flags) != dnnl_success) {
      free(t);
      return NULL;
    }
    pthread_setspecific(tls_key, t);
  }
  return t;
}

void *dnn_scratch(int slot, size_t bytes) {
  dnn_tls *t = tls();
  if (t == NULL) return NULL;
  if (bytes == 0) bytes = 1; /* a valid pointer even for empty tensors */
  if (t->size[slot] < bytes) {
    free(t->slot[slot]);
    t->slot[slot] = malloc(bytes ? bytes : 1);
    t->size[slot] = t->slot[slot] ? bytes : 0;
  }
  return t->slot[slot];
}

enum { SCRATCH_SLOT = DNN_SLOTS - 1, MAX_ARGS = 12 };

xo_status dnn_exec(const dnn_prim *p, const dnn_arg *args, int n) {
  dnn_tls *t = tls();
  dnnl_exec_arg_t ex[MAX_ARGS];
  dnnl_memory_t mem[MAX_ARGS] = {0};
  xo_status st = XO_OK;
  int m = 0;
  if (t == NULL) return xo_fail(XO_ERR_NO_MEMORY, "onednn: no stream");
  for (int i = 0; i < n && i < MAX_ARGS - 1; i++, m++) {
    if (D.dnnl_memory_create(&mem[m], args[i].md, dnn_engine,
                             (void *)args[i].ptr) != dnnl_success) {
      st = xo_fail(XO_ERR_RUNTIME, "onednn: cannot wrap argument %d", i);
      goto done;
    }
    ex[m] = (dnnl_exec_arg_t){args[i].arg, mem[m]};
  }
  if (p->scratch > 0) {
    void *buf = dnn_scratch(SCRATCH_SLOT, p->scratch);
    if (buf == NULL || D.dnnl_memory_create(&mem[m], p->scratch_md, dnn_engine,
                                            buf) != dnnl_success) {
      st = xo_fail(XO_ERR_NO_MEMORY, "onednn: no scratchpad");
      goto done;
    }
    ex[m] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, mem[m]};
    m++;
  }
  dnnl_status_t s = D.dnnl_primitive_execute(p->prim, t->stream, m, ex);
  if (s != dnnl_success)
    st = xo_fail(XO_ERR_RUNTIME, "onednn: %s failed (status %d)", p->impl,
                 (int)s);
done:
  for (int i = 0; i < MAX_ARGS; i++)
    if (mem[i]) D.dnnl_memory_destroy(mem[i]);
  return st;
}

void dnn_fp8_to_bf16(const uint8_t *src, int64_t n, uint16_t *dst) {
  /* decode to f32 exactly, then keep the top half: exact since E4M3 has 3
   * mantissa bits and a range inside bf16's */
  float tmp[256];
  for (int64_t i = 0; i < n; i += 256) {
    int64_t len = n - i < 256 ? n - i : 256;
    xo_decode_f32(XO_DTYPE_F8E4M3, src + i, len, tmp);
    for (int64_t j = 0; j < len; j++) {
      uint32_t bits;
      memcpy(&bits, &tmp[j], 4);
      dst[i + j] = (uint16_t)(bits >> 16);
    }
  }
}

const void *dnn_activation(const dnn_plan *pl, const void *src, int64_t n) {
  if (!pl->widen8) return src;
  uint16_t *w = dnn_scratch(0, (size_t)n * 2);
  if (w) dnn_fp8_to_bf16(src, n, w);
  return w;
}

dnnl_data_type_t dnn_operand_type(xo_precision prec, int is_unsigned) {
  switch (prec) {
    case XO_PREC_FP32: return dnnl_f32;
    case XO_PREC_BF16:
    case XO_PREC_FP8: return dnnl_bf16;
    case XO_PREC_FP16: return dnnl_f16;
    default: return is_unsigned ? dnnl_u8 : dnnl_s8;
  }
}
