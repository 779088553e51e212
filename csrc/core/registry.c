/* registry.c - the backends this build knows, their devices, the aliases
 * "cpu", "gpu", "npu", and the backends' lifetime (init on first use, fini
 * at process exit).
 *
 * Adding a backend = its folder under backends/ + one line in XO_BACKENDS.
 * A backend whose library is missing on this machine still gets a device
 * entry saying why it is unavailable, so devices() always shows the whole
 * picture. */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The backends of this build, one line each: the name of its table
 * (xo_backend_<name>, in backends/<name>/), the kind of its placeholder
 * entry when it is unavailable, whether it simulates, and where its devices
 * stand for each alias: 1 is preferred, then 2...; absent or 0: the alias
 * never picks them (a simulated device is never picked). */
#define XO_BACKENDS(X)                                   \
  X(ref, "cpu", 0, .cpu = 6)                             \
  X(openblas, "cpu", 0, .cpu = 2, .cpu_small = 1,        \
    .cpu_skinny = kOpenblasSkinny)                       \
  X(onednn, "cpu", 0, .cpu = 1)                          \
  X(opencl, "gpu", 0, .cpu = 5, .gpu = 1)                \
  X(openvino, "npu", 0, .cpu = 4, .gpu = 2, .npu = 1)    \
  X(npusim, "npu", 1, .cpu = 0)                          \
  X(simd, "cpu", 0, .cpu = 3, .cpu_skinny = kSimdSkinny, \
    .cpu_attention = kSimdAttention)                     \
  /* a new backend: one line above this one */

/* Ranks per alias, 1 best, 0 never. cpu_small ranks a backend first for
 * small matmuls (XO_SHAPE_SMALL), whose time is the library's fixed cost
 * per call: measured whole 8x8 fp32 calls, openblas 0.8 us, onednn 3.1 us
 * (NumPy 0.9 us), AMD EPYC Zen 4. Unranked there: after those that are. */
/* cpu_skinny: the precisions (bit 1 << xo_precision) a backend is ranked
 * first in for skinny matmuls (XO_SHAPE_SKINNY, M <= 32): where it measured
 * fastest. simd, benchmarks/simd.py (one run), cold weights, 2 threads, AMD
 * EPYC Zen 4, a machine shared with other jobs (load average 2.3-2.5;
 * decode: best kernel over 8 rounds of 3 with the devices taking turns;
 * float: best of 10):
 *   int8 1x8192x8192: simd 2.51 ms, onednn 19.5 (openvino:CPU 3.20 ms:
 *     not ranked, its integer results are not exact)
 *   int4 1x8192x8192 group 128: simd 1.24 ms, onednn 9.79
 *   bf16 1x8192x8192: simd 9.56 ms, onednn 26.9
 *   fp32 1x8192x8192: openblas 11.1 ms, simd 14.9, onednn 67.1: openblas
 *     (again on 2026-11-30, quiet: openblas 6.15 ms, simd 8.10, onednn
 *     19.1; before then the cpu order's onednn was picked there, the
 *     slowest of the three). fp64 1x4096x4096 cold: openblas 3.6 ms, ref
 *     11.7 (onednn and simd have no fp64).
 * Up the class, another run (load 2.1): M = 8 and 32 x 8192 x 8192, int8
 * simd 3.2 / 9.1 ms, onednn 11.4 / 15.3; int4 simd 3.7 / 9.1, onednn
 * 9.7 / 17.0.
 * Unranked there: after it, in the cpu order. */
/* cpu_attention: the precisions a backend is ranked first in for attention
 * (XO_SHAPE_ATTENTION). simd, benchmarks/simd_attention.py (one run), B1
 * H32 L2048 D128 causal, 2 threads, AMD EPYC Zen 4, best kernel of 3:
 *   fp32: simd 159 FP32 GFLOPS, torch SDPA 136, onednn 69.5
 *   bf16: simd 288 BF16 GFLOPS, torch SDPA 137, onednn 118
 *   int8: simd 320 INT8 GOPS, onednn 59.2 (same scheme, bit-identical)
 * Elsewhere simd ranks after oneDNN and OpenBLAS (cpu = 3): the libraries
 * stay the choice for large GEMMs (int8 4096^3: simd 1.05x oneDNN), and it
 * comes before OpenVINO, OpenCL and ref where those libraries are absent. */
enum {
  kOpenblasSkinny = (1 << XO_PREC_FP32) | (1 << XO_PREC_FP64),
  kSimdSkinny = (1 << XO_PREC_INT8) | (1 << XO_PREC_INT4) | (1 << XO_PREC_BF16),
  kSimdAttention = (1 << XO_PREC_FP32) | (1 << XO_PREC_BF16) |
      (1 << XO_PREC_INT8)
};

