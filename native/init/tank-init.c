/* tank-init: PID 1 of a container whose pod says `init: true` (PROTOCOL.md §3 `init`), like docker's
 * `--init` (tini) or podman's catatonit.
 *
 *   tank-init EXE ARGV0 [ARG...]      (the environment is the workload's)
 *
 * The monitor's child execs this file (through a descriptor opened on the host, so the container
 * needs no copy of it) as its very last step, after every restriction of the workload is in place:
 * this process runs with exactly the workload's ids, capabilities, seccomp filter, no_new_privs,
 * rlimits, namespaces and cgroups, and holds only the workload's stdio. It is linked statically, so
 * nothing of the image (no loader, no libc) runs in it, and its memory holds only its argv and
 * environment, which the workload has too.
 *
 * It forks the workload (EXE with ARGV0 ARG...; EXE was resolved in the container by the monitor),
 * then only waits for signals:
 *  - SIGCHLD: reap every child (orphans of a double-forking workload are re-parented to PID 1);
 *    when the workload itself has ended, exit with its status: its exit code, or 128 + the signal
 *    that killed it (PID 1 cannot re-raise a signal on itself). The kernel then kills whatever is
 *    left in the pid namespace.
 *  - anything else that can be caught: forwarded to the workload, which is not PID 1 and therefore
 *    gets the default action of signals it does not handle (a plain `sleep` dies of SIGTERM).
 *
 * Exit 126 (127: EXE not found) when it cannot start the workload, with a line on stderr.
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Raised by faults in this process, or job control on a terminal it does not use: never forwarded. */
static const int kept[] = { SIGCHLD, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS, SIGABRT, SIGTTIN, SIGTTOU };

static void
say (const char *what, const char *arg)
{
  dprintf (2, "tank-init: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "", strerror (errno));
}

int
main (int argc, char **argv)
{
  if (argc < 3)
    {
      dprintf (2, "usage: tank-init EXE ARGV0 [ARG...]\n");
      return 126;
    }
  sigset_t all, orig;
  sigfillset (&all);
  /* Everything blocked from here on: signals are taken with sigwaitinfo, never by a handler. A
   * blocked signal is queued for PID 1 too, whoever sends it. The monitor's child execs us with
   * everything blocked already (a stop sent right after the exec would otherwise be dropped, PID 1
   * having no handler yet), so the workload gets the empty mask every container starts with. */
  sigprocmask (SIG_SETMASK, &all, NULL);
  sigemptyset (&orig);
  pid_t child = fork ();
  if (child < 0)
    {
      say ("fork", NULL);
      return 126;
    }
  if (child == 0)
    {
      /* Its own process group, the terminal's foreground one when there is a terminal (so ^C and
       * SIGWINCH reach it), as tini does. SIGTTOU is still blocked here, so tcsetpgrp from the
       * background does not stop us. */
      setpgid (0, 0);
      if (isatty (0))
        (void) tcsetpgrp (0, getpid ());
      sigprocmask (SIG_SETMASK, &orig, NULL);
      execv (argv[1], argv + 2);
      int e = errno;
      say ("exec", argv[1]);
      _exit (e == ENOENT ? 127 : 126);
    }
  sigset_t forwarded = all;
  for (size_t k = 0; k < sizeof kept / sizeof kept[0]; k++)
    sigdelset (&forwarded, kept[k]);
  sigset_t waited = forwarded;
  sigaddset (&waited, SIGCHLD);
  for (;;)
    {
      siginfo_t si;
      int sig = sigwaitinfo (&waited, &si);
      if (sig < 0)
        continue; /* EINTR */
      if (sig != SIGCHLD)
        {
          kill (child, sig);
          continue;
        }
      int st;
      pid_t p;
      while ((p = waitpid (-1, &st, WNOHANG)) > 0)
        if (p == child)
          return WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st);
    }
}
