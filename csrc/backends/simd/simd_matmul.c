/* simd_matmul.c - the simd backend's matmul: fp32, bf16, int8 (W8A8) and
 * int4 (W4A8, group-wise), built for decode and skinny shapes (M <= 32):
 * threads split the output columns into 64-column panels and stream each
 * panel's weights once, while every row of the (small) activation matrix
 * reuses them from registers. Larger M loops over row blocks (correct, not
 * tuned: the libraries stay the choice for large GEMMs).
 *
 * Integers: vpdpbusd multiplies u8 by s8, so each operand is stored in a
 * form that fits (int8: activations as the core hands them when they have
 * zero points (u8), else + 128 as u8, weights s8 as handed; int4: the s4
 * weights + 8 as unsigned nibbles, activations s8, or u8 - 128), and the
 * true accumulator follows from the identity
 *   sum (x - ca)(y - cw) = sum x y - ca sum y - cw sum x + L ca cw
 * where x, y are the stored forms, ca, cw the offsets plus zero points and
 * L the real length of the sum. The column sums of y are computed once
 * with the repacked weights; the row sums of x per call. All of it wraps
 * modulo 2^32, and the true value fits s32 (the core checks K), so the
 * result is bit-identical to ref's. Float results then follow
 * xo_dequant_rows exactly: f32(acc) * (sa * sb), group sums in order. */
/* x86-64 only: elsewhere the backend says so at init (simd.c) */
#if defined(__x86_64__)
#include "simd_matmul.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
  NC = XO_SIMD_NC,
  MC = 64,     /* rows per block: the accumulator tiles of one panel */
  KC_INT = 64, /* k-steps per chunk: 16 KiB of a panel, reused per row tile */
  KC_F = 256,  /* k rows per chunk for float weights */
  CW = 2048,   /* columns per sweep of the skinny float path: 8 KiB a row */
};

/* ---- the plan ------------------------------------------------------------ */

typedef struct mm_state {
  const xo_simd_mm_kernels *k;
  int mr;
  int rows; /* float with at most 4 rows: the row-streaming kernel */
  /* integers: the packed weights' geometry */
  int64_t kstep;       /* k per step: 4 (int8) or 8 (int4) */
  int64_t gs, ngroups; /* group length (K when not group-wise), count */
  int64_t gp;          /* gs rounded up to whole steps */
  int64_t kp;          /* ngroups * gp: padded K of the activations */
  int has_cs, has_cw;  /* what a group's tail holds (simd_matmul.h) */
  int64_t gbytes;      /* a group's steps and tail */
  int64_t npanels, panel_bytes;
} mm_state;

static const xo_simd_mm_kernels *pick(xo_precision prec, xo_simd_isa *isa) {
  if (xo_precision_is_integer(prec) && xo_simd_has(XO_SIMD_AVX512_CORE_VNNI)) {
    *isa = XO_SIMD_AVX512_CORE_VNNI;
    return &xo_simd_mm_avx512_vnni;
  }
  if (prec == XO_PREC_BF16 && xo_simd_has(XO_SIMD_AVX512_CORE_BF16)) {
    *isa = XO_SIMD_AVX512_CORE_BF16;
    return &xo_simd_mm_avx512_bf16;
  }
  if (xo_simd_has(XO_SIMD_AVX512_CORE)) {
    *isa = XO_SIMD_AVX512_CORE;
    return &xo_simd_mm_avx512;
  }
  *isa = XO_SIMD_AVX2;
  return &xo_simd_mm_avx2;
}

