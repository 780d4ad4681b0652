/* One error convention for the whole helper (crun style):
 *   int f (..., tank_err_t *err)  returns 0 on success, -1 on failure with *err filled.
 * `step` names the operation that failed (it travels to the agent verbatim, e.g. "mount_proc"),
 * `errnum` is the errno (0 when the failure is not a syscall), `message` says what and which path. */
#pragma once
#include <stddef.h>

typedef struct {
  int errnum;
  char step[40];
  char message[256];
} tank_err_t;

/* Fill *err and return -1. Never touches errno-sensitive state after reading errnum. */
int tank_error (tank_err_t *err, int errnum, const char *step, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

/* Print {"error":{"step":...,"errno":...,"message":...}} as one line on fd. */
void tank_error_print (int fd, const tank_err_t *err);
