/* `tank-helper monitor --config FILE`: the lifecycle of one workload, in order (PROTOCOL.md §3-5). */
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "json.h"
#include "proto.h"
#include "spawner.h"

static int
listen_socket (monitor_t *m, const char *path, tank_err_t *err)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  snprintf (sa.sun_path, sizeof sa.sun_path, "%s", path);
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return tank_error (err, errno, "socket", "socket");
  /* A live monitor on this path must not be displaced; a stale socket file is replaced. The kernel
   * completes the connect (or, backlog full, says EAGAIN) whatever that monitor's slots are, so a
   * busy monitor counts as live too. */
  if (connect (fd, (struct sockaddr *) &sa, sizeof sa) == 0 || errno == EAGAIN)
    {
      close (fd);
      return tank_error (err, EADDRINUSE, "socket", "a monitor already listens on `%s`", path);
    }
  close (fd);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  unlink (path);
  mode_t old = umask (0177);
  int r = bind (fd, (struct sockaddr *) &sa, sizeof sa);
  umask (old);
  struct stat st;
  if (r < 0 || lstat (path, &st) < 0 || chmod (path, 0600) < 0 || listen (fd, 128) < 0)
    {
      tank_error (err, errno, "socket", "bind/listen `%s`", path);
      if (r == 0)
        unlink (path);
      close (fd);
      return -1;
    }
  m->sock_dev = st.st_dev;
  m->sock_ino = st.st_ino;
  return fd;
}

/* Remove the socket file only if the path still names the one this monitor bound: an old monitor
 * lingering after its file was removed must not delete the socket of the monitor that replaced it.
 * (Between the lstat and the unlink the path could still change; only a removal of our own file
 * plus a new bind inside that window could be hit, and nothing in Tank does both.) */
static void
unlink_own_socket (monitor_t *m)
{
  struct stat st;
  if (m->sock_ino == 0 || lstat (m->cfg->socket_path, &st) < 0)
    return;
  if (S_ISSOCK (st.st_mode) && st.st_dev == m->sock_dev && st.st_ino == m->sock_ino)
    unlink (m->cfg->socket_path);
}

void
workload_kill (monitor_t *m, int sig)
{
  if (!m->reaped && m->sp.pid > 0)
    kill (m->sp.pid, sig);
}

/* Bit `sig` of a signal mask line of /proc/<pid>/status ("\nSigCgt:" ...); -1 if it is not there. */
static int
status_mask_bit (const char *status, const char *field, int sig)
{
  const char *line = strstr (status, field);
  unsigned long long mask = 0;
  if (line == NULL || sscanf (line + strlen (field), "%llx", &mask) != 1)
    return -1;
  return (int) ((mask >> (sig - 1)) & 1ULL);
}

/* Whether the workload waits in sigwaitinfo/sigtimedwait (tank-init, tini, dumb-init): the kernel
 * unblocks the awaited signals while it waits, so SigBlk reads 0 though the signal is taken. */
static bool
in_sigwait (monitor_t *m)
{
  char path[64], *text = NULL;
  size_t len = 0;
  tank_err_t err;
  snprintf (path, sizeof path, "/proc/%d/syscall", (int) m->sp.pid);
  if (read_file (path, 4096, &text, &len, &err) < 0)
    return true; /* unknown: the safe side */
  long nr = -1;
  bool waiting = sscanf (text, "%ld", &nr) == 1 && nr == SYS_rt_sigtimedwait;
  free (text);
  return waiting;
}

/* What became of `sig`, sent to the workload: whether it has a handler for it (SigCgt), blocks it
 * (SigBlk, or waits for it in sigwaitinfo: tank-init, tini) or has it pending (ShdPnd, SigPnd:
 * queued, not dropped). On any doubt (an unreadable or
 * odd file) the answer is "caught", which keeps the grace period: the safe side. */
