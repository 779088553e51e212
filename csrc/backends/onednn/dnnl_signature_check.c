/* dnnl_signature_check.c - compiled by tests/test_cpu_backends.py against
 * the real oneDNN header (the onednn-devel-cpu-gomp wheel): dnnl_api.h's
 * prototypes are redeclarations there, so any that disagrees with oneDNN's
 * is an error, and its constants are asserted equal to oneDNN's. Not part
 * of the library. */
#include <oneapi/dnnl/dnnl.h>

#define XO_DNNL_REAL_HEADER
#include "dnnl_api.h"