typedef struct alias_rank {
  int cpu, gpu, npu, cpu_small;
  unsigned cpu_skinny, cpu_attention;
} alias_rank;

typedef struct backend_entry {
  const xo_backend *impl;
  const char *kind; /* kind of the placeholder entry when unavailable */
  int simulated;
  alias_rank rank;
} backend_entry;

#define XO_DECLARE(name, ...) extern const xo_backend xo_backend_##name;
XO_BACKENDS(XO_DECLARE)
#undef XO_DECLARE

#define XO_ENTRY(name, kind, simulated, ...) \
  {&xo_backend_##name, kind, simulated, {__VA_ARGS__}},
static const backend_entry kBackends[] = {XO_BACKENDS(XO_ENTRY)};
#undef XO_ENTRY
enum { NBACKENDS = sizeof kBackends / sizeof kBackends[0], MAX_DEVICES = 64 };

static struct xo_device devices[MAX_DEVICES];
static int ndevices;
static int device_entry[MAX_DEVICES]; /* index into kBackends */
static pthread_once_t registry_once = PTHREAD_ONCE_INIT;
static int registry_ready;

int xo_registry_started(void) {
  return __atomic_load_n(&registry_ready, __ATOMIC_ACQUIRE);
}

/* Library paths the Python layer found, by backend name. */
static char library_paths[NBACKENDS][1024];

xo_status xo_set_library_path(const char *backend, const char *path) {
  if (__atomic_load_n(&registry_ready, __ATOMIC_ACQUIRE))
    return xo_fail(XO_ERR_INVALID_ARG,
                   "library paths must be set before the first device query");
  for (int i = 0; i < NBACKENDS; i++)
    if (strcmp(kBackends[i].impl->name, backend) == 0) {
      snprintf(library_paths[i], sizeof library_paths[i], "%s", path);
      return XO_OK;
    }
  return xo_fail(XO_ERR_INVALID_ARG, "unknown backend '%s'", backend);
}

const char *xo_library_path(const char *backend) {
  for (int i = 0; i < NBACKENDS; i++)
    if (strcmp(kBackends[i].impl->name, backend) == 0)
      return library_paths[i][0] ? library_paths[i] : NULL;
  return NULL;
}

const xo_op_impl *xo_backend_op(const xo_backend *b, int op) {
  if (b == NULL || op <= 0 || op >= XO_OP_COUNT || b->ops[op].run == NULL)
    return NULL;
  return &b->ops[op];
}

static struct xo_device *new_device(int entry) {
  if (ndevices >= MAX_DEVICES) return NULL;
  struct xo_device *d = &devices[ndevices];
  memset(d, 0, sizeof *d);
  d->backend = kBackends[entry].impl;
  device_entry[ndevices] = entry;
  return d;
}

static void add_placeholder(int entry, const char *reason) {
  const backend_entry *b = &kBackends[entry];
  struct xo_device *d = new_device(entry);
  if (d == NULL) return;
  snprintf(d->desc.name, sizeof d->desc.name, "%s", b->impl->name);
  snprintf(d->desc.backend, sizeof d->desc.backend, "%s", b->impl->name);
  snprintf(d->desc.kind, sizeof d->desc.kind, "%s", b->kind);
  snprintf(d->desc.reason, sizeof d->desc.reason, "%s", reason);
  d->desc.simulated = b->simulated;
  ndevices++;
}

/* Backends whose init succeeded: they get set_num_threads and fini. */
static int initialised[NBACKENDS];

/* At exit: plans first (they hold backend objects), then each backend's
 * global state, in the reverse order of init. A plan still in use (a
 * thread inside a run while the process exits) keeps every backend as it
 * is: the OS reclaims it. */
static void registry_fini(void) {
  if (xo_cache_close() != 0) return;
  xo_prep_cache_clear();
  for (int i = NBACKENDS - 1; i >= 0; i--)
    if (initialised[i] && kBackends[i].impl->fini) kBackends[i].impl->fini();
}

static void registry_init(void) {
  __atomic_store_n(&registry_ready, 1, __ATOMIC_RELEASE);
  for (int i = 0; i < NBACKENDS; i++) {
    const xo_backend *b = kBackends[i].impl;
    if (b->init() != XO_OK) {
      add_placeholder(i, xo_last_error());
      continue;
    }
    initialised[i] = 1;
    int n = b->device_count();
    for (int j = 0; j < n; j++) {
      struct xo_device *d = new_device(i);
      if (d == NULL) break;
      d->index = j;
      xo_status st = b->describe(j, &d->desc);
      snprintf(d->desc.backend, sizeof d->desc.backend, "%s", b->name);
      if (st == XO_ERR_UNAVAILABLE && d->desc.name[0]) {
        /* a device the backend knows of but cannot use here, e.g. an NPU
         * whose driver is missing: listed with the reason */
        snprintf(d->desc.reason, sizeof d->desc.reason, "%s", xo_last_error());
        ndevices++;
        continue;
      }
      if (st != XO_OK) {
        add_placeholder(i, xo_last_error());
        continue;
      }
      d->desc.available = 1;
      ndevices++;
    }
  }
  /* registered after the backends loaded their libraries, so it runs
   * before those libraries' own exit-time destructors */
  atexit(registry_fini);
}

int xo_device_count(void) {
  pthread_once(&registry_once, registry_init);
  return ndevices;
}

xo_status xo_device_describe(int i, xo_device_desc *desc) {
  if (i < 0 || i >= xo_device_count() || desc == NULL)
    return xo_fail(XO_ERR_INVALID_ARG, "device index %d out of range", i);
  *desc = devices[i].desc;
  return XO_OK;
}

int xo_device_index(xo_device_t dev) {
  if (dev == NULL || dev < devices || dev >= devices + ndevices) return -1;
  return (int)(dev - devices);
}

xo_status xo_device_find(const char *name, xo_device_t *dev) {
  int n = xo_device_count();
  *dev = NULL;
  for (int i = 0; i < n; i++) {
    if (strcmp(devices[i].desc.name, name) != 0) continue;
    if (!devices[i].desc.available)
      return xo_fail(XO_ERR_UNAVAILABLE, "device '%s' is not available: %s",
                     name, devices[i].desc.reason);
    *dev = &devices[i];
    return XO_OK;
  }
  return xo_fail(XO_ERR_INVALID_ARG, "unknown device '%s'", name);
}

/* The rank of device i for an alias ("cpu", "gpu", "npu"), 0: never. */
static int rank_for(int i, const char *alias, int shape_class,
                    xo_precision prec) {
  const alias_rank *r = &kBackends[device_entry[i]].rank;
  if (strcmp(devices[i].desc.kind, alias) != 0) return 0;
  if (strcmp(alias, "cpu") == 0 && shape_class == XO_SHAPE_SKINNY &&
      prec != XO_PREC_ANY)
    return r->cpu_skinny >> prec & 1u ? 1 : r->cpu ? 100 + r->cpu : 0;
  if (strcmp(alias, "cpu") == 0 && shape_class == XO_SHAPE_ATTENTION &&
      prec != XO_PREC_ANY)
    return r->cpu_attention >> prec & 1u ? 1 : r->cpu ? 100 + r->cpu : 0;
  if (strcmp(alias, "cpu") == 0)
    return shape_class == XO_SHAPE_SMALL && r->cpu
               ? (r->cpu_small ? r->cpu_small : 100 + r->cpu)
               : r->cpu;
  return strcmp(alias, "gpu") == 0 ? r->gpu : r->npu;
}

/* The names of the devices (available ones when only_available) into buf,
 * comma separated, after first (which may be ""). */
static void list_names(char *buf, size_t n, const char *first,
                       int only_available) {
  size_t used = (size_t)snprintf(buf, n, "%s", first);
  for (int i = 0; i < ndevices && used < n; i++)
    if (devices[i].desc.available || !only_available)
      used += (size_t)snprintf(buf + used, n - used, "%s%s", used ? ", " : "",
                               devices[i].desc.name);
}

xo_status xo_device_resolve(const char *name, xo_precision prec,
                            xo_device_t *dev) {
  return xo_device_resolve_shape(name, prec, XO_SHAPE_ANY, dev);
}

int xo_matmul_shape_class(int64_t m, int64_t k, int64_t n) {
  if ((double)m * (double)k * (double)n <= 262144.0) return XO_SHAPE_SMALL;
  return m <= 32 ? XO_SHAPE_SKINNY : XO_SHAPE_ANY;
}

xo_status xo_device_resolve_shape(const char *name, xo_precision prec,
                                  int shape_class, xo_device_t *dev) {
  int n = xo_device_count(), best = -1;
  char names[512];
  *dev = NULL;
  if (name == NULL) return xo_fail(XO_ERR_INVALID_ARG, "device name is NULL");
  if (prec < XO_PREC_ANY || prec >= XO_PREC_COUNT)
    return xo_fail(XO_ERR_INVALID_ARG, "unknown precision %d", (int)prec);
  if (strcmp(name, "cpu") != 0 && strcmp(name, "gpu") != 0 &&
      strcmp(name, "npu") != 0) {
    for (int i = 0; i < n; i++)
      if (strcmp(devices[i].desc.name, name) == 0)
        return xo_device_find(name, dev);
    list_names(names, sizeof names, "cpu, gpu, npu", 0);
    return xo_fail(XO_ERR_INVALID_ARG,
                   "unknown device '%s'; valid devices are %s", name, names);
  }
  for (int i = 0; i < n; i++) {
    const xo_device_desc *d = &devices[i].desc;
    int r = rank_for(i, name, shape_class, prec);
    if (r == 0 || !d->available || d->simulated) continue;
    if (prec != XO_PREC_ANY && d->precisions[prec] == XO_SUPPORT_NONE) continue;
    if (best < 0 || r < rank_for(best, name, shape_class, prec)) best = i;
  }
  if (best >= 0) {
    *dev = &devices[best];
    return XO_OK;
  }
  char kind[4] = {0};
  for (int c = 0; c < 3; c++) kind[c] = (char)(name[c] - 'a' + 'A');
  list_names(names, sizeof names, "", 1);
  return xo_fail(XO_ERR_UNAVAILABLE,
                 "no %s%s%s is available on this machine for device='%s'; "
                 "available devices: %s",
                 kind, prec != XO_PREC_ANY ? " that runs " : "",
                 prec != XO_PREC_ANY ? xo_precision_name(prec) : "", name,
                 names);
}

void xo_devices_that_run(int op, int prec, unsigned takes, char *buf,
                         size_t n) {
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i < xo_device_count() && used < n; i++) {
    const xo_device_desc *d = &devices[i].desc;
    const xo_op_impl *entry = xo_backend_op(devices[i].backend, op);
    if (!d->available || !entry || (entry->takes & takes) != takes) continue;
    if (prec >= 0 && d->precisions[prec] == XO_SUPPORT_NONE) continue;
    used += (size_t)snprintf(buf + used, n - used, "%s%s", used ? ", " : "",
                             d->name);
  }
  if (used == 0) snprintf(buf, n, "none on this machine");
}