static void
workload_signal_fate (monitor_t *m, int sig, bool *caught, bool *queued)
{
  char path[64], *text = NULL;
  size_t len = 0;
  tank_err_t err;
  *caught = true;
  *queued = false;
  snprintf (path, sizeof path, "/proc/%d/status", (int) m->sp.pid);
  if (read_file (path, 1 << 16, &text, &len, &err) < 0)
    return;
  int cgt = status_mask_bit (text, "\nSigCgt:", sig), blk = status_mask_bit (text, "\nSigBlk:", sig),
      shd = status_mask_bit (text, "\nShdPnd:", sig), own = status_mask_bit (text, "\nSigPnd:", sig);
  free (text);
  if (cgt < 0 || blk < 0 || shd < 0 || own < 0)
    return;
  *caught = cgt == 1 || in_sigwait (m);
  *queued = blk == 1 || shd == 1 || own == 1;
}

/* The workload is PID 1 of its own pid namespace, and the kernel drops a signal such an init has no
 * handler for (pid_namespaces(7)): a plain `sleep` never sees SIGTERM, and waiting out its grace
 * period would only delay the SIGKILL that ends it anyway. Dropped = no handler, not blocked, not
 * pending. A blocked or pending signal is looked at again (20 ms, doubling to 500 ms): it may be
 * taken by sigwaitinfo (tank-init), by a handler installed meanwhile (the grace period stays), or
 * dropped when the set-up unblocks it (SIGKILL then). The status is read after the kill, so a
 * handler installed in between reads as caught: the safe side. */
static void
check_stop_signal (monitor_t *m, int64_t now)
{
  bool caught, queued;
  /* tank-init takes every signal it can (sigwaitinfo), and the monitor's child keeps them all
   * blocked from its first step through tank-init's exec: nothing sent to it is ever dropped. The
   * look below could misread it: it reads the status while tank-init sits in sigwaitinfo (SigBlk
   * 0) and the syscall file after it woke (to forward this very signal, or reap), which reads as
   * "dropped" and brought the SIGKILL at once (CI at 8b17bf2: exit "signaled" instead of 143). */
  if (m->cfg->init_path != NULL)
    caught = true, queued = false;
  else
    workload_signal_fate (m, m->stop_sig, &caught, &queued);
  if (caught)
    m->stop_recheck = 0, m->stop_dropped_once = false;
  else if (queued)
    {
      m->stop_dropped_once = false;
      m->stop_recheck_ms = m->stop_recheck_ms == 0 ? 20 : m->stop_recheck_ms * 2;
      if (m->stop_recheck_ms > 500)
        m->stop_recheck_ms = 500;
      m->stop_recheck = now + m->stop_recheck_ms;
    }
  else if (!m->stop_dropped_once)
    {
      /* The same misreading can hit an init of the image's own (tini, dumb-init), so "dropped" is
       * believed only when a second look 5 ms later says it again: a sigwaiter is then back in
       * sigwaitinfo (caught), busy with its mask full (queued) or gone. */
      m->stop_dropped_once = true;
      m->stop_recheck = now + 5;
    }
  else
    {
      m->stop_recheck = 0;
      m->stop_deadline = now;
    }
}

void
workload_stop (monitor_t *m, int sig, int64_t grace_ms)
{
  workload_kill (m, sig);
  int64_t now = monotonic_ms (), deadline = now + grace_ms;
  if (m->stop_deadline == 0 || deadline < m->stop_deadline)
    m->stop_deadline = deadline;
  if (sig != SIGKILL && !m->reaped && m->sp.pid > 0)
    {
      m->stop_sig = sig;
      m->stop_recheck_ms = 0;
      m->stop_dropped_once = false;
      check_stop_signal (m, now);
    }
}

