/* plan_cache.c - plans keyed by (device, problem), bounded, thread-safe.
 *
 * Entries are reference counted so that a plan evicted while another thread
 * runs it stays alive until that run releases it. Planning happens outside
 * the lock (it may compile kernels); if two threads plan the same problem at
 * once, the first to insert wins and the other frees its copy. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "semantics.h"

enum { CAPACITY = 128 };

struct xo_plan_ref {
  uint64_t hash;
  xo_device_t dev;
  xo_problem key;
  void *plan;
  int refs;
  int cached; /* 0 once evicted: freed by the last release */
  uint64_t last_use;
  /* what the plan runs, described once (formatting it per call cost as
   * much as a small kernel); redescribed when a run recompiles */
  char impl[sizeof(((xo_op_info *)0)->impl)];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static xo_plan_ref *table[CAPACITY];
static uint64_t clock_tick;
/* plans alive (cached, being created or in use) and whether the process
 * is exiting (no new plan then: xo_cache_close) */
static int64_t live;
static int closing;
static xo_cache_stats stats = {.capacity = CAPACITY};

static uint64_t hash_key(xo_device_t dev, const xo_problem *p) {
  /* FNV-1a-style over 8-byte words of the zero-padded problem, then the
   * device pointer: a byte at a time cost ~0.3 us per call */
  uint64_t h = 1469598103934665603ull, w;
  const unsigned char *b = (const unsigned char *)p;
  size_t i = 0;
  for (; i + 8 <= sizeof *p; i += 8) {
    memcpy(&w, b + i, 8);
    h = (h ^ w) * 1099511628211ull;
    h ^= h >> 29;
  }
  for (; i < sizeof *p; i++) h = (h ^ b[i]) * 1099511628211ull;
  return (h ^ (uint64_t)(uintptr_t)dev) * 1099511628211ull;
}

/* Release what the backend made for a plan, then the plan itself. */
static void plan_free(const xo_backend *b, void *plan) {
  if (plan && b->plan_release) b->plan_release(plan);
  free(plan);
}

/* The plan of dev's op entry for p: the head filled in, the rest prepared
 * by the entry's plan function. */
static xo_status plan_make(xo_device_t dev, const xo_problem *p, void **out) {
  const xo_backend *b = dev->backend;
  const xo_op_impl *op = xo_backend_op(b, p->op);
  size_t size =
      b->plan_size > sizeof(xo_plan_head) ? b->plan_size : sizeof(xo_plan_head);
  xo_plan_head *h = calloc(1, size);
  xo_status st = XO_OK;
  *out = NULL;
  if (h == NULL)
    return xo_fail(XO_ERR_NO_MEMORY, "%s: no memory for a plan", b->name);
  h->p = *p;
  h->device = dev->index;
  h->how = op->how ? op->how : "";
  if (op->plan) st = op->plan(h);
  if (st != XO_OK) {
    plan_free(b, h);
    return st;
  }
  *out = h;
  return XO_OK;
}

/* What a plan runs: the backend's own words, or "<backend>:<op>_<precision>
 * (<how>)". */
static void describe(xo_device_t dev, const void *plan, char *impl, size_t n) {
  const xo_plan_head *h = plan;
  if (dev->backend->plan_describe)
    dev->backend->plan_describe(plan, impl, n);
  else
    snprintf(impl, n, "%s:%s_%s (%s)", dev->backend->name, xo_op_name(h->p.op),
             xo_precision_name((xo_precision)h->p.prec), h->how);
}

static void ref_destroy(xo_plan_ref *r);

/* Release r; under the same lock, redescribe its plan first when dev is
 * given (a run recompiled it) and copy its impl string into impl. */
static void release_describing(xo_plan_ref *r, xo_device_t dev, char *impl,
                               size_t n) {
  if (r == NULL) return;
  pthread_mutex_lock(&lock);
  if (dev) describe(dev, r->plan, r->impl, sizeof r->impl);
  if (impl) snprintf(impl, n, "%s", r->impl);
  int dead = --r->refs == 0 && !r->cached;
  pthread_mutex_unlock(&lock);
  if (dead) ref_destroy(r);
}

static void ref_destroy(xo_plan_ref *r) {
  plan_free(r->dev->backend, r->plan);
  free(r);
  __atomic_sub_fetch(&live, 1, __ATOMIC_RELAXED);
}

static xo_plan_ref *find_locked(uint64_t h, xo_device_t dev,
                                const xo_problem *p) {
  for (int i = 0; i < CAPACITY; i++) {
    xo_plan_ref *r = table[i];
    if (r && r->hash == h && r->dev == dev && !memcmp(&r->key, p, sizeof *p))
      return r;
  }
  return NULL;
}

