/* PTYs for tty workloads: created by the child from the container's own devpts instance (so
 * `tty` inside names a real /dev/pts/N), the master is handed to the monitor over the sync socket. */
#pragma once
#include "error.h"

/* Child side, after pivot_root: open /dev/ptmx, make the slave the controlling terminal on
 * fds 0-2 (owned by uid), send the master to the monitor. */
int pty_setup_child (int sync_fd, unsigned short rows, unsigned short cols, unsigned uid, tank_err_t *err);
int pty_resize (int master, unsigned short rows, unsigned short cols);

/* A new pty pair from this mount namespace's /dev/ptmx (both fds close-on-exec), the slave owned by
 * uid. Returns the master; -1 on error. */
int pty_open (unsigned uid, int *slave, tank_err_t *err);

/* New session, `slave` as its controlling terminal on fds 0-2. */
int pty_take (int slave, tank_err_t *err);
