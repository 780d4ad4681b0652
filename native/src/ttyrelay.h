/* `enter --tty`: the exec'd command gets a terminal from the container's own devpts instance (so
 * `tty` inside names a real /dev/pts/N, as with runc/crun's console socket), and the helper relays
 * between its own stdio (the caller's terminal) and that terminal's master. */
#pragma once
#include <signal.h>
#include <sys/types.h>

#include "error.h"

/* After joining the container's mount namespace: open /dev/ptmx there, sized like fd 0. */
int ttyrelay_open_master (tank_err_t *err);

/* In the forked child: new session, the pty slave (owned by uid) as controlling tty on fds 0-2. */
int ttyrelay_child_setup (int master, unsigned uid, tank_err_t *err);

/* In the parent: relay until the child exits and its output is drained. `set` holds the blocked
 * signals (SIGCHLD and those to forward); SIGWINCH resizes. Returns the child's wait status. */
int ttyrelay_run (int master, pid_t child, const sigset_t *set);