void
workload_proceed (monitor_t *m)
{
  /* sync 3: forward the agent's proceed; the child now sets up the container and execs. */
  if (sync_send (m->sp.sync_fd, SYNC_PROCEED, NULL, -1) < 0)
    {
      workload_abort (m, "proceed", errno, "could not reach the parked workload");
      return;
    }
  m->state = ST_STARTING;
  m->proceeded = true;
  m->park_deadline = 0;
}

void
workload_abort (monitor_t *m, const char *step, int errnum, const char *why)
{
  if (!m->has_setup_err)
    {
      tank_error (&m->setup_err, 0, step, "%s", why);
      m->setup_err.errnum = errnum;
      m->has_setup_err = true;
    }
  workload_kill (m, SIGKILL);
}

static void
on_sync (monitor_t *m)
{
  sync_msg_t msg;
  int fd;
  int r = sync_recv (m->sp.sync_fd, &msg, &fd);
  if (r == 1 && msg.type == SYNC_PTY && fd >= 0)
    {
      set_nonblock (fd);
      m->pty_fd = fd;
      return;
    }
  if (fd >= 0)
    close (fd);
  if (r == 1 && msg.type == SYNC_ERROR && !m->has_setup_err)
    {
      m->has_setup_err = true;
      m->setup_err.errnum = msg.errnum;
      memcpy (m->setup_err.step, msg.step, sizeof msg.step);
      memcpy (m->setup_err.message, msg.message, sizeof msg.message);
    }
  if (r == 1)
    return;
  /* sync 4: EOF. The child's end was CLOEXEC, so without an error this means execve succeeded. */
  close (m->sp.sync_fd);
  m->sp.sync_fd = -1;
  if (!m->has_setup_err && m->state == ST_STARTING)
    {
      m->state = ST_RUNNING;
      now_rfc3339 (m->started_at);
      clients_on_running (m);
    }
}

static void
read_stream (monitor_t *m, int *fd, log_stream_t *ls, int frame)
{
  char chunk[65536];
  for (int rounds = 0; rounds < 16; rounds++)
    {
      ssize_t r = read (*fd, chunk, sizeof chunk);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0 && errno == EAGAIN)
        return;
      if (r <= 0) /* EOF, or EIO from a PTY master once every slave fd is closed */
        {
          close (*fd);
          *fd = -1;
          return;
        }
      log_feed (&m->log, ls, chunk, (size_t) r);
      attach_output (m, frame, chunk, (size_t) r);
    }
}

static void
reap (monitor_t *m)
{
  struct signalfd_siginfo si;
  while (read (m->sig_fd, &si, sizeof si) == (ssize_t) sizeof si)
    if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
      {
        if (m->state == ST_PARKED)
          workload_abort (m, "aborted", ECANCELED, "monitor terminated while parked");
        else if (!m->reaped && m->stop_deadline == 0)
          {
            workload_stop (m, SIGTERM, 10000);
          }
        else if (m->finalized)
          m->released = true;
      }
  int st;
  pid_t p;
  /* As a subreaper we also inherit the workload's orphans; only the workload's status matters. */
  while ((p = waitpid (-1, &st, WNOHANG)) > 0)
    if (p == m->sp.pid)
      {
        m->reaped = true;
        m->wait_status = st;
      }
}

static void
exit_record (monitor_t *m)
{
  tbuf_t *b = &m->exit_json;
  now_rfc3339 (m->finished_at);
  buf_printf (b, "{\"version\":1,\"pid\":%d,\"startTime\":%llu,", (int) m->sp.pid, m->start_time);
  if (m->started_at[0])
    buf_printf (b, "\"startedAt\":\"%s\",", m->started_at);
  buf_printf (b, "\"finishedAt\":\"%s\",", m->finished_at);
  if (m->has_setup_err)
    {
      buf_puts (b, "\"reason\":\"setup_failed\",\"setupError\":");
      json_write_error (b, &m->setup_err);
    }
  else if (WIFSIGNALED (m->wait_status))
    buf_printf (b, "\"reason\":\"signaled\",\"signal\":%d", WTERMSIG (m->wait_status));
  else
    buf_printf (b, "\"reason\":\"exited\",\"exitCode\":%d", WEXITSTATUS (m->wait_status));
  buf_puts (b, "}");
}

