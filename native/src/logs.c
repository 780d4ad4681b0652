#include "logs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

int
log_open (log_t *l, const char *path, int64_t max_bytes, int max_files, tank_err_t *err)
{
  struct stat st;
  l->path = path;
  l->max_bytes = max_bytes;
  l->max_files = max_files;
  l->fd = open (path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (l->fd < 0)
    return tank_error (err, errno, "log_open", "open `%s`", path);
  l->size = fstat (l->fd, &st) == 0 ? st.st_size : 0;
  return 0;
}

void
log_close (log_t *l)
{
  if (l->fd >= 0)
    close (l->fd);
  l->fd = -1;
}

static void
log_rotate (log_t *l)
{
  char from[4096], to[4096];
  if (l->max_files == 0)
    {
      if (ftruncate (l->fd, 0) == 0)
        l->size = 0;
      return;
    }
  snprintf (to, sizeof to, "%s.%d", l->path, l->max_files);
  unlink (to);
  for (int k = l->max_files - 1; k >= 1; k--)
    {
      snprintf (from, sizeof from, "%s.%d", l->path, k);
      snprintf (to, sizeof to, "%s.%d", l->path, k + 1);
      rename (from, to);
    }
  snprintf (to, sizeof to, "%s.1", l->path);
  rename (l->path, to);
  int fd = open (l->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0)
    return; /* keep writing to the renamed file rather than lose output */
  close (l->fd);
  l->fd = fd;
  l->size = 0;
}

static void
log_record (log_t *l, const char *stream, bool full, const char *text, size_t n)
{
  char ts[40], head[80];
  if (l->fd < 0)
    return;
  now_rfc3339 (ts);
  int h = snprintf (head, sizeof head, "%s %s %c ", ts, stream, full ? 'F' : 'P');
  int64_t total = h + (int64_t) n + 1;
  if (l->size > 0 && l->size + total > l->max_bytes)
    log_rotate (l);
  struct iovec iov[3] = { { head, (size_t) h }, { (void *) text, n }, { "\n", 1 } };
  ssize_t w = writev (l->fd, iov, 3);
  if (w > 0)
    l->size += w;
}

void
log_feed (log_t *l, log_stream_t *s, const char *data, size_t n)
{
  while (n > 0)
    {
      const char *nl = memchr (data, '\n', n);
      size_t take = nl ? (size_t) (nl - data) : n;
      /* Respect the 16 KiB record cap even inside one chunk. */
      size_t room = LOG_LINE_MAX - s->partial.len;
      if (take > room || (take == room && !nl))
        {
          buf_append (&s->partial, data, room);
          log_record (l, s->name, false, s->partial.data, s->partial.len);
          buf_consume (&s->partial, s->partial.len);
          data += room, n -= room;
          continue;
        }
      buf_append (&s->partial, data, take);
      data += take, n -= take;
      if (!nl)
        break;
      data++, n--; /* the newline */
      size_t len = s->partial.len;
      if (s->strip_cr && len > 0 && s->partial.data[len - 1] == '\r')
        len--;
      log_record (l, s->name, true, s->partial.data ? s->partial.data : "", len);
      buf_consume (&s->partial, s->partial.len);
    }
}

void
log_flush (log_t *l, log_stream_t *s)
{
  if (s->partial.len > 0)
    log_record (l, s->name, false, s->partial.data, s->partial.len);
  buf_free (&s->partial);
}