xo_status xo_simd_matmul_plan(void *plan) {
  xo_simd_plan *sp = plan;
  const xo_problem *p = &sp->h.p;
  xo_precision prec = (xo_precision)p->prec;
  mm_state *s = calloc(1, sizeof *s);
  if (s == NULL) return xo_fail(XO_ERR_NO_MEMORY, "simd: no memory");
  sp->state = s;
  sp->release = free;
  s->k = pick(prec, &sp->isa);
  s->mr = s->k->mr_max;
  const char *what;
  if (xo_precision_is_integer(prec)) {
    s->kstep = prec == XO_PREC_INT4 ? 8 : 4;
    s->gs = p->b_granularity == XO_Q_GROUP ? p->group_size : p->mm.k;
    s->ngroups = s->gs > 0 ? p->mm.k / s->gs : 0;
    s->gp = (s->gs + s->kstep - 1) / s->kstep * s->kstep;
    s->kp = s->ngroups * s->gp;
    s->npanels = (p->mm.n + NC - 1) / NC;
    /* column sums unless the activations' offset is 0 (int4 activations
     * without zero points); cw per column when the weights have zero
     * points, else the constant of the stored form */
    s->has_cs = prec != XO_PREC_INT4 || p->a_asym;
    s->has_cw = p->b_asym;
    s->gbytes =
        s->gp / s->kstep * NC * 4 + xo_simd_tail_bytes(s->has_cs, s->has_cw);
    s->panel_bytes = s->ngroups * s->gbytes;
    what = s->k->int_native ? "vpdpbusd" : "vpdpbusd emulated by vpmaddwd";
  } else {
    int64_t m = p->mm.batch_b == 1 ? p->mm.batch_a * p->mm.m : p->mm.m;
    s->rows = m <= 4;
    if (prec == XO_PREC_BF16)
      what = s->k->bf16_native && !s->rows ? "vdpbf16ps"
                                           : "bf16 widened to f32, FMA";
    else
      what = "FMA";
  }
  const char *note = "";
  if (sp->isa < xo_simd_top() && xo_simd_top() == XO_SIMD_AVX2_VNNI)
    note = "; no AVX-VNNI kernel yet";
  int64_t m = p->mm.batch_b == 1 ? p->mm.batch_a * p->mm.m : p->mm.m;
  if (s->rows)
    snprintf(sp->how, sizeof sp->how, "%s %s, rows streamed%s", s->k->name,
             what, note);
  else if (xo_precision_is_integer(prec) && m <= s->mr)
    snprintf(sp->how, sizeof sp->how, "%s %s, whole panels streamed%s",
             s->k->name, what, note);
  else
    snprintf(sp->how, sizeof sp->how, "%s %s, %dx64 tiles%s", s->k->name, what,
             prec == XO_PREC_INT8 ? s->k->mr_i8 : s->mr, note);
  return XO_OK;
}

/* ---- repacked weights, cached per QTensor token ------------------------- */

/* The integer weights in panels, tails included (simd_matmul.h). */
typedef struct wprep {
  uint64_t token;
  xo_problem key; /* the fields that shape the layout; the rest zero */
  uint8_t *panels;
  size_t bytes;
  int refs;
  int cached; /* 0: private to one call, freed on release */
  uint64_t stamp;
  struct wprep *next;
} wprep;

static pthread_mutex_t wc_lock = PTHREAD_MUTEX_INITIALIZER;
static wprep *wc_head;
static size_t wc_bytes, wc_limit;
static uint64_t wc_clock;

static void wprep_free(wprep *w) {
  if (w == NULL) return;
  free(w->panels);
  free(w);
}

/* What the cache may hold: XPUOPS_SIMD_WEIGHT_CACHE_MB, else a quarter of
 * the machine's memory (an immutable QTensor's repacked copy costs its
 * size again; LRU entries not in use are evicted past the limit). */
static size_t cache_limit(void) {
  const char *env = getenv("XPUOPS_SIMD_WEIGHT_CACHE_MB");
  if (env && *env) return (size_t)strtoull(env, NULL, 10) << 20;
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? (size_t)pages * (size_t)page / 4 : 1u << 30;
}

static void layout_key(const xo_problem *p, xo_problem *key) {
  memset(key, 0, sizeof *key);
  key->prec = p->prec;
  /* int4: whether the tails hold column sums */
  key->a_asym = p->prec == XO_PREC_INT4 ? p->a_asym : 0;
  key->b_asym = p->b_asym;
  key->b_granularity = p->b_granularity;
  key->group_size = p->group_size;
  key->mm.batch_b = p->mm.batch_b;
  key->mm.k = p->mm.k;
  key->mm.n = p->mm.n;
}

/* Repack one panel (batch b, panel pn): each group's steps, then its tail
 * of scales, column sums and cw (padded columns: 0). */
