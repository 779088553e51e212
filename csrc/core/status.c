/* status.c - the thread-local error message behind xo_last_error. */
#include <stdio.h>

#include "internal.h"

static _Thread_local char xo_message[1024];

const char *xo_last_error(void) {
  return xo_message;
}

xo_status xo_fail(xo_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(xo_message, sizeof xo_message, fmt, ap);
  va_end(ap);
  return status;
}