/* Insert r, evicting the least recently used idle entry when full. Returns
 * 0 when every entry is in use (r then stays uncached). */
static int insert_locked(xo_plan_ref *r) {
  int slot = -1;
  for (int i = 0; i < CAPACITY && slot < 0; i++)
    if (table[i] == NULL) slot = i;
  if (slot < 0) {
    for (int i = 0; i < CAPACITY; i++)
      if (table[i]->refs == 0 &&
          (slot < 0 || table[i]->last_use < table[slot]->last_use))
        slot = i;
    if (slot < 0) return 0;
    ref_destroy(table[slot]);
    stats.evictions++;
    stats.entries--;
  }
  table[slot] = r;
  r->cached = 1;
  stats.entries++;
  return 1;
}

xo_status xo_plan_acquire(xo_device_t dev, const xo_problem *p,
                          xo_plan_ref **out, void **plan, double *plan_s,
                          int *created) {
  uint64_t h = hash_key(dev, p);
  xo_plan_ref *r = NULL;
  *out = NULL;
  *plan = NULL;
  *plan_s = 0;
  *created = 0;
  pthread_mutex_lock(&lock);
  int exiting = closing;
  r = exiting ? NULL : find_locked(h, dev, p);
  if (r) {
    r->refs++;
    r->last_use = ++clock_tick;
    stats.hits++;
  } else if (!exiting) {
    live++; /* counted from here: fini waits for no plan being created */
  }
  pthread_mutex_unlock(&lock);
  if (exiting) return xo_fail(XO_ERR_UNAVAILABLE, "xpuops is shutting down");
  if (r) goto done;

  r = calloc(1, sizeof *r);
  if (r == NULL) {
    __atomic_sub_fetch(&live, 1, __ATOMIC_RELAXED);
    return xo_fail(XO_ERR_NO_MEMORY, "cannot allocate a plan");
  }
  r->hash = h;
  r->dev = dev;
  r->key = *p;
  r->refs = 1;
  double t0 = xo_now();
  xo_status st = plan_make(dev, p, &r->plan);
  *plan_s = xo_now() - t0;
  if (st != XO_OK) {
    free(r);
    __atomic_sub_fetch(&live, 1, __ATOMIC_RELAXED);
    return st;
  }
  describe(dev, r->plan, r->impl, sizeof r->impl);
  *created = 1;
  pthread_mutex_lock(&lock);
  stats.plans_created++;
  xo_plan_ref *other = find_locked(h, dev, p);
  if (other) { /* another thread won the race: use its plan */
    other->refs++;
    other->last_use = ++clock_tick;
    pthread_mutex_unlock(&lock);
    ref_destroy(r);
    r = other;
    goto done;
  }
  r->last_use = ++clock_tick;
  insert_locked(r);
  pthread_mutex_unlock(&lock);
done:
  *out = r;
  *plan = r->plan;
  return XO_OK;
}

void xo_plan_release(xo_plan_ref *r) {
  release_describing(r, NULL, NULL, 0);
}

void xo_cache_stats_get(xo_cache_stats *s) {
  pthread_mutex_lock(&lock);
  *s = stats;
  pthread_mutex_unlock(&lock);
}

void xo_cache_clear(void) {
  pthread_mutex_lock(&lock);
  for (int i = 0; i < CAPACITY; i++) {
    xo_plan_ref *r = table[i];
    if (r == NULL) continue;
    table[i] = NULL;
    stats.entries--;
    r->cached = 0;
    if (r->refs == 0) ref_destroy(r);
  }
  pthread_mutex_unlock(&lock);
}

int64_t xo_cache_close(void) {
  pthread_mutex_lock(&lock);
  closing = 1;
  pthread_mutex_unlock(&lock);
  xo_cache_clear();
  return __atomic_load_n(&live, __ATOMIC_RELAXED);
}

/* Test-only perturbations, so the regression benchmarks can be shown to
 * catch a regression (docs/DESIGN.md s7): XPUOPS_TEST_SLOWDOWN=f (a float
 * >= 1) makes every run take f times as long, the extra (f - 1) spent
 * spinning on the calling thread after the run and counted in its kernel
 * time (1.25: 25 % slower); XPUOPS_TEST_JITTER=j adds a further spin of a
 * random 0..j times the run to each run (erratic timings); and
 * XPUOPS_TEST_PERTURB=eps scales float results by (1 + eps) and adds 1 to
 * integer ones. Read once; never set outside tests. */
static int test_env_read;
static double test_slowdown = 1.0;
static double test_jitter;
static double test_perturb;
static uint64_t jitter_state = 0x9e3779b97f4a7c15ull;

