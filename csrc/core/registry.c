/* registry.c - the backends this build knows, and their devices.
 *
 * Adding a backend = its folder under backends/ + one line in kBackends.
 * A backend whose issue has not landed yet, or whose library is missing on
 * this machine, still gets a device entry saying why it is unavailable, so
 * devices() always shows the whole picture. */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

extern const xo_backend xo_backend_ref;
extern const xo_backend xo_backend_openblas;
extern const xo_backend xo_backend_onednn;
extern const xo_backend xo_backend_opencl;
extern const xo_backend xo_backend_npusim;
extern const xo_backend xo_backend_openvino;

typedef struct backend_entry {
  const char *name;
  const char *kind; /* kind of the placeholder entry when unavailable */
  int simulated;
  const xo_backend *impl; /* NULL: not part of this build */
  const char *missing;    /* why, when impl is NULL */
} backend_entry;

static const backend_entry kBackends[] = {
    {"ref", "cpu", 0, &xo_backend_ref, NULL},
    {"openblas", "cpu", 0, &xo_backend_openblas, NULL},
    {"onednn", "cpu", 0, &xo_backend_onednn, NULL},
    {"opencl", "gpu", 0, &xo_backend_opencl, NULL},
    {"openvino", "npu", 0, &xo_backend_openvino, NULL},
    {"npusim", "npu", 1, &xo_backend_npusim, NULL},
};
enum { NBACKENDS = sizeof kBackends / sizeof kBackends[0], MAX_DEVICES = 64 };

static struct xo_device devices[MAX_DEVICES];
static int ndevices;
static pthread_once_t registry_once = PTHREAD_ONCE_INIT;
static int registry_ready;

/* Library paths the Python layer found, by backend name. */
static char library_paths[NBACKENDS][1024];

xo_status xo_set_library_path(const char *backend, const char *path) {
  if (__atomic_load_n(&registry_ready, __ATOMIC_ACQUIRE))
    return xo_fail(XO_ERR_INVALID_ARG,
                   "library paths must be set before the first device query");
  for (int i = 0; i < NBACKENDS; i++)
    if (strcmp(kBackends[i].name, backend) == 0) {
      snprintf(library_paths[i], sizeof library_paths[i], "%s", path);
      return XO_OK;
    }
  return xo_fail(XO_ERR_INVALID_ARG, "unknown backend '%s'", backend);
}

const char *xo_library_path(const char *backend) {
  for (int i = 0; i < NBACKENDS; i++)
    if (strcmp(kBackends[i].name, backend) == 0)
      return library_paths[i][0] ? library_paths[i] : NULL;
  return NULL;
}

static void add_placeholder(const backend_entry *b, const char *reason) {
  if (ndevices >= MAX_DEVICES) return;
  struct xo_device *d = &devices[ndevices++];
  memset(d, 0, sizeof *d);
  d->backend = b->impl;
  snprintf(d->desc.name, sizeof d->desc.name, "%s", b->name);
  snprintf(d->desc.backend, sizeof d->desc.backend, "%s", b->name);
  snprintf(d->desc.kind, sizeof d->desc.kind, "%s", b->kind);
  snprintf(d->desc.reason, sizeof d->desc.reason, "%s", reason);
  d->desc.simulated = b->simulated;
}

/* Backends whose init succeeded: they get set_num_threads. */
static int initialised[NBACKENDS];

static void registry_init(void) {
  __atomic_store_n(&registry_ready, 1, __ATOMIC_RELEASE);
  for (int i = 0; i < NBACKENDS; i++) {
    const backend_entry *b = &kBackends[i];
    if (b->impl == NULL) {
      add_placeholder(b, b->missing);
      continue;
    }
    if (b->impl->init() != XO_OK) {
      add_placeholder(b, xo_last_error());
      continue;
    }
    initialised[i] = 1;
    int n = b->impl->device_count();
    for (int j = 0; j < n && ndevices < MAX_DEVICES; j++) {
      struct xo_device *d = &devices[ndevices];
      memset(d, 0, sizeof *d);
      d->backend = b->impl;
      d->index = j;
      xo_status st = b->impl->describe(j, &d->desc);
      snprintf(d->desc.backend, sizeof d->desc.backend, "%s", b->name);
      if (st == XO_ERR_UNAVAILABLE && d->desc.name[0]) {
        /* a device the backend knows of but cannot use here, e.g. an NPU
         * whose driver is missing: listed with the reason */
        snprintf(d->desc.reason, sizeof d->desc.reason, "%s", xo_last_error());
        ndevices++;
        continue;
      }
      if (st != XO_OK) {
        add_placeholder(b, xo_last_error());
        continue;
      }
      d->desc.available = 1;
      ndevices++;
    }
  }
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
