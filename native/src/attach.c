/* The attach byte stream (PROTOCOL.md §6): frames in both directions, one attacher at a time. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "monitor.h"
#include "pty.h"

void
frame_append (tbuf_t *b, int type, const void *p, size_t n)
{
  unsigned char h[5] = { (unsigned char) type };
  uint32_t be = htonl ((uint32_t) n);
  memcpy (h + 1, &be, 4);
  buf_append (b, h, 5);
  buf_append (b, p, n);
}

void
attach_output (monitor_t *m, int type, const char *data, size_t n)
{
  if (m->attacher < 0)
    return;
  client_t *c = &m->clients[m->attacher];
  /* Never block the workload on a slow reader: drop what does not fit. */
  if (c->out.len + n + 5 <= ATTACH_OUT_MAX)
    frame_append (&c->out, type, data, n);
}

void
stdin_flush (monitor_t *m)
{
  int fd = m->pty_fd >= 0 ? m->pty_fd : m->sp.in_fd;
  if (fd < 0)
    {
      buf_consume (&m->stdin_pending, m->stdin_pending.len);
      return;
    }
  while (m->stdin_pending.len > 0)
    {
      ssize_t w = write (fd, m->stdin_pending.data, m->stdin_pending.len);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0 && errno == EAGAIN)
        return;
      if (w < 0)
        {
          buf_consume (&m->stdin_pending, m->stdin_pending.len); /* reader gone (EPIPE/EIO) */
          return;
        }
      buf_consume (&m->stdin_pending, (size_t) w);
    }
  if (m->stdin_eof && m->sp.in_fd >= 0)
    {
      close (m->sp.in_fd);
      m->sp.in_fd = -1;
    }
}

static void
frame_in (monitor_t *m, int type, const unsigned char *p, size_t n)
{
  switch (type)
    {
    case F_STDIN:
      /* attach_frames only hands us a frame that fits (backpressure: nothing is dropped). */
      buf_append (&m->stdin_pending, p, n);
      stdin_flush (m);
      break;
    case F_RESIZE:
      if (n == 4 && m->pty_fd >= 0)
        pty_resize (m->pty_fd, (unsigned short) (p[0] << 8 | p[1]), (unsigned short) (p[2] << 8 | p[3]));
      break;
    case F_STDIN_EOF:
      m->stdin_eof = true;
      stdin_flush (m);
      break;
    default:
      break; /* unknown frame types are ignored (forward compatibility) */
    }
}

void
attach_frames (monitor_t *m, int idx)
{
  client_t *c = &m->clients[idx];
  while (c->in.len >= 5)
    {
      const unsigned char *h = (const unsigned char *) c->in.data;
      uint32_t be;
      memcpy (&be, h + 1, 4);
      size_t n = ntohl (be);
      if (n > LINE_MAX_BYTES)
        {
          client_close (m, idx);
          return;
        }
      if (c->in.len < 5 + n)
        return;
      /* Input the workload is not reading yet stays in the connection (and then in the client's
       * socket buffer): a large paste is slowed down, never cut. */
      if (h[0] == F_STDIN && m->stdin_pending.len > 0 && m->stdin_pending.len + n > STDIN_MAX)
        return;
      frame_in (m, h[0], h + 5, n);
      buf_consume (&c->in, 5 + n);
    }
}
