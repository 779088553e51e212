/* dl.c - the one way a backend loads its library at run time: the first
 * candidate that loads, then its symbols from a table, or a reason that
 * says which library or symbol is missing (devices() shows it). */
#include <dlfcn.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum { MAX_ROOTS = 8 };
static char roots[MAX_ROOTS][1024];
static int nroots;

xo_status xo_set_search_roots(const char *const *dirs, int n) {
  if (xo_registry_started())
    return xo_fail(XO_ERR_INVALID_ARG,
                   "search roots must be set before the first device query");
  nroots = 0;
  for (int i = 0; i < n && nroots < MAX_ROOTS; i++)
    if (dirs[i] && dirs[i][0])
      snprintf(roots[nroots++], sizeof roots[0], "%s", dirs[i]);
  return XO_OK;
}

/* The first file lib's wheel installed under a search root, into buf. */
static int wheel_file(const xo_dl_lib *lib, char *buf, size_t n) {
  for (int r = 0; r < nroots; r++)
    for (int w = 0; w < 3 && lib->wheel[w]; w++) {
      char pattern[1200];
      snprintf(pattern, sizeof pattern, "%s/%s", roots[r], lib->wheel[w]);
      glob_t g;
      int found = glob(pattern, 0, NULL, &g) == 0 && g.gl_pathc > 0;
      if (found) snprintf(buf, n, "%s", g.gl_pathv[0]);
      globfree(&g);
      if (found) return 1;
    }
  return 0;
}

/* dlsym with lib's prefix first (scipy_cblas_sgemm), then the plain name. */
static void *lookup(void *handle, const xo_dl_lib *lib, const char *name) {
  if (lib->prefix) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s%s", lib->prefix, name);
    void *f = dlsym(handle, buf);
    if (f) return f;
  }
  return dlsym(handle, name);
}

xo_status xo_dl_open(const xo_dl_lib *lib, const xo_dl_sym *syms, int n,
                     void **handle) {
  const char *set = lib->env ? getenv(lib->env) : NULL;
  if (!(set && *set)) set = lib->backend ? xo_library_path(lib->backend) : NULL;
  char found[1024];
  if (!set && wheel_file(lib, found, sizeof found)) set = found;
  /* a path the user or the Python layer chose is the only candidate: no
   * silent fallback to another copy of the library */
  const char *const *cand = set ? &set : lib->sonames;
  int ncand = set ? 1 : 0;
  while (!set && ncand < 4 && lib->sonames[ncand]) ncand++;
  char why[512] = "";
  size_t used = 0;
  void *h = NULL;
  const char *path = NULL;
  xo_status st = XO_OK;
  for (int i = 0; i < ncand && h == NULL; i++) {
    h = dlopen(cand[i], RTLD_NOW | RTLD_LOCAL);
    path = cand[i];
    if (h == NULL && used < sizeof why) {
      const char *e = dlerror();
      used += (size_t)snprintf(why + used, sizeof why - used, "%s%s",
                               used ? "; " : "", e ? e : cand[i]);
    }
  }
  if (h == NULL) {
    st = xo_fail(XO_ERR_UNAVAILABLE, "cannot load %s (%s); %s", lib->what,
                 ncand ? why : "no candidate path", lib->hint);
    goto fail;
  }
  for (int i = 0; i < n; i++) {
    *syms[i].slot = lookup(h, lib, syms[i].name);
    if (*syms[i].slot == NULL && !syms[i].optional) {
      st = xo_fail(XO_ERR_UNAVAILABLE, "%s at %s lacks %s", lib->what, path,
                   syms[i].name);
      goto fail;
    }
  }
  *handle = h;
  return XO_OK;
fail:
  for (int i = 0; i < n; i++) *syms[i].slot = NULL;
  if (h) dlclose(h);
  *handle = NULL;
  return st;
}