static void repack_panel(const xo_problem *p, const mm_state *s,
                         const xo_args *args, int64_t b, int64_t pn,
                         uint8_t *panels) {
  const void *src = args->in[1];
  const float *sb = args->scale[1];
  const int32_t *zp = args->zero_point[1];
  int64_t k = p->mm.k, n = p->mm.n;
  int64_t nsg = s->gp / s->kstep, j0 = pn * NC;
  int64_t nc = n - j0 < NC ? n - j0 : NC;
  uint8_t *dst = panels + (b * s->npanels + pn) * s->panel_bytes;
  memset(dst, 0, (size_t)s->panel_bytes);
  int int4 = p->prec == XO_PREC_INT4;
  for (int64_t g = 0; g < s->ngroups; g++) {
    uint8_t *steps = dst + g * s->gbytes;
    float *tsb = (float *)(steps + nsg * NC * 4);
    int32_t *tcs = (int32_t *)(tsb + NC);
    int32_t *tcw = tcs + (s->has_cs ? NC : 0);
    int32_t cs[NC] = {0};
    for (int64_t kk = 0; kk < s->gs; kk++) {
      int64_t row = (b * k + g * s->gs + kk) * n + j0;
      int64_t step = kk / s->kstep, i = kk % s->kstep;
      uint8_t *d = steps + step * NC * 4 + (i & 3);
      if (!int4) {
        for (int64_t c = 0; c < nc; c++) {
          int v = ((const int8_t *)src)[row + c];
          d[c * 4] = (uint8_t)(int8_t)v;
          cs[c] += v;
        }
      } else {
        const uint8_t *u = src;
        int shift = (int)(i >> 2) * 4;
        for (int64_t c = 0; c < nc; c++) {
          int64_t e = row + c;
          int nib = (u[e >> 1] >> ((e & 1) * 4)) & 0x0F;
          int v = nib ^ 8; /* s4 w as the unsigned w + 8 */
          d[c * 4] |= (uint8_t)(v << shift);
          cs[c] += v;
        }
      }
    }
    for (int64_t c = 0; c < nc; c++) {
      int64_t j = j0 + c;
      int64_t at = p->b_granularity == XO_Q_TENSOR ? 0
                   : p->b_granularity == XO_Q_AXIS ? j
                                                   : g * n + j;
      tsb[c] = sb[at];
      if (s->has_cs) tcs[c] = cs[c];
      /* the stored weights' offset (int4 nibbles: + 8) plus the zero point */
      if (s->has_cw) tcw[c] = (int4 ? 8 : 0) + (zp ? zp[at] : 0);
    }
  }
}

static xo_status wprep_build(const xo_problem *p, const mm_state *s,
                             const xo_args *args, wprep **out) {
  int64_t bb = p->mm.batch_b;
  wprep *w = calloc(1, sizeof *w);
  if (w == NULL) return xo_fail(XO_ERR_NO_MEMORY, "simd: no memory");
  xo_status st =
      xo_alloc(bb * s->npanels * s->panel_bytes, 1, (void **)&w->panels);
  if (st != XO_OK) {
    wprep_free(w);
    return st;
  }
  w->bytes = (size_t)(bb * s->npanels * s->panel_bytes);
  int64_t items = bb * s->npanels;
  int nt = xo_get_num_threads();
  (void)nt; /* without OpenMP: the calling thread alone */
#pragma omp parallel for num_threads(nt) schedule(static) if (items > 1)
  for (int64_t it = 0; it < items; it++)
    repack_panel(p, s, args, it / s->npanels, it % s->npanels, w->panels);
  *out = w;
  return XO_OK;
}

/* The repacked weights for this call: the cache's under the token, else
 * built (and cached when the token allows and the limit leaves room). */
/* The cached entry of (tok, key), taken (refs + 1, stamped), or NULL;
 * with wc_lock held. */
static wprep *wc_take(uint64_t tok, const xo_problem *key) {
  for (wprep *e = wc_head; e; e = e->next)
    if (e->token == tok && memcmp(&e->key, key, sizeof *key) == 0) {
      e->refs++;
      e->stamp = ++wc_clock;
      return e;
    }
  return NULL;
}

static xo_status weights_get(const xo_problem *p, const mm_state *s,
                             const xo_args *args, wprep **out) {
  xo_problem key;
  layout_key(p, &key);
  uint64_t tok = args->weight_token;
  if (tok) {
    pthread_mutex_lock(&wc_lock);
    *out = wc_take(tok, &key);
    pthread_mutex_unlock(&wc_lock);
    if (*out) return XO_OK;
  }
  wprep *w = NULL;
  xo_status st = wprep_build(p, s, args, &w);
  if (st != XO_OK) return st;
  w->token = tok;
  w->key = key;
  w->refs = 1;
  if (tok == 0) {
    *out = w;
    return XO_OK;
  }
  pthread_mutex_lock(&wc_lock);
  wprep *e = wc_take(tok, &key); /* another thread built it meanwhile */
  if (e) {
    *out = e;
    pthread_mutex_unlock(&wc_lock);
    wprep_free(w);
    return XO_OK;
  }
  if (wc_limit == 0) wc_limit = cache_limit();
  /* evict the least recently used entries not in use until w fits */
  while (wc_bytes + w->bytes > wc_limit) {
    wprep **victim = NULL;
    for (wprep **pe = &wc_head; *pe; pe = &(*pe)->next)
      if ((*pe)->refs == 0 && (!victim || (*pe)->stamp < (*victim)->stamp))
        victim = pe;
    if (!victim) break;
    wprep *v = *victim;
    *victim = v->next;
    wc_bytes -= v->bytes;
    wprep_free(v);
  }
  if (wc_bytes + w->bytes <= wc_limit) {
    w->cached = 1;
    w->stamp = ++wc_clock;
    w->next = wc_head;
    wc_head = w;
    wc_bytes += w->bytes;
  }
  pthread_mutex_unlock(&wc_lock);
  *out = w;
  return XO_OK;
}

