/* tune.c - the OpenCL GEMM tuner: which kernel variant and parameters run
 * a GEMM on this device (DESIGN.md, "OpenCL tuner").
 *
 * Precedence: XPUOPS_OPENCL_TUNE; parameters tuned in this process; the
 * device's cache file; a search now (XPUOPS_OPENCL_AUTOTUNE, default on,
 * for XPUOPS_OPENCL_TUNE_BUDGET seconds, default 10); the fixed table.
 * The search runs while a plan is made, never while one runs, so it is
 * never inside a measured call. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "generated/cl_sources.h"
#include "opencl.h"

/* ---- parameters ------------------------------------------------------- */

int cl_tuning_fits(const cl_dev *d, const cl_tuning *t) {
  if (t->direct) {
    static const int ok_vw[] = {1, 2, 4, 8, 16};
    int vw_ok = 0;
    for (int i = 0; i < 5; i++) vw_ok |= t->vw == ok_vw[i];
    /* each bounded first: the values come from a file or the environment,
     * and their products must not overflow */
    return vw_ok && t->mw >= 1 && t->mw <= 16 && t->lx >= 1 && t->lx <= 1024 &&
           t->ly >= 1 && t->ly <= 1024 &&
           (size_t)t->lx * (size_t)t->ly <= d->max_group;
  }
  return t->ts > 0 && t->ts <= 1024 && t->wpt > 0 && t->ts % t->wpt == 0 &&
         (size_t)t->ts * (size_t)t->ts / (size_t)t->wpt <= d->max_group &&
         (cl_ulong)2 * (cl_ulong)t->ts * (cl_ulong)t->ts * 4 <= d->local_mem;
}

/* "TS=32,WPT=4" (tiled) or "MW=4,VW=8,LX=8,LY=4" (direct); 1 if parsed */
static int parse_params(const char *s, cl_tuning *t) {
  int a, b, c, e, n = 0;
  if (sscanf(s, "TS=%d,WPT=%d%n", &a, &b, &n) == 2 && s[n] == '\0') {
    t->direct = 0;
    t->ts = a;
    t->wpt = b;
    return 1;
  }
  if (sscanf(s, "MW=%d,VW=%d,LX=%d,LY=%d%n", &a, &b, &c, &e, &n) == 4 &&
      s[n] == '\0') {
    t->direct = 1;
    t->mw = a;
    t->vw = b;
    t->lx = c;
    t->ly = e;
    return 1;
  }
  return 0;
}

static void format_params(const cl_tuning *t, char *buf, size_t n) {
  if (t->direct)
    snprintf(buf, n, "MW=%d,VW=%d,LX=%d,LY=%d", t->mw, t->vw, t->lx, t->ly);
  else
    snprintf(buf, n, "TS=%d,WPT=%d", t->ts, t->wpt);
}

void cl_tuning_name(const cl_tuning *t, char *buf, size_t n) {
  if (t->direct)
    snprintf(buf, n, "xo_gemm_blk MW=%d VW=%d LX=%d LY=%d%s", t->mw, t->vw,
             t->lx, t->ly,
             t->dot4 == 2 ? " DOT4 (software dot)"
             : t->dot4    ? " DOT4"
                          : "");
  else
    snprintf(buf, n, "xo_gemm TS=%d WPT=%d", t->ts, t->wpt);
}

void cl_gemm_options(const cl_tuning *t, char *buf, size_t n) {
  if (t->direct)
    /* gemm.cl's tiled kernel is built alongside: the smallest tile */
    snprintf(buf, n, "-DTS=1 -DWPT=1 -DMW=%d -DVW=%d -DLX=%d -DLY=%d%s", t->mw,
             t->vw, t->lx, t->ly,
             t->dot4 == 2 ? " -DDOT4 -DXO_DOT_SOFT"
             : t->dot4    ? " -DDOT4"
                          : "");
  else
    snprintf(buf, n, "-DTS=%d -DWPT=%d", t->ts, t->wpt);
}

