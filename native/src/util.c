#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

void
buf_free (tbuf_t *b)
{
  free (b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

static void
buf_reserve (tbuf_t *b, size_t extra)
{
  if (b->len + extra + 1 <= b->cap)
    return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + extra + 1)
    cap *= 2;
  char *p = realloc (b->data, cap);
  if (p == NULL)
    abort (); /* out of memory in a 1-process helper: nothing sane to do */
  b->data = p;
  b->cap = cap;
}

void
buf_append (tbuf_t *b, const void *p, size_t n)
{
  buf_reserve (b, n);
  memcpy (b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void
buf_puts (tbuf_t *b, const char *s)
{
  buf_append (b, s, strlen (s));
}

void
buf_escaped (tbuf_t *b, const char *s, size_t n, size_t max)
{
  for (size_t k = 0; k < n && k < max; k++)
    {
      unsigned char c = (unsigned char) s[k];
      if (c == '"' || c == '\\')
        buf_printf (b, "\\%c", c);
      else if (c >= 0x20 && c < 0x7f)
        buf_append (b, &c, 1);
      else
        buf_printf (b, "\\x%02x", c);
    }
  if (n > max)
    buf_puts (b, "...");
}

void
buf_printf (tbuf_t *b, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  int n = vsnprintf (NULL, 0, fmt, ap);
  va_end (ap);
  if (n < 0)
    return;
  buf_reserve (b, (size_t) n);
  va_start (ap, fmt);
  vsnprintf (b->data + b->len, (size_t) n + 1, fmt, ap);
  va_end (ap);
  b->len += (size_t) n;
}

void
buf_consume (tbuf_t *b, size_t n)
{
  if (n >= b->len)
    {
      b->len = 0;
      if (b->data)
        b->data[0] = '\0';
      return;
    }
  memmove (b->data, b->data + n, b->len - n);
  b->len -= n;
  b->data[b->len] = '\0';
}

int
write_all (int fd, const void *p, size_t n)
{
  const char *c = p;
  while (n > 0)
    {
      ssize_t w = write (fd, c, n);
      if (w < 0)
        {
          if (errno == EINTR)
            continue;
          return -1;
        }
      c += w;
      n -= (size_t) w;
    }
  return 0;
}

int
read_file (const char *path, size_t max, char **out, size_t *len, tank_err_t *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return tank_error (err, errno, "read_file", "open `%s`", path);
  tbuf_t b = { 0 };
  char chunk[8192];
  for (;;)
    {
      ssize_t r = read (fd, chunk, sizeof chunk);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        {
          int e = errno;
          buf_free (&b);
          return tank_error (err, e, "read_file", "read `%s`", path);
        }
      if (r == 0)
        break;
      buf_append (&b, chunk, (size_t) r);
      if (b.len > max)
        {
          buf_free (&b);
          return tank_error (err, EFBIG, "read_file", "`%s` is larger than %zu bytes", path, max);
        }
    }
  if (b.data == NULL)
    buf_append (&b, "", 0);
  *out = b.data;
  *len = b.len;
  return 0;
}

int
write_file_atomic (const char *path, const void *p, size_t n, tank_err_t *err)
{
  char tmp[4096];
  if (snprintf (tmp, sizeof tmp, "%s.tmp", path) >= (int) sizeof tmp)
    return tank_error (err, ENAMETOOLONG, "write_file", "path too long `%s`", path);
  cleanup_close int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return tank_error (err, errno, "write_file", "open `%s`", tmp);
  if (write_all (fd, p, n) < 0)
    return tank_error (err, errno, "write_file", "write `%s`", tmp);
  if (rename (tmp, path) < 0)
    return tank_error (err, errno, "write_file", "rename `%s`", tmp);
  return 0;
}

int
mkdir_p (const char *path, mode_t mode)
{
  char buf[4096];
  if (snprintf (buf, sizeof buf, "%s", path) >= (int) sizeof buf)
    {
      errno = ENAMETOOLONG;
      return -1;
    }
  for (char *p = buf + 1; *p; p++)
    if (*p == '/')
      {
        *p = '\0';
        if (mkdir (buf, mode) < 0 && errno != EEXIST)
          return -1;
        *p = '/';
      }
  if (mkdir (buf, mode) < 0 && errno != EEXIST)
    return -1;
  return 0;
}

void
now_rfc3339 (char out[40])
{
  struct timespec ts;
  struct tm tm;
  clock_gettime (CLOCK_REALTIME, &ts);
  gmtime_r (&ts.tv_sec, &tm);
  size_t n = strftime (out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf (out + n, 40 - n, ".%09ldZ", ts.tv_nsec);
}

int64_t
monotonic_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
set_nonblock (int fd)
{
  int fl = fcntl (fd, F_GETFL);
  if (fl < 0)
    return -1;
  return fcntl (fd, F_SETFL, fl | O_NONBLOCK);
}

int
cgroup_join_self (const char *procs, tank_err_t *err)
{
  /* cgroup v1: writing "0" (= the caller) to the group's `tasks` migrates one thread without the
   * global threadgroup lock, whose RCU grace period makes a cgroup.procs write cost 5-15 ms here.
   * For a single-threaded caller that is the whole process. cgroup v2 has no `tasks`: cgroup.procs. */
  char tasks[4096];
  const char *slash = strrchr (procs, '/');
  int fd = -1;
  if (slash && strcmp (slash + 1, "cgroup.procs") == 0
      && snprintf (tasks, sizeof tasks, "%.*s/tasks", (int) (slash - procs), procs) < (int) sizeof tasks)
    fd = open (tasks, O_WRONLY | O_CLOEXEC);
  if (fd < 0 && (fd = open (procs, O_WRONLY | O_CLOEXEC)) < 0)
    return tank_error (err, errno, "cgroup_join", "open `%s`", procs);
  int ok = write (fd, "0", 1) == 1;
  int e = errno;
  close (fd);
  return ok ? 0 : tank_error (err, e, "cgroup_join", "join `%s`", procs);
}

int
write_int_file (const char *path, long long v, tank_err_t *err, const char *step)
{
  char s[32];
  int n = snprintf (s, sizeof s, "%lld", v);
  cleanup_close int fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return tank_error (err, errno, step, "open `%s`", path);
  if (write (fd, s, (size_t) n) != n)
    return tank_error (err, errno, step, "write %lld to `%s`", v, path);
  return 0;
}