static void read_test_env(void) {
  const char *s = getenv("XPUOPS_TEST_SLOWDOWN");
  const char *j = getenv("XPUOPS_TEST_JITTER");
  const char *e = getenv("XPUOPS_TEST_PERTURB");
  double f = s ? atof(s) : 1.0;
  test_jitter = j && atof(j) > 0 ? atof(j) : 0.0;
  test_perturb = e ? atof(e) : 0.0;
  test_slowdown = f > 1.0 ? f : 1.0;
  __atomic_store_n(&test_env_read, 1, __ATOMIC_RELEASE);
}

/* A uniform draw in [0, 1) (xorshift64*; test-only, races are harmless). */
static double jitter_draw(void) {
  uint64_t x = __atomic_load_n(&jitter_state, __ATOMIC_RELAXED);
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  __atomic_store_n(&jitter_state, x, __ATOMIC_RELAXED);
  return (double)((x * 0x2545f4914f6cdd1dull) >> 11) / 9007199254740992.0;
}

/* Spin (no sleep: a slower kernel keeps its core busy) for s seconds. */
static void spin(double s) {
  double t0 = xo_now();
  while (xo_now() - t0 < s) {
  }
}

static void perturb(const xo_problem *p, const xo_args *args) {
  int64_t n = xo_problem_out_numel(p);
  for (int64_t i = 0; i < n; i++) {
    if (p->out_dtype == XO_DTYPE_S32)
      ((int32_t *)args->out)[i] += 1;
    else if (p->out_dtype == XO_DTYPE_S8) /* one LSB, wrapping */
      ((int8_t *)args->out)[i] =
          (int8_t)(uint8_t)(((uint8_t *)args->out)[i] + 1);
    else if (p->out_dtype == XO_DTYPE_F64)
      ((double *)args->out)[i] *= 1.0 + test_perturb;
    else
      ((float *)args->out)[i] *= (float)(1.0 + test_perturb);
  }
}

/* The quantized layouts beyond the default, as XO_TAKES_* would name
 * them, with what a caller can do instead. */
static const struct {
  unsigned flag;
  const char *what, *instead;
} kLayouts[] = {
    {XO_TAKES_ASYM_A, "inputs with zero points (asymmetric)",
     "quantize them symmetrically"},
    {XO_TAKES_ASYM_B, "weights with zero points (asymmetric)",
     "quantize them symmetrically"},
    {XO_TAKES_GROUP, "group-wise weight scales", "quantize per output channel"},
    {XO_TAKES_S32, "raw s32 accumulators (out_dtype=int32)",
     "ask for a float result"},
};

/* Whether dev can run p, asking the backend last: the op must be in its
 * table, the precision in its device's list and the quantized layout in
 * what the entry takes (each refusal names the devices that can), then the
 * backend's own supports. */
static xo_status check_runs(xo_device_t dev, const xo_problem *p) {
  const xo_op_impl *op = xo_backend_op(dev->backend, p->op);
  const char *prec = xo_precision_name((xo_precision)p->prec);
  const char *name = xo_op_name(p->op);
  char able[256];
  if (op == NULL) {
    xo_devices_that_run(p->op, -1, 0, able, sizeof able);
    return xo_fail(XO_ERR_UNSUPPORTED,
                   "device '%s' has no %s (its backend does not implement "
                   "it); devices that run %s: %s",
                   dev->desc.name, name, name, able);
  }
  if (dev->desc.precisions[p->prec] == XO_SUPPORT_NONE) {
    xo_devices_that_run(p->op, p->prec, 0, able, sizeof able);
    return xo_fail(XO_ERR_UNSUPPORTED,
                   "device '%s' cannot run precision '%s'; devices that "
                   "run %s %s: %s",
                   dev->desc.name, prec, prec, name, able);
  }
  unsigned layout = (p->a_asym ? XO_TAKES_ASYM_A : 0) |
                    (p->b_asym ? XO_TAKES_ASYM_B : 0) |
                    (p->b_granularity == XO_Q_GROUP ? XO_TAKES_GROUP : 0) |
                    (p->out_dtype == XO_DTYPE_S32 ? XO_TAKES_S32 : 0);
  for (size_t i = 0; i < sizeof kLayouts / sizeof kLayouts[0]; i++) {
    if (!(layout & kLayouts[i].flag) || (op->takes & kLayouts[i].flag))
      continue;
    xo_devices_that_run(p->op, p->prec, kLayouts[i].flag, able, sizeof able);
    return xo_fail(
        XO_ERR_UNSUPPORTED, "device '%s' does not take %s in %s; %s, or use %s",
        dev->desc.name, kLayouts[i].what, name, kLayouts[i].instead, able);
  }
  if (op->supports == NULL) return XO_OK;
  xo_status st = op->supports(dev->index, p);
  if (st != XO_ERR_UNSUPPORTED) return st;
  /* the backend said why; the core names the devices that take p */
  char why[512];
  snprintf(why, sizeof why, "%s", xo_last_error());
  xo_devices_that_support(p, layout, able, sizeof able);
  return xo_fail(st, "%s; devices that run this %s: %s", why, name, able);
}

