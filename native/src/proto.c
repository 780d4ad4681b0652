#include "proto.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

int
sync_send (int fd, int type, const tank_err_t *e, int passfd)
{
  sync_msg_t m;
  memset (&m, 0, sizeof m);
  m.type = type;
  if (e != NULL)
    {
      m.errnum = e->errnum;
      memcpy (m.step, e->step, sizeof m.step);
      memcpy (m.message, e->message, sizeof m.message);
    }
  struct iovec iov = { &m, sizeof m };
  union { char buf[CMSG_SPACE (sizeof (int))]; struct cmsghdr align; } u;
  struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
  if (passfd >= 0)
    {
      mh.msg_control = u.buf;
      mh.msg_controllen = sizeof u.buf;
      struct cmsghdr *c = CMSG_FIRSTHDR (&mh);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN (sizeof (int));
      memcpy (CMSG_DATA (c), &passfd, sizeof (int));
    }
  ssize_t r;
  do
    r = sendmsg (fd, &mh, MSG_NOSIGNAL);
  while (r < 0 && errno == EINTR);
  return r == (ssize_t) sizeof m ? 0 : -1;
}

int
sync_recv (int fd, sync_msg_t *m, int *passfd)
{
  struct iovec iov = { m, sizeof *m };
  union { char buf[CMSG_SPACE (sizeof (int))]; struct cmsghdr align; } u;
  struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
  *passfd = -1;
  ssize_t r;
  do
    r = recvmsg (fd, &mh, MSG_CMSG_CLOEXEC);
  while (r < 0 && errno == EINTR);
  if (r <= 0)
    return (int) r;
  for (struct cmsghdr *c = CMSG_FIRSTHDR (&mh); c; c = CMSG_NXTHDR (&mh, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      memcpy (passfd, CMSG_DATA (c), sizeof (int));
  if (r != (ssize_t) sizeof *m)
    {
      errno = EPROTO;
      return -1;
    }
  m->step[sizeof m->step - 1] = '\0';
  m->message[sizeof m->message - 1] = '\0';
  return 1;
}