static void
finalize (monitor_t *m)
{
  /* The pid namespace is gone with its init, so every writer of our pipes is dead: drain to EOF
   * (bounded, in case a pipe end leaked to a process outside the namespace). */
  while (m->sp.sync_fd >= 0)
    on_sync (m); /* a setup error sent just before the child exited */
  int64_t until = monotonic_ms () + 1000;
  while ((m->sp.out_fd >= 0 || m->sp.err_fd >= 0 || m->pty_fd >= 0) && monotonic_ms () < until)
    {
      struct pollfd p[3] = { { m->sp.out_fd, POLLIN, 0 }, { m->sp.err_fd, POLLIN, 0 }, { m->pty_fd, POLLIN, 0 } };
      if (poll (p, 3, 100) < 0 && errno != EINTR)
        break;
      if (m->sp.out_fd >= 0 && p[0].revents)
        read_stream (m, &m->sp.out_fd, &m->ls_out, F_STDOUT);
      if (m->sp.err_fd >= 0 && p[1].revents)
        read_stream (m, &m->sp.err_fd, &m->ls_err, F_STDERR);
      if (m->pty_fd >= 0 && p[2].revents)
        read_stream (m, &m->pty_fd, &m->ls_tty, F_TTY);
    }
  log_flush (&m->log, &m->ls_out);
  log_flush (&m->log, &m->ls_err);
  log_flush (&m->log, &m->ls_tty);
  log_close (&m->log);
  for (int *fd = &m->sp.sync_fd; fd; fd = fd == &m->sp.sync_fd ? &m->sp.in_fd : NULL)
    if (*fd >= 0)
      close (*fd), *fd = -1;
  exit_record (m);
  tank_err_t err;
  cleanup_buf tbuf_t line = { 0 };
  buf_printf (&line, "%s\n", m->exit_json.data);
  /* Atomic (.tmp + rename), so a reader never sees a torn record; not fsync'd (each fsync costs
   * milliseconds per container exit): after a machine crash a missing record reads as "killed".
   * Failure is not fatal: the record is still served on the socket. */
  (void) write_file_atomic (m->cfg->exit_path, line.data, line.len, &err);
  m->state = ST_EXITED;
  m->finalized = true;
  m->stop_deadline = 0;
  m->stop_recheck = 0;
  m->linger_deadline = monotonic_ms () + m->cfg->linger_ms;
  clients_on_exit (m);
}

static int
poll_timeout (monitor_t *m)
{
  int64_t now = monotonic_ms (), next = -1;
  /* The park deadline only matters while parked: a workload that left that state otherwise (abort,
   * early exit) would leave an expired deadline behind and turn poll into a busy loop. */
  int64_t ds[4] = { m->state == ST_PARKED ? m->park_deadline : 0, m->stop_deadline,
                    m->finalized ? m->linger_deadline : 0, m->stop_deadline > 0 ? m->stop_recheck : 0 };
  for (int k = 0; k < 4; k++)
    if (ds[k] > 0 && (next < 0 || ds[k] < next))
      next = ds[k];
  if (next < 0)
    return -1;
  return next <= now ? 0 : (int) (next - now > 60000 ? 60000 : next - now);
}

static void
check_deadlines (monitor_t *m)
{
  int64_t now = monotonic_ms ();
  if (m->park_deadline > 0 && now >= m->park_deadline && m->state == ST_PARKED)
    {
      m->park_deadline = 0;
      workload_abort (m, "checkpoint_timeout", ETIMEDOUT, "no proceed from the agent before parkTimeoutMs");
    }
  if (m->stop_deadline > 0 && m->stop_recheck > 0 && now >= m->stop_recheck && !m->reaped)
    check_stop_signal (m, now);
  if (m->stop_deadline > 0 && now >= m->stop_deadline)
    {
      m->stop_deadline = 0;
      m->stop_recheck = 0;
      workload_kill (m, SIGKILL);
    }
}

