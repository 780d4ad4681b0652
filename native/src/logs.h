/* Container log files written by the monitor itself (PROTOCOL.md §7):
 *   <RFC3339Nano UTC> <stdout|stderr|tty> <F|P> <text>\n
 * F = the text ends a line; P = partial (split at 16 KiB, or unterminated when the stream closed).
 * Size-based rotation: before a record would push the file over maxBytes, path.N-1 -> path.N ...
 * path -> path.1 (maxFiles = 0 truncates instead). */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "util.h"

#define LOG_LINE_MAX 16384

typedef struct {
  const char *path;
  int fd;
  int64_t size, max_bytes;
  int max_files;
} log_t;

typedef struct {
  const char *name; /* "stdout", "stderr", "tty" */
  bool strip_cr; /* PTY output: drop the \r of \r\n */
  tbuf_t partial;
} log_stream_t;

int log_open (log_t *l, const char *path, int64_t max_bytes, int max_files, tank_err_t *err);
void log_close (log_t *l);
void log_feed (log_t *l, log_stream_t *s, const char *data, size_t n);
void log_flush (log_t *l, log_stream_t *s);