static void weights_done(wprep *w) {
  pthread_mutex_lock(&wc_lock);
  int drop = --w->refs == 0 && !w->cached;
  pthread_mutex_unlock(&wc_lock);
  if (drop) wprep_free(w);
}

void xo_simd_matmul_fini(void) {
  pthread_mutex_lock(&wc_lock);
  wprep *e = wc_head;
  wc_head = NULL;
  wc_bytes = 0;
  pthread_mutex_unlock(&wc_lock);
  while (e) {
    wprep *next = e->next;
    wprep_free(e);
    e = next;
  }
}

/* ---- the integer run ------------------------------------------------------
 */

/* Rows [0, rows) x columns [0, nc) of one panel, group g: the raw dot
 * products acc (64 per row) corrected by the identity above, then written as
 * s32 or dequantized as xo_dequant_rows does (out = or += f32(acc) * (sa *
 * sb[col])). tail is the group's (simd_matmul.h); out points at row 0,
 * column 0; ldo is its row stride. */
XO_CLONES static void epilogue(const int32_t *acc, int64_t rows, int64_t nc,
                               const int32_t *rowsum, int64_t rs_stride,
                               const mm_state *s, const uint8_t *tail,
                               int32_t ca, int32_t cw0, int s32, float sa,
                               int add, void *out, int64_t ldo) {
  const float *sb = (const float *)tail;
  const int32_t *colsum = s->has_cs ? (const int32_t *)(sb + NC) : NULL;
  const int32_t *cw =
      s->has_cw ? (const int32_t *)(sb + NC) + (s->has_cs ? NC : 0) : NULL;
  uint32_t uca = (uint32_t)ca, ulen = (uint32_t)s->gs;
  /* per column: cw, the row-independent terms (- ca sum y + L ca cw) and
   * the scale sa * sb, so that the row loops below are branch-free */
  uint32_t ucw[NC], colterm[NC];
  float scale[NC];
  for (int64_t c = 0; c < nc; c++) {
    ucw[c] = (uint32_t)(cw ? cw[c] : cw0);
    uint32_t ucs = colsum ? (uint32_t)colsum[c] : 0;
    colterm[c] = ulen * uca * ucw[c] - uca * ucs;
    scale[c] = sa * sb[c];
  }
  for (int64_t r = 0; r < rows; r++) {
    uint32_t rs = (uint32_t)rowsum[r * rs_stride];
    const int32_t *a = acc + r * NC;
    if (s32) {
      int32_t *o = (int32_t *)out + r * ldo;
      for (int64_t c = 0; c < nc; c++)
        o[c] = (int32_t)((uint32_t)a[c] - ucw[c] * rs + colterm[c]);
    } else if (add) {
      float *o = (float *)out + r * ldo;
      for (int64_t c = 0; c < nc; c++)
        o[c] += (float)(int32_t)((uint32_t)a[c] - ucw[c] * rs + colterm[c]) *
                scale[c];
    } else {
      float *o = (float *)out + r * ldo;
      for (int64_t c = 0; c < nc; c++)
        o[c] = (float)(int32_t)((uint32_t)a[c] - ucw[c] * rs + colterm[c]) *
               scale[c];
    }
  }
}

/* Activations in their stored form (int8: + 128 as u8 when symmetric;
 * int4: - 128 as s8 when asymmetric), each group padded to gp with zeros,
 * and their sums per (row, group). */
static void prep_rows(const xo_problem *p, const mm_state *s, const void *a,
                      int64_t rows, uint8_t *x, int32_t *rowsum) {
  int flip = (p->prec == XO_PREC_INT4) == p->a_asym; /* xor 0x80 */
  int as_u8 = p->prec != XO_PREC_INT4;               /* stored as u8 */
  int64_t k = p->mm.k;
  for (int64_t r = 0; r < rows; r++) {
    const uint8_t *src = (const uint8_t *)a + r * k;
    uint8_t *dst = x + r * s->kp;
    if (s->gp != s->gs) memset(dst, 0, (size_t)s->kp);
    for (int64_t g = 0; g < s->ngroups; g++) {
      int32_t sum = 0;
      const uint8_t *sg = src + g * s->gs;
      uint8_t *dg = dst + g * s->gp;
      if (as_u8)
        for (int64_t i = 0; i < s->gs; i++) {
          uint8_t v = sg[i] ^ (flip ? 0x80 : 0);
          dg[i] = v;
          sum += v;
        }
      else
        for (int64_t i = 0; i < s->gs; i++) {
          uint8_t v = sg[i] ^ (flip ? 0x80 : 0);
          dg[i] = v;
          sum += (int8_t)v;
        }
      rowsum[r * s->ngroups + g] = sum;
    }
  }
}

