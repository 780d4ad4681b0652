/* `enter` without a terminal: the command's stdio are pipes, relayed to and from the helper's own
 * stdio, so the command never holds a descriptor of the caller's terminal (no TIOCSTI, no termios
 * changes, no reads of the caller's keyboard beyond what we pass). */
#pragma once
#include <signal.h>
#include <sys/types.h>

/* Relay fd 0 -> in_w (closed at EOF), out_r -> fd 1, err_r -> fd 2 until the child exited and its
 * output is drained; forwards the signals in `set` (but SIGCHLD) to the child. Returns its wait status. */
int piperelay_run (int in_w, int out_r, int err_r, pid_t child, const sigset_t *set);
