#include "piperelay.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

/* Copy what is readable now from `from` to `to`; 0 = more may come, 1 = EOF or error on `from`
 * (or the reader of `to` is gone: we stop reading, so the command gets EPIPE like in a pipeline). */
static int
pump (int from, int to, char *buf, size_t len)
{
  ssize_t n = read (from, buf, len);
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return 0;
  if (n <= 0)
    return 1;
  return write_all (to, buf, (size_t) n) < 0 ? 1 : 0;
}

/* After the exit: what the command wrote before it ended is in the pipe; take it without waiting
 * for more (a background process it left may hold the pipe open forever). */
static void
drain (int from, int to, char *buf, size_t len)
{
  if (from < 0)
    return;
  set_nonblock (from);
  for (;;)
    {
      ssize_t n = read (from, buf, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0 || write_all (to, buf, (size_t) n) < 0)
        return;
    }
}

int
piperelay_run (int in_w, int out_r, int err_r, pid_t child, const sigset_t *set)
{
  sigset_t s = *set;
  sigprocmask (SIG_BLOCK, &s, NULL);
  cleanup_close int sfd = signalfd (-1, &s, SFD_CLOEXEC);
  int status = 0;
  bool exited = false;
  char buf[65536];
  /* Our stdin is read only while the command's stdin pipe can take it (poll POLLOUT), so a command
   * that never reads its input never makes us buffer the caller's. */
  int fds[3] = { out_r, err_r, in_w };
  while (!exited)
    {
      struct pollfd p[5] = {
        { .fd = sfd, .events = POLLIN },
        { .fd = fds[0], .events = POLLIN },
        { .fd = fds[1], .events = POLLIN },
        { .fd = fds[2] >= 0 ? 0 : -1, .events = POLLIN },
        { .fd = fds[2], .events = POLLOUT },
      };
      /* Read our stdin only when the pipe has room; else wait for room. */
      struct pollfd room = { .fd = fds[2], .events = POLLOUT };
      bool has_room = fds[2] >= 0 && poll (&room, 1, 0) == 1 && (room.revents & POLLOUT);
      if (has_room)
        p[4].fd = -1;
      else
        p[3].fd = -1;
      if (poll (p, 5, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      if (p[0].revents & POLLIN)
        {
          struct signalfd_siginfo si;
          if (read (sfd, &si, sizeof si) == sizeof si)
            {
              if (si.ssi_signo == SIGCHLD)
                exited = waitpid (child, &status, WNOHANG) == child;
              else /* no terminal between the caller and the command: forward SIGINT/SIGQUIT too */
                kill (child, (int) si.ssi_signo);
            }
        }
      for (int k = 0; k < 2; k++)
        if (p[k + 1].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL) && pump (fds[k], k + 1, buf, sizeof buf))
          close (fds[k]), fds[k] = -1;
      if (p[3].revents & POLLNVAL) /* we were started without a stdin */
        close (fds[2]), fds[2] = -1;
      else if (p[3].revents & (POLLIN | POLLHUP | POLLERR))
        {
          ssize_t n = read (0, buf, sizeof buf);
          if (n > 0 && write_all (fds[2], buf, (size_t) n) < 0)
            n = 0; /* the command closed its stdin: stop feeding it */
          if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
            close (fds[2]), fds[2] = -1; /* EOF for the command */
        }
      if (p[4].revents & (POLLERR | POLLHUP))
        close (fds[2]), fds[2] = -1;
    }
  if (fds[2] >= 0)
    close (fds[2]);
  drain (fds[0], 1, buf, sizeof buf);
  drain (fds[1], 2, buf, sizeof buf);
  for (int k = 0; k < 2; k++)
    if (fds[k] >= 0)
      close (fds[k]);
  if (!exited)
    while (waitpid (child, &status, 0) < 0 && errno == EINTR)
      ;
  return status;
}
