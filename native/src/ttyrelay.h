/* `enter --tty`: the exec'd command gets a terminal from the container's own devpts instance (so
 * `tty` inside names a real /dev/pts/N, as with runc/crun's console socket), and the helper relays
 * between its own stdio (the caller's terminal) and that terminal's master. */
#pragma once
#include <signal.h>
#include <sys/types.h>


/* In the parent: relay until the child exits and its output is drained. `set` holds the blocked
 * signals (SIGCHLD and those to forward); SIGWINCH resizes. Returns the child's wait status. */
int ttyrelay_run (int master, pid_t child, const sigset_t *set);
