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

#include "internal.h"

enum { CAPACITY = 128 };

struct xo_plan_ref {
  uint64_t hash;
  xo_device_t dev;
  xo_problem key;
  void *plan;
  int refs;
  int cached; /* 0 once evicted: freed by the last release */
  uint64_t last_use;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static xo_plan_ref *table[CAPACITY];
static uint64_t clock_tick;
static xo_cache_stats stats = {.capacity = CAPACITY};

static uint64_t hash_key(xo_device_t dev, const xo_problem *p) {
  /* FNV-1a over the device pointer and the zero-padded problem bytes */
  uint64_t h = 1469598103934665603ull;
  const unsigned char *b = (const unsigned char *)p;
  for (size_t i = 0; i < sizeof *p; i++) h = (h ^ b[i]) * 1099511628211ull;
  return (h ^ (uint64_t)(uintptr_t)dev) * 1099511628211ull;
}

static void ref_destroy(xo_plan_ref *r) {
  r->dev->backend->plan_free(r->plan);
  free(r);
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
  r = find_locked(h, dev, p);
  if (r) {
    r->refs++;
    r->last_use = ++clock_tick;
    stats.hits++;
  }
  pthread_mutex_unlock(&lock);
  if (r) goto done;

  r = calloc(1, sizeof *r);
  if (r == NULL) return xo_fail(XO_ERR_NO_MEMORY, "cannot allocate a plan");
  r->hash = h;
  r->dev = dev;
  r->key = *p;
  r->refs = 1;
  double t0 = xo_now();
  xo_status st = dev->backend->plan(dev->index, p, &r->plan);
  *plan_s = xo_now() - t0;
  if (st != XO_OK) {
    free(r);
    return st;
  }
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
  if (r == NULL) return;
  pthread_mutex_lock(&lock);
  int dead = --r->refs == 0 && !r->cached;
  pthread_mutex_unlock(&lock);
  if (dead) ref_destroy(r);
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
  int64_t n = p->op == XO_OP_MATMUL   ? p->batch * p->m * p->n
              : p->op == XO_OP_CONV2D ? p->in_n * p->out_c * p->out_h * p->out_w
                                      : p->b * p->h * p->lq * p->d;
  for (int64_t i = 0; i < n; i++) {
    if (p->out_dtype == XO_DTYPE_S32)
      ((int32_t *)args->out)[i] += 1;
    else if (p->out_dtype == XO_DTYPE_F64)
      ((double *)args->out)[i] *= 1.0 + test_perturb;
    else
      ((float *)args->out)[i] *= (float)(1.0 + test_perturb);
  }
}

xo_status xo_dispatch(xo_device_t dev, const xo_problem *p, const xo_args *args,
                      xo_op_info *info) {
  if (!__atomic_load_n(&test_env_read, __ATOMIC_ACQUIRE)) read_test_env();
  xo_plan_ref *ref = NULL;
  void *plan = NULL;
  double plan_s = 0;
  int created = 0;
  xo_status st = dev->backend->supports(dev->index, p);
  if (st != XO_OK) return st;
  st = xo_plan_acquire(dev, p, &ref, &plan, &plan_s, &created);
  if (st != XO_OK) return st;
  xo_run_stats rs = {0};
  double t0 = xo_now();
  st = dev->backend->run(plan, args, &rs);
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
    snprintf(info->timing, sizeof info->timing, "%s",
             rs.modeled                     ? "modeled"
             : rs.events && rs.kernel_s > 0 ? "events"
                                            : "wall");
    info->native = dev->desc.precisions[p->prec] == XO_SUPPORT_NATIVE;
    if (dev->backend->plan_describe)
      dev->backend->plan_describe(plan, info->impl, sizeof info->impl);
    else
      strncpy(info->impl, dev->desc.name, sizeof info->impl - 1);
  }
  xo_plan_release(ref);
  return st;
}