static size_t round_up(int64_t v, size_t to) {
  return (size_t)((v + (int64_t)to - 1) / (int64_t)to) * to;
}

void cl_gemm_ranges(const cl_tuning *t, int M, int N, int batch, size_t g[3],
                    size_t l[3]) {
  if (t->direct) {
    g[0] = round_up((N + t->vw - 1) / t->vw, (size_t)t->lx);
    g[1] = round_up((M + t->mw - 1) / t->mw, (size_t)t->ly);
    l[0] = (size_t)t->lx;
    l[1] = (size_t)t->ly;
  } else {
    size_t ts = (size_t)t->ts, rts = ts / (size_t)t->wpt;
    g[0] = round_up(N, ts);
    g[1] = round_up(M, ts) / ts * rts;
    l[0] = ts;
    l[1] = rts;
  }
  g[2] = (size_t)batch;
  l[2] = 1;
}

/* ---- which class a problem tunes for ---------------------------------- */

int cl_dot4_mode(const cl_dev *d) {
  const char *env = getenv("XPUOPS_OPENCL_DOT4");
  if (env && strcmp(env, "0") == 0) return 0;
  if (env && strcmp(env, "soft") == 0) return 2;
  return d->dot4 ? 1 : 0;
}

/* integer dot products for these operand formats: cl_dot4_mode where the
 * formats are 8-bit (int4 widened to s8), else 0 */
static int dot4_for(const cl_dev *d, const char *a_fmt, const char *b_fmt) {
  int able = (strcmp(a_fmt, "S8") == 0 || strcmp(a_fmt, "U8") == 0) &&
             (strcmp(b_fmt, "S8") == 0 || strcmp(b_fmt, "S4") == 0);
  return able ? cl_dot4_mode(d) : 0;
}

/* "float-large", "int-skinny", "int-dot4-large"...: parameters are tuned
 * per accumulator type, dot path and shape class */
static void class_key(int integer, int dot4, int M, int N, char *key,
                      size_t n) {
  snprintf(key, n, "%s-%s", integer ? (dot4 ? "int-dot4" : "int") : "float",
           (M < 16 || N < 16) ? "skinny" : "large");
}

/* ---- the cache: in this process, and on disk per device ---------------- */

enum { MAX_TUNED = 32 };
typedef struct tuned_entry {
  int dev;
  char key[32];
  cl_tuning t;
  double gops, search_s;
  long long found;  /* unix time */
  int now;          /* tuned in this process */
  int sets, failed; /* parameter sets timed, and those that did not build */
} tuned_entry;

static pthread_mutex_t tune_lock = PTHREAD_MUTEX_INITIALIZER;
static tuned_entry tuned[MAX_TUNED];
static int ntuned;
static int loaded[64]; /* the cache file of device i was read */

static tuned_entry *find_tuned(int dev, const char *key) {
  for (int i = 0; i < ntuned; i++)
    if (tuned[i].dev == dev && strcmp(tuned[i].key, key) == 0) return &tuned[i];
  return NULL;
}

static tuned_entry *add_tuned(int dev, const char *key) {
  tuned_entry *e = find_tuned(dev, key);
  if (e == NULL && ntuned < MAX_TUNED) {
    e = &tuned[ntuned++];
    memset(e, 0, sizeof *e);
    e->dev = dev;
    snprintf(e->key, sizeof e->key, "%s", key);
  }
  return e;
}