static void
loop_once (monitor_t *m)
{
  struct pollfd p[8 + MAX_CLIENTS];
  int n = 0;
  int listen_i = n;
  p[n++] = (struct pollfd) { m->listen_fd, POLLIN, 0 };
  p[n++] = (struct pollfd) { m->sig_fd, POLLIN, 0 };
  p[n++] = (struct pollfd) { m->sp.sync_fd, POLLIN, 0 };
  p[n++] = (struct pollfd) { m->sp.out_fd, POLLIN, 0 };
  p[n++] = (struct pollfd) { m->sp.err_fd, POLLIN, 0 };
  p[n++] = (struct pollfd) { m->pty_fd, (short) (POLLIN | (m->stdin_pending.len ? POLLOUT : 0)), 0 };
  p[n++] = (struct pollfd) { m->stdin_pending.len ? m->sp.in_fd : -1, POLLOUT, 0 };
  int first_client = n;
  for (int k = 0; k < MAX_CLIENTS; k++)
    {
      /* The attacher is read only while its unparsed input is bounded (stdin backpressure). */
      bool full = k == m->attacher && m->clients[k].in.len >= 4 * LINE_MAX_BYTES;
      p[n++] = (struct pollfd) { m->clients[k].mode ? m->clients[k].fd : -1,
                                 (short) ((full ? 0 : POLLIN) | (m->clients[k].out.len ? POLLOUT : 0)), 0 };
    }
  if (poll (p, (nfds_t) n, poll_timeout (m)) < 0 && errno != EINTR)
    return;
  if (p[1].revents)
    reap (m);
  if (m->sp.sync_fd >= 0 && p[2].revents)
    on_sync (m);
  if (m->sp.out_fd >= 0 && p[3].revents)
    read_stream (m, &m->sp.out_fd, &m->ls_out, F_STDOUT);
  if (m->sp.err_fd >= 0 && p[4].revents)
    read_stream (m, &m->sp.err_fd, &m->ls_err, F_STDERR);
  if (m->pty_fd >= 0 && (p[5].revents & POLLOUT))
    stdin_flush (m);
  if (m->pty_fd >= 0 && (p[5].revents & (POLLIN | POLLHUP | POLLERR)))
    read_stream (m, &m->pty_fd, &m->ls_tty, F_TTY);
  if (p[6].revents)
    stdin_flush (m);
  /* Room in the stdin buffer again: take the attacher's frames that waited for it. */
  if (m->attacher >= 0 && m->clients[m->attacher].mode != C_FREE && m->clients[m->attacher].in.len > 0
      && m->stdin_pending.len < STDIN_MAX)
    attach_frames (m, m->attacher);
  for (int k = 0; k < MAX_CLIENTS; k++)
    {
      short re = p[first_client + k].revents;
      if (m->clients[k].mode != C_FREE && (re & (POLLIN | POLLHUP | POLLERR)))
        client_readable (m, k);
      if (m->clients[k].mode != C_FREE && m->clients[k].out.len)
        client_writable (m, k);
    }
  if (p[listen_i].revents & POLLIN)
    client_accept (m);
  check_deadlines (m);
  if (m->reaped && !m->finalized)
    finalize (m);
}

static unsigned long long
proc_start_time (pid_t pid)
{
  char path[64];
  cleanup_free char *text = NULL;
  size_t len;
  tank_err_t err;
  unsigned long long t = 0;
  snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
  if (read_file (path, 65536, &text, &len, &err) < 0)
    return 0;
  char *p = strrchr (text, ')'); /* comm may contain spaces and parens */
  /* after ")": state(3) ... starttime is field 22, i.e. the 20th token after ')' */
  for (int field = 2; p && field < 22; field++)
    p = strchr (p + 1, ' ');
  if (p)
    t = strtoull (p + 1, NULL, 10);
  return t;
}