xo_status xo_dispatch(xo_device_t dev, const xo_problem *p, const xo_args *args,
                      xo_op_info *info) {
  if (!__atomic_load_n(&test_env_read, __ATOMIC_ACQUIRE)) read_test_env();
  xo_plan_ref *ref = NULL;
  void *plan = NULL;
  double plan_s = 0;
  int created = 0;
  xo_status st = check_runs(dev, p);
  if (st != XO_OK) return st;
  if (xo_reduction_empty(p)) {
    /* the core's result (zeros plus bias): no backend plans or runs */
    xo_fill_empty(p, args);
    if (info) {
      info->native = dev->desc.precisions[p->prec] == XO_SUPPORT_NATIVE;
      strcpy(info->timing, "wall");
      snprintf(info->impl, sizeof info->impl,
               "core:%s_%s (empty reduction: zeros plus bias, no kernel)",
               xo_op_name(p->op), xo_precision_name((xo_precision)p->prec));
    }
    return XO_OK;
  }
  st = xo_plan_acquire(dev, p, &ref, &plan, &plan_s, &created);
  if (st != XO_OK) return st;
  xo_run_stats rs = {0};
  double t0 = xo_now();
  st = xo_backend_op(dev->backend, p->op)->run(plan, args, &rs);
  double wall = xo_now() - t0;
  double slow = test_slowdown;
  if (st == XO_OK && (slow > 1.0 || test_jitter > 0)) {
    double extra = slow - 1.0 + test_jitter * jitter_draw();
    spin(extra * wall);
    wall = xo_now() - t0;
    rs.kernel_s *= 1.0 + extra; /* events or a model: scaled alike */
  }
  if (st == XO_OK && test_perturb != 0.0) perturb(p, args);
  if (info) {
    info->plan_s = plan_s + rs.compile_s;
    info->plan_created = created || rs.compile_s > 0;
    info->kernel_s = rs.kernel_s > 0 ? rs.kernel_s : wall;
    info->modeled = rs.modeled;
    /* say where the figure came from: a backend's event time of 0 (no
     * event answered) falls back to the wall clock, and says so */
    strcpy(info->timing, rs.modeled                     ? "modeled"
                         : rs.events && rs.kernel_s > 0 ? "events"
                                                        : "wall");
    info->native = dev->desc.precisions[p->prec] == XO_SUPPORT_NATIVE;
  }
  /* one lock round trip: the impl string (redescribed after a recompile)
   * is copied out while the reference is released */
  release_describing(ref, rs.compile_s > 0 ? dev : NULL,
                     info ? info->impl : NULL, info ? sizeof info->impl : 0);
  return st;
}

xo_status xo_dispatch_result(xo_device_t dev, const xo_problem *p,
                             const xo_args *args, int requant,
                             xo_op_info *info) {
  int mm_bias = p->op == XO_OP_MATMUL && args->bias != NULL;
  if (!requant) {
    xo_status st = xo_dispatch(dev, p, args, info);
    if (st == XO_OK && mm_bias) xo_add_bias_cols(p, args->bias, args->out);
    return st;
  }
  const xo_op_impl *op = xo_backend_op(dev->backend, p->op);
  if (op && (op->takes & XO_TAKES_REQUANT) && !xo_reduction_empty(p)) {
    /* the backend writes s8 itself (npusim: a fixed-point multiplier) */
    xo_problem q = *p;
    q.requant = 1;
    q.out_dtype = XO_DTYPE_S8;
    return xo_dispatch(dev, &q, args, info);
  }
  /* the core's rule on the backend's float result, bias included */
  int64_t n = xo_problem_out_numel(p);
  float *y = NULL;
  xo_status st = xo_alloc(n, sizeof(float), (void **)&y);
  if (st != XO_OK) return st;
  xo_args a2 = *args;
  a2.out = y;
  st = xo_dispatch(dev, p, &a2, info);
  if (st == XO_OK && mm_bias) xo_add_bias_cols(p, args->bias, y);
  if (st == XO_OK)
    xo_requant_s8(y, n, args->out_scale, args->out_zero_point, args->out);
  free(y);
  return st;
}