static uint64_t fnv(uint64_t h, const char *s) {
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

/* what identifies the device: vendor, name, driver version, compute units */
static void device_key(const cl_dev *d, char *buf, size_t n) {
  snprintf(buf, n, "%s|%s|%s|%u", d->vendor, d->name, d->driver, d->units);
}

/* the kernels the parameters were found for: a change makes them stale */
static uint64_t kernels_hash(void) {
  return fnv(fnv(fnv(14695981039346656037ull, xo_cl_common), xo_cl_gemm),
             xo_cl_gemm_blk);
}

int cl_tune_cache_path(const cl_dev *d, char *buf, size_t n) {
  const char *dir = getenv("XPUOPS_CACHE_DIR");
  const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  char key[700], base[600];
  if (dir && *dir)
    snprintf(base, sizeof base, "%s", dir);
  else if (xdg && *xdg)
    snprintf(base, sizeof base, "%s/xpuops", xdg);
  else if (home && *home)
    snprintf(base, sizeof base, "%s/.cache/xpuops", home);
  else
    return 0;
  device_key(d, key, sizeof key);
  snprintf(buf, n, "%s/opencl-tuning-%016llx.txt", base,
           (unsigned long long)fnv(14695981039346656037ull, key));
  return 1;
}

static const char kMagic[] = "xpuops-opencl-tuning 1";

static void warn_cache(const char *path, const char *why) {
  fprintf(stderr,
          "xpuops: warning: ignoring the OpenCL tuning cache %s: %s (the "
          "next tuning rewrites it)\n",
          path, why);
}

/* Read device index's cache file into the table (under tune_lock), once
 * per cache path: a new XPUOPS_CACHE_DIR drops what came from the old one.
 * A file that is unreadable, of another format, another device or other
 * kernels is ignored as a whole, with a warning. */
static char loaded_path[64][700];

static void load_cache(const cl_dev *d, int index) {
  char path[700] = "", line[512], key[700], want[700];
  if (index < 0 || index >= 64) return;
  cl_tune_cache_path(d, path, sizeof path);
  if (loaded[index] && strcmp(path, loaded_path[index]) == 0) return;
  int keep = 0;
  for (int i = 0; i < ntuned; i++)
    if (tuned[i].dev != index) tuned[keep++] = tuned[i];
  ntuned = keep;
  loaded[index] = 1;
  snprintf(loaded_path[index], sizeof loaded_path[index], "%s", path);
  if (!path[0]) return;
  FILE *f = fopen(path, "r");
  if (f == NULL) return; /* none yet */
  device_key(d, want, sizeof want);
  tuned_entry got[MAX_TUNED];
  int n = 0;
  const char *bad = NULL;
  unsigned long long kh = 0;
  if (!fgets(line, sizeof line, f) || strncmp(line, kMagic, strlen(kMagic)))
    bad = "not an xpuops tuning cache of this version";
  else if (!fgets(line, sizeof line, f) || strncmp(line, "device ", 7) ||
           (line[strcspn(line, "\n")] = '\0',
            snprintf(key, sizeof key, "%s", line + 7), strcmp(key, want)))
    bad = "made for another device or driver version (stale)";
  else if (!fgets(line, sizeof line, f) ||
           sscanf(line, "kernels %llx", &kh) != 1 || kh != kernels_hash())
    bad = "made for other kernels (stale)";
  while (!bad && fgets(line, sizeof line, f)) {
    tuned_entry e = {0};
    char k[32], params[96];
    if (sscanf(line, "entry %31s %95s gops=%lf found=%lld search_s=%lf", k,
               params, &e.gops, &e.found, &e.search_s) != 5 ||
        !parse_params(params, &e.t) || !cl_tuning_fits(d, &e.t) ||
        (strstr(k, "dot4") && !strstr(k, "int-dot4")))
      bad = "a line is corrupt";
    else if (n < MAX_TUNED) {
      e.t.dot4 = strstr(k, "dot4") != NULL;
      snprintf(e.key, sizeof e.key, "%s", k);
      got[n++] = e;
    }
  }
  fclose(f);
  if (bad) {
    warn_cache(path, bad);
    return;
  }
  for (int i = 0; i < n; i++) {
    tuned_entry *e = add_tuned(index, got[i].key);
    if (e == NULL) break;
    *e = got[i];
    e->dev = index;
  }
}

static int mkdirs(const char *path) {
  char p[700];
  snprintf(p, sizeof p, "%s", path);
  for (char *s = p + 1; *s; s++)
    if (*s == '/') {
      *s = '\0';
      if (mkdir(p, 0755) != 0 && errno != EEXIST) return 0;
      *s = '/';
    }
  return 1;
}

/* Write every entry of device index (under tune_lock): to a temporary
 * file renamed over the cache, so a reader never sees half a file. */
static void save_cache(const cl_dev *d, int index) {
  char path[700], tmp[720], key[700], params[96];
  if (!cl_tune_cache_path(d, path, sizeof path) || !mkdirs(path)) return;
  snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
  FILE *f = fopen(tmp, "w");
  if (f == NULL) return;
  device_key(d, key, sizeof key);
  fprintf(f, "%s\ndevice %s\nkernels %016llx\n", kMagic, key,
          (unsigned long long)kernels_hash());
  for (int i = 0; i < ntuned; i++) {
    const tuned_entry *e = &tuned[i];
    if (e->dev != index) continue;
    format_params(&e->t, params, sizeof params);
    fprintf(f, "entry %s %s gops=%.3f found=%lld search_s=%.3f\n", e->key,
            params, e->gops, e->found, e->search_s);
  }
  if (fclose(f) != 0 || rename(tmp, path) != 0) remove(tmp);
}

/* ---- the search ------------------------------------------------------- */

typedef struct bench {
  cl_dev *d;
  int M, N, K, integer;
  const char *a_fmt, *b_fmt;
  size_t ea, eb; /* bytes per element (0: int4 nibbles) */
  cl_mem A, B, C, S;
  void *want; /* the first candidate's result: every other must match */
  void *got;
  size_t c_bytes;
  double deadline;
  int tried, built_failed;
} bench;

static size_t fmt_bytes(const char *f) {
  if (strcmp(f, "F32") == 0) return 4;
  if (strcmp(f, "BF16") == 0 || strcmp(f, "F16") == 0) return 2;
  if (strcmp(f, "S4") == 0) return 0;
  return 1;
}

/* operands of format f whose every value is finite and normal */
static void *fill(const char *f, int64_t n, size_t *bytes) {
  size_t es = fmt_bytes(f), nb = es ? (size_t)n * es : (size_t)(n + 1) / 2;
  unsigned char *p = malloc(nb ? nb : 1);
  if (p == NULL) return NULL;
  for (size_t i = 0; i < nb; i++) p[i] = (unsigned char)((i * 37 + 11) % 23);
  if (strcmp(f, "F32") == 0)
    for (int64_t i = 0; i < n; i++) ((float *)p)[i] = (float)(i % 13 - 6) / 8;
  else if (strcmp(f, "BF16") == 0 || strcmp(f, "F16") == 0)
    for (int64_t i = 0; i < n; i++) /* 1.0, 1.25... in either format */
      ((uint16_t *)p)[i] = (uint16_t)((f[0] == 'B' ? 0x3F80 : 0x3C00) + i % 7);
  else if (strcmp(f, "F8") == 0)
    for (int64_t i = 0; i < n; i++) p[i] = (unsigned char)(0x30 + i % 15);
  *bytes = nb;
  return p;
}

/* The kernel time of t on the bench problem (seconds, the best of a few
 * runs), or a negative value when t does not build, run or agree. */
static double time_one(bench *b, const cl_tuning *t) {
  char opts[400], flags[64];
  cl_kernel k = NULL;
  snprintf(flags, sizeof flags, "-DA_%s -DB_%s%s", b->a_fmt, b->b_fmt,
           b->integer ? " -DOUT_S32" : "");
  cl_gemm_options(t, opts, sizeof opts);
  strncat(opts, b->integer ? " -DACC=int " : " -DACC=float ",
          sizeof opts - strlen(opts) - 1);
  strncat(opts, flags, sizeof opts - strlen(opts) - 1);
  b->tried++;
  if (cl_kernel_get(b->d, t->direct ? "gemm_blk" : "gemm", opts,
                    t->direct ? "xo_gemm_blk" : "xo_gemm", &k) != XO_OK) {
    b->built_failed++; /* a set this device cannot build: skipped */
    return -1;
  }
  int M = b->M, N = b->N, K = b->K, k0 = 0, za = 0, sb_off = 0, row_off = 0;
  long zero = 0;
  const void *args[19] = {&M,    &N,    &K,      &k0,      &K,    &b->A, &zero,
                          &zero, &b->B, &zero,   &zero,    &b->C, &zero, &za,
                          &b->S, &b->S, &sb_off, &row_off, &b->S};
  static const size_t sizes[19] = {4, 4, 4, 4, 4, 8, 8, 8, 8, 8,
                                   8, 8, 8, 4, 8, 8, 4, 4, 8};
  double best = -1, spent = 0;
  for (cl_uint i = 0; i < 19; i++)
    if (CL.SetKernelArg(k, i, sizes[i], args[i]) != CL_SUCCESS) goto out;
  size_t g[3], l[3];
  cl_gemm_ranges(t, M, N, 1, g, l);
  for (int run = 0; run < 8; run++) {
    cl_event ev = NULL;
    cl_ulong t0 = 0, t1 = 0;
    if (CL.EnqueueNDRangeKernel(b->d->queue, k, 3, NULL, g, l, 0, NULL, &ev) !=
        CL_SUCCESS)
      goto out;
    CL.Finish(b->d->queue);
    CL.GetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof t0, &t0,
                             NULL);
    CL.GetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1,
                             NULL);
    CL.ReleaseEvent(ev);
    double s = t1 > t0 ? (double)(t1 - t0) * 1e-9 : 1e-9;
    spent += s;
    if (run == 0) { /* the first run checks the result */
      void *dst = b->want ? b->got : NULL;
      if (dst == NULL) dst = b->want = malloc(b->c_bytes);
      if (dst == NULL ||
          CL.EnqueueReadBuffer(b->d->queue, b->C, CL_TRUE, 0, b->c_bytes, dst,
                               0, NULL, NULL) != CL_SUCCESS)
        goto out;
      if (dst == b->got && memcmp(b->want, b->got, b->c_bytes) != 0) goto out;
      continue; /* and warms up */
    }
    if (best < 0 || s < best) best = s;
    /* enough runs for a minimum, or a slow set that cannot win */
    if (run >= 2 && (spent > 0.2 || xo_now() > b->deadline)) break;
  }