/* sync 1..2 happen here, before "ready": clone, wait for the park message (the workload has joined
 * its cgroups by then). */
static int
start_workload (monitor_t *m, tank_err_t *err)
{
  sync_msg_t msg;
  int fd;
  if (spawn_workload (m->cfg, &m->sp, err) < 0)
    return -1;
  int r = sync_recv (m->sp.sync_fd, &msg, &fd);
  if (fd >= 0)
    close (fd);
  if (r == 1 && msg.type == SYNC_PARKED)
    {
      m->state = ST_PARKED;
      m->start_time = proc_start_time (m->sp.pid);
      if (m->cfg->park_timeout_ms > 0)
        m->park_deadline = monotonic_ms () + m->cfg->park_timeout_ms;
      set_nonblock (m->sp.sync_fd);
      if (m->sp.out_fd >= 0)
        set_nonblock (m->sp.out_fd), set_nonblock (m->sp.err_fd);
      if (m->sp.in_fd >= 0)
        set_nonblock (m->sp.in_fd);
      return 0;
    }
  if (r == 1 && msg.type == SYNC_ERROR)
    {
      err->errnum = msg.errnum;
      memcpy (err->step, msg.step, sizeof msg.step);
      memcpy (err->message, msg.message, sizeof msg.message);
    }
  else
    tank_error (err, r < 0 ? errno : EPIPE, "spawn", "workload died before the checkpoint");
  kill (m->sp.pid, SIGKILL);
  waitpid (m->sp.pid, NULL, 0);
  return -1;
}

