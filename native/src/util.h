/* Small shared helpers: cleanup attributes, a growable byte buffer, robust I/O, time. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include "error.h"

static inline void cleanup_free_fn (void *p) { free (*(void **) p); }
static inline void
cleanup_close_fn (int *fd)
{
  if (*fd >= 0)
    close (*fd);
}
#define cleanup_free __attribute__ ((cleanup (cleanup_free_fn)))
#define cleanup_close __attribute__ ((cleanup (cleanup_close_fn)))

typedef struct {
  char *data;
  size_t len, cap;
} tbuf_t;

void buf_free (tbuf_t *b);
static inline void cleanup_buf_fn (tbuf_t *b) { buf_free (b); }
#define cleanup_buf __attribute__ ((cleanup (cleanup_buf_fn)))

void buf_append (tbuf_t *b, const void *p, size_t n);
void buf_puts (tbuf_t *b, const char *s);
void buf_printf (tbuf_t *b, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
/* Append s[0..n) for humans: printable ASCII as is (`"` and `\\` backslashed), every other byte
 * as `\xHH`; at most `max` input bytes, then `...`. Untrusted bytes never reach a terminal raw. */
void buf_escaped (tbuf_t *b, const char *s, size_t n, size_t max);
/* Drop the first n bytes. */
void buf_consume (tbuf_t *b, size_t n);

int write_all (int fd, const void *p, size_t n);
/* Read a whole (small) file; NUL-terminated. */
int read_file (const char *path, size_t max, char **out, size_t *len, tank_err_t *err);
/* Write a file atomically (never torn): <path>.tmp, then rename. Not fsync'd. */
int write_file_atomic (const char *path, const void *p, size_t n, tank_err_t *err);
/* mkdir -p on the host (not symlink-safe; only for paths the agent owns). */
int mkdir_p (const char *path, mode_t mode);

/* RFC 3339 UTC timestamp with nanoseconds, e.g. 2026-11-23T12:00:00.123456789Z (31 chars). */
void now_rfc3339 (char out[40]);
int64_t monotonic_ms (void);
int set_nonblock (int fd);
int write_int_file (const char *path, long long v, tank_err_t *err, const char *step);

/* Move the calling (single-threaded) process into the cgroup of `procs` (a cgroup.procs path). */
int cgroup_join_self (const char *procs, tank_err_t *err);