out:
  CL.ReleaseKernel(k);
  return best;
}

typedef struct cand {
  cl_tuning t;
  double s; /* kernel seconds, < 0: failed */
} cand;

static int same(const cl_tuning *a, const cl_tuning *b) {
  return a->direct == b->direct &&
         (a->direct ? a->mw == b->mw && a->vw == b->vw && a->lx == b->lx &&
                          a->ly == b->ly
                    : a->ts == b->ts && a->wpt == b->wpt);
}

enum { MAX_CANDS = 96 };

/* Time t unless it was tried or does not fit; 1 if it is the new best. */
static int try(bench *b, cand *c, int *nc, cand **best, cl_tuning t) {
  if (!cl_tuning_fits(b->d, &t) || *nc >= MAX_CANDS || xo_now() > b->deadline)
    return 0;
  for (int i = 0; i < *nc; i++)
    if (same(&c[i].t, &t)) return 0;
  cand *x = &c[(*nc)++];
  x->t = t;
  x->s = time_one(b, &t);
  if (x->s > 0 && (*best == NULL || x->s < (*best)->s)) {
    *best = x;
    return 1;
  }
  return 0;
}

/* The neighbours of t: each parameter halved and doubled, one at a time. */
static int neighbours(const cl_tuning *t, cl_tuning *out) {
  int n = 0;
  for (int p = 0; p < (t->direct ? 4 : 2); p++)
    for (int f = 0; f < 2; f++) {
      cl_tuning x = *t;
      int *v = t->direct ? (p == 0   ? &x.mw
                            : p == 1 ? &x.vw
                            : p == 2 ? &x.lx
                                     : &x.ly)
                         : (p == 0 ? &x.ts : &x.wpt);
      *v = f ? *v * 2 : *v / 2;
      if (*v >= 1) out[n++] = x;
    }
  return n;
}