/* Row tile `tile` of the int8 activations a (rows rows of k bytes) in
 * their stored form (xor 0x80 when flip: symmetric s8 as u8 + 128), packed
 * as i8 reads them: step by step, the tile's mrp rows 4 bytes each, each
 * group padded to whole steps and rows past the end with zeros; with the
 * sums of the stored values per (row, group) into rowsum (as prep_rows). */
XO_CLONES static void pack_tile(const mm_state *s, const uint8_t *a,
                                int64_t rows, int64_t k, int flip, int mrp,
                                int64_t tile, uint8_t *dst, int32_t *rowsum) {
  int64_t r0 = tile * mrp, gs = s->gs, nsg = s->gp / 4;
  uint8_t fb = flip ? 0x80 : 0;
  uint32_t f4 = flip ? 0x80808080u : 0;
  int64_t sstride = (int64_t)mrp * 4;
  for (int r = 0; r < mrp; r++) {
    uint8_t *d = dst + r * 4;
    if (r0 + r >= rows) {
      for (int64_t st = 0; st < s->kp / 4; st++) memset(d + st * sstride, 0, 4);
      continue;
    }
    const uint8_t *src = a + (r0 + r) * k;
    for (int64_t g = 0; g < s->ngroups; g++) {
      const uint8_t *sg = src + g * gs;
      uint8_t *dg = d + g * nsg * sstride;
      int32_t sum = 0;
      for (int64_t i = 0; i < gs; i++) sum += (uint8_t)(sg[i] ^ fb);
      rowsum[(r0 + r) * s->ngroups + g] = sum;
      int64_t whole = gs / 4;
      for (int64_t st = 0; st < whole; st++) {
        uint32_t v;
        memcpy(&v, sg + st * 4, 4);
        v ^= f4;
        memcpy(dg + st * sstride, &v, 4);
      }
      for (int64_t st = whole; st < nsg; st++) { /* the group's padding */
        uint8_t b[4] = {0, 0, 0, 0};
        for (int64_t i = st * 4; i < gs && i < st * 4 + 4; i++)
          b[i - st * 4] = sg[i] ^ fb;
        memcpy(dg + st * sstride, b, 4);
      }
    }
  }
}

static int threads_for(int64_t items, double macs) {
  int nt = xo_get_num_threads();
  if (macs < (double)(1 << 18)) nt = 1; /* a fork costs more than it saves */
  if (nt > items) nt = (int)(items > 0 ? items : 1);
  return nt;
}

/* Few rows (decode): the whole panel per kernel call, the weights and
 * their tails streamed once; the panels handed out to the threads in
 * chunks of consecutive panels (dynamic: a thread slowed by another
 * process leaves its share to the others). */
static void run_decode(const xo_problem *p, const mm_state *s, const wprep *w,
                       const uint8_t *x, const int32_t *rowsum, int32_t ca,
                       int32_t cw0, int nt, const xo_args *args) {
  const xo_matmul_desc *d = &p->mm;
  int64_t nb = d->batch_b == 1 ? 1 : d->batch;
  int64_t m = d->batch_b == 1 ? d->batch_a * d->m : d->m; /* rows per pass */
  int64_t n = d->n, items = nb * s->npanels;
  int s32 = p->out_dtype == XO_DTYPE_S32, int4 = p->prec == XO_PREC_INT4;
  /* about 1 MiB of weights per chunk */
  int64_t chunk =
      ((int64_t)1 << 20) / (s->panel_bytes > 0 ? s->panel_bytes : 1);
  if (chunk < 1) chunk = 1;
  if (chunk > items / (2 * nt))
    chunk = items / (2 * nt) > 0 ? items / (2 * nt) : 1;
  xo_simd_qpass q0 = {.ldx = s->kp,
                      .ngroups = s->ngroups,
                      .nsg = s->gp / s->kstep,
                      .gp = s->gp,
                      .has_cs = s->has_cs,
                      .has_cw = s->has_cw,
                      .ca = ca,
                      .cw0 = cw0,
                      .len = (int32_t)s->gs,
                      .sa = s32 ? 0.0f : args->scale[0][0],
                      .s32 = s32};
  (void)nt;
#pragma omp parallel for num_threads(nt) schedule(dynamic, chunk) if (nt > 1)
  for (int64_t it = 0; it < items; it++) {
    int64_t i = it / s->npanels, pn = it % s->npanels;
    int64_t ia = d->batch_a > 1 ? i : 0;
    const uint8_t *panel = w->panels + it * s->panel_bytes;
    int64_t j0 = pn * NC, nc = n - j0 < NC ? n - j0 : NC;
    char *ob = (char *)args->out + (size_t)(i * m * n + j0) * 4;
    int32_t tile[XO_SIMD_MR_MAX * NC] __attribute__((aligned(64)));
    for (int64_t r0 = 0; r0 < m; r0 += s->mr) {
      int mr = (int)(m - r0 < s->mr ? m - r0 : s->mr);
      xo_simd_qpass q = q0;
      q.rsum = rowsum + (ia * d->m + r0) * s->ngroups;
      const uint8_t *xr = x + (ia * d->m + r0) * s->kp;
      if (int4)
        s->k->i4d((const int8_t *)xr, mr, panel, &q, tile);
      else
        s->k->i8d(xr, mr, panel, &q, tile);
      for (int r = 0; r < mr; r++)
        memcpy(ob + (size_t)((r0 + r) * n) * 4, tile + r * NC, (size_t)nc * 4);
    }
  }
}

