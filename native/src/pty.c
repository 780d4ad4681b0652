#include "pty.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "proto.h"
#include "util.h"

int
pty_resize (int master, unsigned short rows, unsigned short cols)
{
  struct winsize ws = { .ws_row = rows, .ws_col = cols };
  return ioctl (master, TIOCSWINSZ, &ws);
}

int
pty_open (unsigned uid, int *slave_out, tank_err_t *err)
{
  int master = open ("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0)
    return tank_error (err, errno, "pty", "open /dev/ptmx");
  int slave = -1;
  if (unlockpt (master) < 0)
    tank_error (err, errno, "pty", "unlockpt");
  /* TIOCGPTPEER opens the slave through the master, without a path lookup that could be raced. */
  else if ((slave = ioctl (master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
    tank_error (err, errno, "pty", "open pty slave");
  else if (fchown (slave, uid, (gid_t) -1) < 0)
    tank_error (err, errno, "pty", "chown pty slave");
  else
    {
      *slave_out = slave;
      return master;
    }
  if (slave >= 0)
    close (slave);
  close (master);
  return -1;
}

int
pty_take (int slave, tank_err_t *err)
{
  if (setsid () < 0)
    return tank_error (err, errno, "pty", "setsid");
  if (ioctl (slave, TIOCSCTTY, 0) < 0)
    return tank_error (err, errno, "pty", "TIOCSCTTY");
  for (int fd = 0; fd < 3; fd++)
    if (dup2 (slave, fd) < 0)
      return tank_error (err, errno, "pty", "dup2 pty slave onto fd %d", fd);
  return 0;
}

int
pty_setup_child (int sync_fd, unsigned short rows, unsigned short cols, unsigned uid, tank_err_t *err)
{
  int slave_fd = -1;
  cleanup_close int master = pty_open (uid, &slave_fd, err);
  cleanup_close int slave = slave_fd;
  if (master < 0)
    return -1;
  if (pty_resize (master, rows, cols) < 0)
    return tank_error (err, errno, "pty", "set window size");
  if (sync_send (sync_fd, SYNC_PTY, NULL, master) < 0)
    return tank_error (err, errno, "pty", "send pty master to the monitor");
  return pty_take (slave, err);
}
