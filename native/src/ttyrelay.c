#include "ttyrelay.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "util.h"

int
ttyrelay_run (int master, pid_t child, const sigset_t *set)
{
  sigset_t with_winch = *set;
  sigaddset (&with_winch, SIGWINCH);
  sigprocmask (SIG_BLOCK, &with_winch, NULL);
  cleanup_close int sfd = signalfd (-1, &with_winch, SFD_CLOEXEC);
  /* The caller's terminal passes every byte through: the container's terminal does the line
   * discipline (echo, ^C → SIGINT to its foreground group). Restored before we exit. */
  struct termios saved;
  int raw = isatty (0) && tcgetattr (0, &saved) == 0;
  if (raw)
    {
      struct termios t = saved;
      cfmakeraw (&t);
      tcsetattr (0, TCSANOW, &t);
    }
  int status = 0;
  bool exited = false, in_open = true;
  char buf[16384];
  for (;;)
    {
      struct pollfd p[3] = {
        { .fd = sfd, .events = POLLIN },
        { .fd = master, .events = POLLIN },
        { .fd = in_open ? 0 : -1, .events = POLLIN },
      };
      /* Once the command exited, drain what it wrote without blocking for more. */
      if (poll (p, 3, exited ? 0 : -1) < 0)
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
                {
                  if (!exited && waitpid (child, &status, WNOHANG) == child)
                    exited = true;
                }
              else if (si.ssi_signo == SIGWINCH)
                {
                  struct winsize ws;
                  if (ioctl (0, TIOCGWINSZ, &ws) == 0)
                    ioctl (master, TIOCSWINSZ, &ws);
                }
              else if (si.ssi_signo == SIGHUP && !exited)
                {
                  in_open = false;
                  break; /* our terminal hung up: so does the command's (below) */
                }
              else if (!exited)
                kill (child, (int) si.ssi_signo);
            }
        }
      if (p[1].revents & (POLLIN | POLLHUP | POLLERR))
        {
          ssize_t n = read (master, buf, sizeof buf);
          if (n > 0)
            {
              if (write_all (1, buf, (size_t) n) < 0)
                in_open = false; /* the caller went away; the command gets SIGHUP below */
              continue;
            }
          /* EIO: every holder of the slave closed it. Wait for the command itself. */
          if (!exited && waitpid (child, &status, 0) == child)
            exited = true;
          break;
        }
      else if (exited)
        break;
      if (p[2].revents & (POLLIN | POLLHUP | POLLERR))
        {
          ssize_t n = read (0, buf, sizeof buf);
          if (n > 0)
            write_all (master, buf, (size_t) n);
          else if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
            {
              in_open = false;
              break; /* the caller's terminal is gone: hang up the command's (below) */
            }
        }
    }
  if (!exited)
    {
      /* Hang up as a terminal does: closing the master sends SIGHUP to the command's session
       * leader and foreground job and makes their reads fail, so even a shell that ignores SIGHUP
       * ends. Then wait for the command. */
      close (master);
      while (waitpid (child, &status, 0) < 0 && errno == EINTR)
        ;
    }
  if (raw)
    tcsetattr (0, TCSANOW, &saved);
  return status;
}