static xo_status run_int(const xo_simd_plan *sp, const mm_state *s,
                         const xo_args *args) {
  const xo_problem *p = &sp->h.p;
  const xo_matmul_desc *d = &p->mm;
  int64_t nb = d->batch_b == 1 ? 1 : d->batch;
  int64_t m = d->batch_b == 1 ? d->batch_a * d->m : d->m; /* rows per pass */
  int64_t arows = d->batch_a * d->m, n = d->n;
  /* a decode call's activations fit the stack: no allocation per call */
  enum { XSTACK = 16384, RSTACK = 512 };
  uint8_t xs[XSTACK] __attribute__((aligned(64)));
  int32_t rss[RSTACK];
  uint8_t *x = xs, *xheap = NULL;
  int32_t *rowsum = rss, *rheap = NULL;
  wprep *w = NULL;
  uint8_t *xp = NULL; /* int8 GEMM: the activations packed by row tiles */
  int int4 = p->prec == XO_PREC_INT4;
  /* int8 with more rows than a decode tile: the activations go straight
   * into row tiles of mr_i8 rows (i8's layout), per segment of rows that
   * share a weight matrix, by the threads that use them */
  int gemm8 = !int4 && m > s->mr;
  int mrp = int4 ? s->mr : s->k->mr_i8;
  int64_t nseg = d->batch_b != 1 && d->batch_a > 1 ? d->batch_a : 1;
  int64_t tiles = (m + mrp - 1) / mrp, seg_bytes = tiles * mrp * s->kp;
  xo_status st = XO_OK;
  if (gemm8)
    st = xo_alloc(nseg * seg_bytes, 1, (void **)&xp);
  else if (arows * s->kp > XSTACK) {
    st = xo_alloc(arows * s->kp, 1, (void **)&xheap);
    x = xheap;
  }
  if (st == XO_OK && arows * s->ngroups > RSTACK) {
    st = xo_alloc(arows * s->ngroups, sizeof(int32_t), (void **)&rheap);
    rowsum = rheap;
  }
  if (st == XO_OK) st = weights_get(p, s, args, &w);
  if (st != XO_OK) goto done;
  if (!gemm8) prep_rows(p, s, args->in[0], arows, x, rowsum);

  int32_t za = args->zero_point[0] ? args->zero_point[0][0] : 0;
  int32_t ca = int4 ? (p->a_asym ? za - 128 : 0) : (p->a_asym ? za : 128);
  int32_t cw0 = int4 ? 8 : 0; /* cw without weight zero points */
  int s32 = p->out_dtype == XO_DTYPE_S32;
  float sa = s32 ? 0.0f : args->scale[0][0];
  int64_t nsg = s->gp / s->kstep;
  /* rows per block: whole tiles */
  int64_t mc = MC / mrp * mrp, mblocks = (m + mc - 1) / mc;
  int nt = threads_for(nb * s->npanels * (m <= s->mr ? 1 : mblocks),
                       (double)d->batch * (double)d->m * (double)n * d->k);
  if (m <= s->mr) {
    run_decode(p, s, w, x, rowsum, ca, cw0, nt, args);
    goto done;
  }
  (void)nt; /* without OpenMP: the calling thread alone */
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    int32_t acc[MC * NC] __attribute__((aligned(64)));
    int t = omp_get_thread_num(), tn = omp_get_num_threads();
    if (gemm8) {
      const uint8_t *a = args->in[0];
#pragma omp for schedule(static)
      for (int64_t it = 0; it < nseg * tiles; it++) {
        int64_t sg = it / tiles;
        pack_tile(s, a + sg * m * d->k, m, d->k, !p->a_asym, mrp, it % tiles,
                  xp + it * mrp * s->kp, rowsum + sg * m * s->ngroups);
      }
    }
    /* the threads split the panels, or the row blocks when that leaves
     * the busiest thread less work (few panels, many rows) */
    int64_t np = s->npanels, p0 = 0, p1 = np, b0 = 0, b1 = mblocks;
    if ((mblocks + tn - 1) / tn * np < (np + tn - 1) / tn * mblocks) {
      b0 = mblocks * t / tn;
      b1 = mblocks * (t + 1) / tn;
    } else {
      p0 = np * t / tn;
      p1 = np * (t + 1) / tn;
    }
    for (int64_t i = 0; i < nb; i++) {
      int64_t ia = d->batch_a > 1 ? i : 0;
      const uint8_t *xi = x + ia * d->m * s->kp;
      const uint8_t *xpi = xp ? xp + ia * seg_bytes : NULL;
      const int32_t *rsi = rowsum + ia * d->m * s->ngroups;
      const uint8_t *wb = w->panels + i * s->npanels * s->panel_bytes;
      char *ob = (char *)args->out + (size_t)(i * m * n) * 4;
      for (int64_t m0 = b0 * mc; m0 < m && m0 < b1 * mc; m0 += mc) {
        int64_t m1 = m0 + mc < m ? m0 + mc : m;
        for (int64_t pn = p0; pn < p1; pn++) {
          const uint8_t *wp = wb + pn * s->panel_bytes;
          int64_t j0 = pn * NC, nc = n - j0 < NC ? n - j0 : NC;
          for (int64_t g = 0; g < s->ngroups; g++) {
            const uint8_t *wg = wp + g * s->gbytes;
            for (int64_t k0 = 0; k0 < nsg; k0 += KC_INT) {
              int64_t kn = nsg - k0 < KC_INT ? nsg - k0 : KC_INT;
              const uint8_t *wk = wg + k0 * NC * 4;
              for (int64_t r0 = m0; r0 < m1; r0 += mrp) {
                int mr = (int)(m1 - r0 < mrp ? m1 - r0 : mrp);
                int32_t *ar = acc + (r0 - m0) * NC;
                if (int4) {
                  const uint8_t *xr =
                      xi + r0 * s->kp + g * s->gp + k0 * s->kstep;
                  s->k->i4((const int8_t *)xr, s->kp, mr, wk, kn, ar, k0 > 0);
                } else {
                  const uint8_t *xr =
                      xpi + r0 * s->kp + (g * nsg + k0) * 4 * mrp;
                  s->k->i8(xr, mr, (const int8_t *)wk, kn, ar, k0 > 0);
                }
              }
            }
            epilogue(acc, m1 - m0, nc, rsi + m0 * s->ngroups + g, s->ngroups, s,
                     wg + nsg * NC * 4, ca, cw0, s32, sa, g > 0,
                     ob + (size_t)(m0 * n + j0) * 4, n);
          }
        }
      }
    }
  }