static int
become_monitor (monitor_t *m, tank_err_t *err)
{
  sigset_t set;
  sigemptyset (&set);
  sigaddset (&set, SIGCHLD);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGINT);
  sigprocmask (SIG_BLOCK, &set, NULL);
  signal (SIGPIPE, SIG_IGN);
  signal (SIGHUP, SIG_IGN);
  m->sig_fd = signalfd (-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (m->sig_fd < 0)
    return tank_error (err, errno, "monitor", "signalfd");
  if (prctl (PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
    return tank_error (err, errno, "monitor", "PR_SET_CHILD_SUBREAPER");
  /* Out of the agent's cgroup (a service manager stopping the agent kills its whole cgroup). */
  for (size_t k = 0; m->cfg->monitor_cgroup_procs[k]; k++)
    if (write_int_file (m->cfg->monitor_cgroup_procs[k], getpid (), err, "monitor_cgroup") < 0)
      return -1;
  /* -1000 needs CAP_SYS_RESOURCE; without it the monitor keeps its score (best effort). */
  tank_err_t ignored;
  (void) write_int_file ("/proc/self/oom_score_adj", -1000, &ignored, "oom_score_adj");
  int devnull = open ("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0 || dup2 (devnull, 0) < 0 || dup2 (devnull, 1) < 0 || dup2 (devnull, 2) < 0)
    return tank_error (err, errno, "monitor", "redirect stdio to /dev/null");
  close (devnull);
  if (chdir ("/") < 0)
    return tank_error (err, errno, "monitor", "chdir /");
  return 0;
}

/* The original process: relay the monitor's one-line verdict to stdout, exit 0 on ready. */
static int
relay_ready (int rfd, pid_t first)
{
  cleanup_buf tbuf_t b = { 0 };
  char chunk[4096];
  ssize_t r;
  /* Up to the first newline, not EOF: the parked workload still holds a copy of the pipe. */
  while ((b.len == 0 || b.data[b.len - 1] != '\n') && (r = read (rfd, chunk, sizeof chunk)) != 0)
    if (r > 0)
      buf_append (&b, chunk, (size_t) r);
    else if (errno != EINTR)
      break;
  (void) first; /* not reaped: it is the monitor, it outlives us (init adopts it) */
  if (b.len == 0)
    buf_puts (&b, "{\"error\":{\"step\":\"monitor\",\"errno\":0,\"message\":\"monitor died before ready\"}}\n");
  write_all (1, b.data, b.len);
  return strncmp (b.data ? b.data : "", "{\"ready\"", 8) == 0 ? 0 : 1;
}

static int
monitor_run (monitor_t *m, int ready_fd)
{
  tank_err_t err = { 0 };
  if (become_monitor (m, &err) < 0 || start_workload (m, &err) < 0)
    {
      tank_error_print (ready_fd, &err);
      unlink_own_socket (m);
      return 1;
    }
  cleanup_buf tbuf_t r = { 0 };
  buf_printf (&r,
              "{\"ready\":true,\"protocol\":%d,\"monitorPid\":%d,\"monitorStartTime\":%llu,\"pid\":%d,"
              "\"startTime\":%llu}\n",
              PROTOCOL_VERSION, (int) getpid (), proc_start_time (getpid ()), (int) m->sp.pid, m->start_time);
  write_all (ready_fd, r.data, r.len);
  close (ready_fd);
  while (!(m->finalized && (m->released || monotonic_ms () >= m->linger_deadline)))
    loop_once (m);
  for (int k = 0; k < MAX_CLIENTS; k++)
    if (m->clients[k].mode != C_FREE)
      {
        client_writable (m, k); /* best effort: the final replies (release ok) */
        client_close (m, k);
      }
  unlink_own_socket (m);
  return 0;
}

/* A monitor of the spawner's --monitor-pool (spawner.c), exec'd before any request: wait for the
 * config path on stdin, then become exactly the monitor a fork would have started. The path is
 * written over our own argv[3] (the room MONITOR_POOL_ARG left; NULs after it), so
 * /proc/<pid>/cmdline names it as argv[3] like any monitor's: an agent finds us by it. Nothing
 * of a pod is known or held before that: one waiting monitor serves one config, once. EOF with no
 * path: the spawner let us go (or died: PDEATHSIG has killed us then). Returns -1 to exit. */
static int
pooled_claim (char *room)
{
  pid_t spawner = (pid_t) atoi (getenv (POOLED_ENV));
  unsetenv (POOLED_ENV);
  size_t cap = strlen (room);
  char req[sizeof MONITOR_POOL_ARG];
  size_t len = 0;
  for (;;)
    {
      ssize_t r = read (0, req + len, sizeof req - len);
      if (r == 0)
        break;
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return -1;
      len += (size_t) r;
      if (len == sizeof req)
        return -1; /* longer than any path the spawner hands out */
    }
  if (len == 0 || req[len - 1] != '\0' || strlen (req) != len - 1 || len - 1 > cap || len == 1)
    return -1; /* unclaimed (or not a path): nothing was made, nothing to say */
  /* Claimed: from here on a monitor like any other, which outlives the spawner. */
  prctl (PR_SET_PDEATHSIG, 0, 0, 0, 0);
  /* Waiting, it was idle-class (spawner.c); it takes the spawner's scheduling now, before anything
   * of the pod, as a forked monitor inherits it (and its workload from it). Exactly that or no
   * start: a spawner gone meanwhile fails the request anyway. */
  tank_err_t err = { 0 };
  struct sched_param prm;
  int policy;
  errno = 0;
  int nice = getppid () == spawner ? getpriority (PRIO_PROCESS, (id_t) spawner) : -100;
  if (nice == -100 || errno != 0 || (policy = sched_getscheduler (spawner)) < 0 || sched_getparam (spawner, &prm) < 0
      || sched_setscheduler (0, policy, &prm) < 0 || setpriority (PRIO_PROCESS, 0, nice) < 0)
    {
      tank_error (&err, errno ? errno : ESRCH, "monitor", "take the spawner's scheduling");
      tank_error_print (1, &err);
      return -1;
    }
  int devnull = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0 || dup2 (devnull, 0) < 0)
    return -1;
  close (devnull);
  memset (room, 0, cap);
  memcpy (room, req, len - 1);
  return 0;
}

int
monitor_main (int argc, char **argv)
{
  static monitor_config_t cfg;
  static monitor_t m;
  tank_err_t err = { 0 };
  char *path = NULL;
  for (int k = 0; k + 1 < argc; k++)
    if (strcmp (argv[k], "--config") == 0)
      path = argv[k + 1];
  /* Only the spawner's waiting monitor (its room as argv[3]) waits for a path: the variable alone,
   * inherited by a monitor started otherwise, changes nothing. */
  if (getenv (POOLED_ENV) != NULL && (path == NULL || strcmp (path, MONITOR_POOL_ARG) != 0))
    unsetenv (POOLED_ENV);
  if (getenv (POOLED_ENV) != NULL && pooled_claim (path) < 0)
    return 1;
  if (path == NULL)
    {
      tank_error (&err, EINVAL, "usage", "usage: tank-helper monitor --config FILE");
      tank_error_print (1, &err);
      return 2;
    }
  /* Nothing the starting process held (an agent launched with stray descriptors, a test runner's
   * pipes) may reach the monitor's workload: only stdio is kept; everything below is opened here. */
  close_range (3, ~0U, 0);
  memset (&m, 0, sizeof m);
  m.cfg = &cfg;
  m.pty_fd = m.listen_fd = m.sig_fd = -1;
  m.attacher = -1;
  m.sp = (spawn_t) { -1, -1, -1, -1, -1 };
  m.ls_out = (log_stream_t) { "stdout", false, { 0 } };
  m.ls_err = (log_stream_t) { "stderr", false, { 0 } };
  m.ls_tty = (log_stream_t) { "tty", true, { 0 } };
  m.log.fd = -1;
  /* Started by the spawner: it answers at the ready line and this process stays its child (it is
   * re-parented like any orphan if the spawner dies), so no starter has to relay the line and exit. */
  bool spawned = getenv (SPAWNED_ENV) != NULL;
  unsetenv (SPAWNED_ENV);
  int pfd[2];
  if (config_load (path, &cfg, &err) < 0 || (m.listen_fd = listen_socket (&m, cfg.socket_path, &err)) < 0
      || log_open (&m.log, cfg.log_path, cfg.log_max_bytes, cfg.log_max_files, &err) < 0
      || (spawned ? (pfd[1] = fcntl (1, F_DUPFD_CLOEXEC, 3)) : pipe2 (pfd, O_CLOEXEC)) < 0)
    {
      if (m.listen_fd >= 0)
        unlink_own_socket (&m);
      if (err.step[0] == '\0')
        tank_error (&err, errno, "monitor", "pipe");
      tank_error_print (1, &err);
      return 1;
    }
  /* fork + setsid: once the starter exits the monitor is nobody's child but init's (or a
   * subreaper's), so it survives the agent, and no terminal signal reaches it. A second fork (the
   * classic guard against re-acquiring a controlling tty) is not needed: the monitor never opens a
   * terminal (the PTY master arrives by SCM_RIGHTS), and each fork costs a scheduling hop. */
  if (spawned)
    {
      setsid ();
      int rc = monitor_run (&m, pfd[1]);
      config_free (&cfg);
      _exit (rc);
    }
  pid_t first = fork ();
  if (first < 0)
    {
      tank_error (&err, errno, "monitor", "fork");
      tank_error_print (1, &err);
      unlink_own_socket (&m);
      return 1;
    }
  if (first > 0)
    {
      close (pfd[1]);
      return relay_ready (pfd[0], first);
    }
  close (pfd[0]);
  setsid ();
  int rc = monitor_run (&m, pfd[1]);
  config_free (&cfg);
  _exit (rc);
}
