/* dl.c - the one way a backend loads its library at run time: the first
 * candidate that loads, then its symbols from a table, or a reason that
 * says which library or symbol is missing (devices() shows it). */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

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
  const char *set = lib->backend ? xo_library_path(lib->backend) : NULL;
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
