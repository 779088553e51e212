/* prep_cache.c - weights prepared once per QTensor. xo_prepare's work on an
 * immutable quantized weight operand (int4 packed two per byte, values and
 * zero points shifted to the stored format, scales checked and copied) is
 * kept under the operand's cache token, so a decode loop converts each
 * weight once instead of on every call. LRU over whole entries, bounded in
 * bytes, thread-safe: an entry in use is never freed under its user. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

typedef struct pc_entry {
  /* the key: the token, the form asked for, and the view it was made from
   * (a token names one QTensor; its views differ in shape) */
  uint64_t token;
  int32_t prec;
  xo_tensor view;
  xo_prepared p;  /* owned by the entry; p.cached is NULL here */
  int borrowed;   /* p.ptr is the caller's memory, not p.data */
  size_t bytes;   /* what the entry holds */
  int refs;       /* calls using it now */
  int evicted;    /* out of the list: freed when refs reaches 0 */
  uint64_t stamp; /* last use, for LRU */
  struct pc_entry *next;
} pc_entry;

static pthread_mutex_t pc_lock = PTHREAD_MUTEX_INITIALIZER;
static pc_entry *pc_head;
static size_t pc_bytes, pc_limit;
static int pc_limit_set;
static uint64_t pc_clock;

/* XPUOPS_PREPARED_CACHE_MB (0 turns the cache off), else a quarter of the
 * machine's memory: a cached weight costs at most its size again. */
static size_t limit_bytes(void) {
  const char *env = getenv("XPUOPS_PREPARED_CACHE_MB");
  if (env && *env) return (size_t)strtoull(env, NULL, 10) << 20;
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? (size_t)pages * (size_t)page / 4 : 1u << 30;
}

static void entry_free(pc_entry *e) {
  xo_prepared_free(&e->p);
  free(e);
}

static int same_view(const xo_tensor *a, const xo_tensor *b) {
  if (a->dtype != b->dtype || a->ndim != b->ndim || a->data != b->data)
    return 0;
  for (int d = 0; d < a->ndim; d++)
    if (a->shape[d] != b->shape[d] || a->strides[d] != b->strides[d]) return 0;
  return 1;
}

/* The entry's prepared form as the caller's: shared buffers, the entry
 * referenced (released by xo_prepared_free). */
static void hand_out(pc_entry *e, const xo_operand *op, xo_prepared *out) {
  *out = e->p;
  if (e->borrowed) out->ptr = op->t.data;
  out->cached = e;
}

int xo_prep_cache_get(const xo_operand *op, xo_precision prec,
                      xo_prepared *out) {
  if (op->cache_token == 0) return 0;
  pthread_mutex_lock(&pc_lock);
  for (pc_entry *e = pc_head; e; e = e->next)
    if (e->token == op->cache_token && e->prec == (int32_t)prec &&
        same_view(&e->view, &op->t)) {
      e->refs++;
      e->stamp = ++pc_clock;
      hand_out(e, op, out);
      pthread_mutex_unlock(&pc_lock);
      return 1;
    }
  pthread_mutex_unlock(&pc_lock);
  return 0;
}

void xo_prep_cache_put(const xo_operand *op, xo_precision prec,
                       xo_prepared *p) {
  if (op->cache_token == 0 || p->cached != NULL) return;
  size_t bytes = sizeof(pc_entry) + (p->data ? (size_t)p->bytes : 0) +
                 (size_t)p->nscales * (sizeof(float) + sizeof(int32_t));
  pthread_mutex_lock(&pc_lock);
  if (!pc_limit_set) {
    pc_limit = limit_bytes();
    pc_limit_set = 1;
  }
  /* another call cached the same operand meanwhile: keep the caller's own */
  for (pc_entry *e = pc_head; e; e = e->next)
    if (e->token == op->cache_token && e->prec == (int32_t)prec &&
        same_view(&e->view, &op->t)) {
      pthread_mutex_unlock(&pc_lock);
      return;
    }
  /* evict the least recently used entries not in use until it fits */
  while (bytes <= pc_limit && pc_bytes + bytes > pc_limit) {
    pc_entry **victim = NULL;
    for (pc_entry **pe = &pc_head; *pe; pe = &(*pe)->next)
      if ((*pe)->refs == 0 && (!victim || (*pe)->stamp < (*victim)->stamp))
        victim = pe;
    if (!victim) break;
    pc_entry *v = *victim;
    *victim = v->next;
    pc_bytes -= v->bytes;
    entry_free(v);
  }
  pc_entry *e = NULL;
  if (pc_bytes + bytes <= pc_limit) e = calloc(1, sizeof *e);
  if (e != NULL) {
    e->token = op->cache_token;
    e->prec = (int32_t)prec;
    e->view = op->t;
    e->p = *p;
    e->borrowed = p->data == NULL || p->ptr != p->data;
    e->bytes = bytes;
    e->refs = 1;
    e->stamp = ++pc_clock;
    e->next = pc_head;
    pc_head = e;
    pc_bytes += bytes;
    p->cached = e; /* the caller's copy now refers to the entry's buffers */
  }
  pthread_mutex_unlock(&pc_lock);
}

void xo_prep_cache_release(void *entry) {
  pc_entry *e = entry;
  pthread_mutex_lock(&pc_lock);
  int drop = --e->refs == 0 && e->evicted;
  pthread_mutex_unlock(&pc_lock);
  if (drop) entry_free(e);
}

void xo_prep_cache_clear(void) {
  pthread_mutex_lock(&pc_lock);
  pc_entry **pe = &pc_head;
  while (*pe) {
    pc_entry *e = *pe;
    *pe = e->next;
    pc_bytes -= e->bytes;
    if (e->refs == 0)
      entry_free(e);
    else
      e->evicted = 1; /* its last user frees it */
  }
  pthread_mutex_unlock(&pc_lock);
}