void xo_devices_that_support(const xo_problem *p, unsigned takes, char *buf,
                             size_t n) {
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i < xo_device_count() && used < n; i++) {
    const xo_device_desc *d = &devices[i].desc;
    const xo_op_impl *entry = xo_backend_op(devices[i].backend, p->op);
    if (!d->available || !entry || (entry->takes & takes) != takes ||
        d->precisions[p->prec] == XO_SUPPORT_NONE)
      continue;
    if (entry->supports && entry->supports(devices[i].index, p) != XO_OK)
      continue;
    used += (size_t)snprintf(buf + used, n - used, "%s%s", used ? ", " : "",
                             d->name);
  }
  if (used == 0) snprintf(buf, n, "none on this machine");
}

/* 0 until set: then the cores this process may run on */
static int num_threads;

static int affinity_cores(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  int n = CPU_COUNT(&set);
  return n > 0 ? n : 1;
}

/* Serialises set_num_threads, so that the count every pool ends with is
 * the one stored last. */
static pthread_mutex_t threads_lock = PTHREAD_MUTEX_INITIALIZER;

xo_status xo_set_num_threads(int n) {
  if (n < 1)
    return xo_fail(XO_ERR_INVALID_ARG,
                   "number of threads must be >= 1, "
                   "got %d",
                   n);
  pthread_mutex_lock(&threads_lock);
  __atomic_store_n(&num_threads, n, __ATOMIC_RELAXED);
  /* Before the registry starts, there is no pool to tell: each backend's
   * init reads the count stored above. Once it has started, wait for it to
   * finish and tell every backend that came up (pools that read the count
   * per call, such as OpenMP's and OpenVINO's compiled models, read it
   * there as well). */
  if (__atomic_load_n(&registry_ready, __ATOMIC_ACQUIRE)) {
    pthread_once(&registry_once, registry_init);
    for (int i = 0; i < NBACKENDS; i++)
      if (initialised[i] && kBackends[i].impl->set_num_threads)
        kBackends[i].impl->set_num_threads(n);
  }
  pthread_mutex_unlock(&threads_lock);
  return XO_OK;
}

int xo_get_num_threads(void) {
  int n = __atomic_load_n(&num_threads, __ATOMIC_RELAXED);
  return n > 0 ? n : affinity_cores();
}