done:
  if (w) weights_done(w);
  free(xp);
  free(xheap);
  free(rheap);
  return st;
}

/* ---- the float run --------------------------------------------------------
 */

/* Columns [j0, n) past the last whole panel, for rows [0, m): plain C. */
static void float_tail(int bf, const void *a, const void *w, int64_t m,
                       int64_t n, int64_t k, int64_t j0, float *out) {
  float acc[NC];
  for (int64_t r = 0; r < m; r++) {
    for (int64_t j = j0; j < n; j++) acc[j - j0] = 0.0f;
    for (int64_t kk = 0; kk < k; kk++) {
      float av;
      if (bf) {
        xo_decode_f32(XO_DTYPE_BF16, (const uint16_t *)a + r * k + kk, 1, &av);
        for (int64_t j = j0; j < n; j++) {
          float wv;
          xo_decode_f32(XO_DTYPE_BF16, (const uint16_t *)w + kk * n + j, 1,
                        &wv);
          acc[j - j0] += av * wv;
        }
      } else {
        av = ((const float *)a)[r * k + kk];
        const float *wr = (const float *)w + kk * n;
        for (int64_t j = j0; j < n; j++) acc[j - j0] += av * wr[j];
      }
    }
    for (int64_t j = j0; j < n; j++) out[r * n + j] = acc[j - j0];
  }
}