/* Search from the seeds by coordinate descent until no neighbour of the
 * best is faster or the deadline passes. */
static cl_tuning search(bench *b, const cl_tuning *seeds, int nseeds,
                        double *gops) {
  cand c[MAX_CANDS];
  int nc = 0;
  cand *best = NULL;
  for (int i = 0; i < nseeds; i++) try(b, c, &nc, &best, seeds[i]);
  for (int improved = 1; improved && best;) {
    cl_tuning nb[8], from = best->t;
    int n = neighbours(&from, nb);
    improved = 0;
    for (int i = 0; i < n; i++) improved |= try(b, c, &nc, &best, nb[i]);
  }
  if (best == NULL) {
    *gops = 0;
    return seeds[0];
  }
  *gops = 2.0 * b->M * b->N * b->K / best->s * 1e-9;
  return best->t;
}

static xo_status tune_now(cl_dev *d, const cl_tuning *table, int dot4, int M,
                          int N, int K, int integer, const char *a_fmt,
                          const char *b_fmt, double budget, tuned_entry *e) {
  bench b = {.d = d, .integer = integer, .a_fmt = a_fmt, .b_fmt = b_fmt};
  /* the class's shape: 512^3, or 2048 x 2048 by the problem's own small
   * side (a GEMV's 1...): milliseconds per set on a CPU */
  (void)K;
  int skinny = M < 16 || N < 16;
  b.M = skinny ? (M < 16 ? M : 2048) : 512;
  b.N = skinny ? (N < 16 ? N : 2048) : 512;
  b.K = skinny ? 2048 : 512;
  size_t na = 0, nb = 0;
  void *ha = fill(a_fmt, (int64_t)b.M * b.K, &na),
       *hb = fill(b_fmt, (int64_t)b.K * b.N, &nb);
  float one = 1;
  b.c_bytes = (size_t)b.M * b.N * 4;
  b.got = malloc(b.c_bytes);
  xo_status st = ha && hb && b.got ? XO_OK
                                   : xo_fail(XO_ERR_NO_MEMORY,
                                             "opencl: no "
                                             "memory");
  if (st == XO_OK) st = cl_context_ready(d);
  if (st == XO_OK) st = cl_buffer(d, ha, na, &b.A);
  if (st == XO_OK) st = cl_buffer(d, hb, nb, &b.B);
  if (st == XO_OK) st = cl_alloc(d, b.c_bytes, &b.C);
  if (st == XO_OK) st = cl_buffer(d, &one, sizeof one, &b.S);
  free(ha);
  free(hb);
  double t0 = xo_now();
  b.deadline = t0 + budget;
  if (st == XO_OK) {
    /* seeds: the table's entry first (the reference result), then a
     * direct block as wide as the device's vectors */
    cl_tuning seeds[4];
    int ns = 0, vw = d->vector_float >= 16 ? 16 : d->vector_float >= 8 ? 8 : 4;
    seeds[ns] = *table;
    seeds[ns++].dot4 = 0;
    seeds[ns++] = (cl_tuning){.direct = 1,
                              .mw = skinny ? 1 : 4,
                              .vw = vw,
                              .lx = d->is_gpu ? 16 : 8,
                              .ly = d->is_gpu ? 16 : (skinny ? 1 : 4)};
    seeds[ns++] = (cl_tuning){.direct = 1,
                              .mw = skinny ? 1 : 8,
                              .vw = vw / 2,
                              .lx = 8,
                              .ly = skinny ? 1 : 8};
    for (int i = 0; i < ns; i++) seeds[i].dot4 = seeds[i].direct ? dot4 : 0;
    double gops = 0;
    cl_tuning t = search(&b, seeds, ns, &gops);
    if (gops <= 0)
      st = xo_fail(XO_ERR_RUNTIME,
                   "opencl: the tuner found no parameter set that builds and "
                   "runs on %s",
                   d->name);
    e->t = t;
    e->gops = gops;
  }
  e->search_s = xo_now() - t0;
  e->found = (long long)time(NULL);
  e->now = 1;
  e->sets = b.tried;
  e->failed = b.built_failed;
  if (b.A) CL.ReleaseMemObject(b.A);
  if (b.B) CL.ReleaseMemObject(b.B);
  if (b.C) CL.ReleaseMemObject(b.C);
  if (b.S) CL.ReleaseMemObject(b.S);
  free(b.want);
  free(b.got);
  return st;
}