static xo_status run_float(const xo_simd_plan *sp, const mm_state *s,
                           const xo_args *args) {
  const xo_matmul_desc *d = &sp->h.p.mm;
  int bf = sp->h.p.prec == XO_PREC_BF16;
  size_t es = bf ? 2 : 4;
  int64_t nb = d->batch_b == 1 ? 1 : d->batch;
  int64_t m = d->batch_b == 1 ? d->batch_a * d->m : d->m;
  int64_t n = d->n, k = d->k, full = n / NC;
  int nt = threads_for(full > 0 ? full : 1,
                       (double)d->batch * (double)d->m * (double)n * k);
  (void)nt; /* without OpenMP: the calling thread alone */
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    float acc[MC * NC] __attribute__((aligned(64)));
    int t = omp_get_thread_num(), tn = omp_get_num_threads();
    int64_t p0 = full * t / tn, p1 = full * (t + 1) / tn;
    /* the row-streaming path's accumulators (at most 4 rows: 32 KiB on
     * this thread's stack, so it cannot fail to get them) */
    float stream_buf[4 * CW];
    float *stream = s->rows && p1 > p0 ? stream_buf : NULL;
    for (int64_t i = 0; i < nb; i++) {
      int64_t ia = d->batch_a > 1 ? i : 0;
      const char *ai = (const char *)args->in[0] + (size_t)(ia * d->m * k) * es;
      const char *wi = (const char *)args->in[1] + (size_t)(i * k * n) * es;
      float *oi = (float *)args->out + i * m * n;
      if (stream) {
        /* a few rows: the weights streamed row by row across this
         * thread's columns, CW at a time (a 64-column panel of row-major
         * weights is 256 bytes of each row, too short for the prefetchers) */
        for (int64_t c0 = p0 * NC; c0 < p1 * NC; c0 += CW) {
          int64_t cw = p1 * NC - c0 < CW ? p1 * NC - c0 : CW;
          memset(stream, 0, (size_t)(m * cw) * sizeof(float));
          s->k->rows(ai, k, (int)m, wi + (size_t)c0 * es, n, k, cw, stream, bf);
          for (int64_t r = 0; r < m; r++)
            memcpy(oi + r * n + c0, stream + r * cw,
                   (size_t)cw * sizeof(float));
        }
        if (full * NC < n && t == tn - 1)
          float_tail(bf, ai, wi, m, n, k, full * NC, oi);
        continue;
      }
      for (int64_t m0 = 0; m0 < m; m0 += MC) {
        int64_t m1 = m0 + MC < m ? m0 + MC : m;
        for (int64_t pn = p0; pn < p1; pn++) {
          for (int64_t k0 = 0; k0 < k; k0 += KC_F) {
            int64_t kn = k - k0 < KC_F ? k - k0 : KC_F;
            const char *wk = wi + (size_t)(k0 * n + pn * NC) * es;
            for (int64_t r0 = m0; r0 < m1; r0 += s->mr) {
              int mr = (int)(m1 - r0 < s->mr ? m1 - r0 : s->mr);
              const char *ar = ai + (size_t)(r0 * k + k0) * es;
              float *cr = acc + (r0 - m0) * NC;
              if (bf)
                s->k->bf16((const uint16_t *)ar, k, mr, (const uint16_t *)wk, n,
                           kn, cr, k0 > 0);
              else
                s->k->f32((const float *)ar, k, mr, (const float *)wk, n, kn,
                          cr, k0 > 0);
            }
          }
          for (int64_t r = m0; r < m1; r++)
            memcpy(oi + r * n + pn * NC, acc + (r - m0) * NC,
                   NC * sizeof(float));
        }
        if (full * NC < n && t == tn - 1)
          float_tail(bf, ai + (size_t)(m0 * k) * es, wi, m1 - m0, n, k,
                     full * NC, oi + m0 * n);
      }
    }
  }
  return XO_OK;
}

xo_status xo_simd_matmul_run(void *plan, const xo_args *args,
                             xo_run_stats *stats) {
  const xo_simd_plan *sp = plan;
  const xo_problem *p = &sp->h.p;
  const mm_state *s = sp->state;
  (void)stats; /* the core's wall clock is the kernel time */
  xo_status st = xo_precision_is_integer((xo_precision)p->prec)
                     ? run_int(sp, s, args)
                     : run_float(sp, s, args);
  /* both operands broadcast: one product, copied to every batch */
  const xo_matmul_desc *d = &p->mm;
  if (st == XO_OK && d->batch_a == 1 && d->batch_b == 1) {
    size_t one = (size_t)(d->m * d->n) * 4; /* f32 and s32 alike */
    for (int64_t i = 1; i < d->batch; i++)
      memcpy((char *)args->out + i * one, args->out, one);
  }
  return st;
}

#endif /* __x86_64__ */