/* ---- the entry point --------------------------------------------------- */

static double env_double(const char *name, double dflt) {
  const char *s = getenv(name);
  char *end = NULL;
  double v = s ? strtod(s, &end) : dflt;
  return s && end != s && v >= 0 ? v : dflt;
}

cl_tuning cl_tune_gemm(cl_dev *d, int index, int integer, int M, int N, int K,
                       const char *a_fmt, const char *b_fmt) {
  cl_tuning t = cl_table_gemm(d);
  int dot4 = integer ? dot4_for(d, a_fmt, b_fmt) : 0;
  const char *env = getenv("XPUOPS_OPENCL_TUNE");
  cl_tuning over = t;
  if (env && parse_params(env, &over) && cl_tuning_fits(d, &over)) {
    over.dot4 = over.direct ? dot4 : 0;
    snprintf(over.from, sizeof over.from, "XPUOPS_OPENCL_TUNE");
    return over;
  }
  char key[32];
  class_key(integer, dot4, M, N, key, sizeof key);
  const char *retune = getenv("XPUOPS_OPENCL_RETUNE");
  const char *autotune = getenv("XPUOPS_OPENCL_AUTOTUNE");
  pthread_mutex_lock(&tune_lock); /* one search at a time */
  load_cache(d, index);
  tuned_entry *e = find_tuned(index, key);
  if (e && !(retune && strcmp(retune, "1") == 0)) {
    t = e->t;
    if (e->now)
      snprintf(t.from, sizeof t.from,
               "tuned now (%s: %d sets, %d did not build, in %.1f s)", key,
               e->sets, e->failed, e->search_s);
    else {
      char when[32] = "?";
      time_t tt = (time_t)e->found;
      struct tm tm;
      if (gmtime_r(&tt, &tm)) strftime(when, sizeof when, "%Y-%m-%d", &tm);
      snprintf(t.from, sizeof t.from, "tuned cache (%s, found %s)", key, when);
    }
  } else if (!(autotune && strcmp(autotune, "0") == 0)) {
    tuned_entry found = {0};
    double budget = env_double("XPUOPS_OPENCL_TUNE_BUDGET", 10.0);
    xo_status st =
        tune_now(d, &t, dot4, M, N, K, integer, a_fmt, b_fmt, budget, &found);
    if (st == XO_OK && (e = add_tuned(index, key)) != NULL) {
      snprintf(found.key, sizeof found.key, "%s", key);
      found.dev = index;
      *e = found;
      save_cache(d, index);
      t = e->t;
      snprintf(t.from, sizeof t.from,
               "tuned now (%s: %d sets, %d did not build, in %.1f s)", key,
               e->sets, e->failed, e->search_s);
    }
  }
  pthread_mutex_unlock(&tune_lock);
  if (!t.direct) t.dot4 = 0;
  return t;
}
