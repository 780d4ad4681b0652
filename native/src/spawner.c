/* `tank-helper spawner`: a small long-lived process the agent keeps, which runs the one-shot modes
 * (monitor, sandbox, ...) for it: fork of this ~1 MB process + execve of the helper, ~1.2 ms; Node
 * spawning the helper itself forks the whole agent (page tables of ~250 MB): ~20 ms on a busy
 * 2-core VM, twice per pod start. The child execs rather than calling the mode in the fork (0.5 ms
 * less): a monitor then is a plain `tank-helper monitor --config FILE` process (its command line
 * is how an agent finds a monitor it started but did not record) in a fresh address space.
 * PROTOCOL.md §14.
 *
 * Requests on fd 0, one JSON line each: {"id":N,"argv":["sandbox","--dir",...]}. Replies on fd 1,
 * one line each, in completion order: {"id":N,"status":S|null,"signal":G|null,"out":"..."} — the
 * child's whole stdout (at most OUT_MAX bytes kept) once it has exited. A request that cannot be
 * run gets {"id":N,"error":{step,errno,message}} (id -1 when the line had none). EOF on fd 0: the
 * spawner exits at once; children still running go on by themselves (a monitor always does).
 *
 * `--sandbox-pool N` (0..POOL_MAX): N children of ours wait with fresh net, uts and ipc namespaces
 * already made (`lo` up) for a `sandbox` request asking for exactly those, which one of them then
 * runs without the fork, exec and unshare (the namespaces' creation is the slow part of a sandbox:
 * a new netns costs ~0.6 ms of kernel time, more on a busy machine). Each serves one request and
 * exits; a new one is made once it has been answered. They die with the spawner (PDEATHSIG) while
 * unclaimed, and nothing of theirs is pinned until a request names the pod's directory, so an
 * unclaimed one leaves nothing behind.
 *
 * `--monitor-pool N` likewise keeps N monitors exec'd ahead, idle-class, each waiting on its stdin
 * for the config path of one `monitor --config PATH` request (monitor.c `pooled_claim`): the fork,
 * exec and loading of a monitor leave the start's path. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

#include "json.h"
#include "sandbox.h"
#include "spawner.h"
#include "util.h"

#define OUT_MAX (256 * 1024)
#define REQ_MAX (1024 * 1024)
#define POOL_MAX 4

typedef struct {
  int64_t id;
  pid_t pid; /* 0 once reaped */
  int out_fd; /* -1 once closed */
  int wstatus;
  tbuf_t out;
  bool early;   /* a monitor: answered at its ready line, it stays our child (see reply_ready) */
  bool replied; /* answered before its exit: dropped from the list, reaped silently later */
  bool pooled;  /* run by a pool child: a new one is made once it is answered */
  bool mpooled; /* ... a waiting monitor's (else a waiting sandbox's) */
} job_t;

typedef struct {
  job_t *jobs;
  size_t n, cap;
} jobs_t;

/* A pool child waiting for its request (see the top of the file). */
typedef struct {
  pid_t pid;
  int req_fd; /* write end: the request's argv, NUL-separated, then EOF */
  int out_fd; /* read end of its stdout */
} warm_t;

typedef struct {
  warm_t w[POOL_MAX];
  size_t n, want;
  bool off;     /* a pool child failed: the pool is not refilled (every request forks as before) */
  bool monitor; /* waiting monitors (--monitor-pool), else waiting sandboxes (--sandbox-pool) */
  const char *self; /* argv[0] of an exec'd waiting monitor */
} pool_t;

/* Only the modes whose whole answer is their stdout: `enter` relays a terminal, the spawner is one. */
static bool
allowed_mode (const char *m)
{
  static const char *const modes[]
      = { "monitor", "sandbox", "sandbox-remove", "seccomp-compile", "cgroup-devices", "version", NULL };
  for (size_t k = 0; modes[k]; k++)
    if (strcmp (m, modes[k]) == 0)
      return true;
  return false;
}

static void
reply_error (int64_t id, const tank_err_t *err)
{
  cleanup_buf tbuf_t b = { 0 };
  buf_printf (&b, "{\"id\":%lld,\"error\":", (long long) id);
  json_write_error (&b, err);
  buf_puts (&b, "}\n");
  write_all (1, b.data, b.len);
}

static void
reply_done (job_t *j)
{
  cleanup_buf tbuf_t b = { 0 };
  buf_printf (&b, "{\"id\":%lld,", (long long) j->id);
  if (WIFEXITED (j->wstatus))
    buf_printf (&b, "\"status\":%d,\"signal\":null,", WEXITSTATUS (j->wstatus));
  else
    buf_printf (&b, "\"status\":null,\"signal\":%d,", WTERMSIG (j->wstatus));
  buf_puts (&b, "\"out\":");
  json_write_strn (&b, j->out.data ? j->out.data : "", j->out.len);
  buf_puts (&b, "}\n");
  write_all (1, b.data, b.len);
}

/* In the child: default signals, nothing blocked, stdin /dev/null, stdout the reply pipe, stderr
 * the spawner's, no other descriptor of the spawner's; then the helper itself (the same binary as
 * this process, also when the file was replaced since). A monitor is told by SPAWNED_ENV that it
 * need not fork to outlive its starter (monitor.c): the spawner answers at its ready line. */
static void __attribute__ ((noreturn))
run_child (int out_fd, char **argv, bool early)
{
  sigset_t none;
  sigemptyset (&none);
  signal (SIGPIPE, SIG_DFL);
  sigprocmask (SIG_SETMASK, &none, NULL);
  int devnull = open ("/dev/null", O_RDONLY);
  if (devnull < 0 || dup2 (devnull, 0) < 0 || dup2 (out_fd, 1) < 0)
    _exit (125);
  close_range (3, ~0U, 0);
  if (early)
    setenv (SPAWNED_ENV, "1", 1);
  execv ("/proc/self/exe", argv);
  tank_err_t err;
  tank_error (&err, errno, "spawn", "execve /proc/self/exe");
  tank_error_print (1, &err);
  _exit (125);
}

/* In a pool child (either pool), first: the state run_child gives (default signals, nothing blocked,
 * stdout the reply pipe, stderr ours, no other descriptor of ours) but the request pipe as stdin.
 * Unclaimed, it dies with the spawner (PDEATHSIG, which also survives a waiting monitor's exec: no
 * set-id binary): it holds nothing that would outlive it. A spawner already gone before PDEATHSIG
 * was set would never kill it: it leaves at once instead. */
static void
pool_child_prelude (int req_fd, int out_fd, pid_t spawner)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (getppid () != spawner)
    _exit (125);
  sigset_t none;
  sigemptyset (&none);
  signal (SIGPIPE, SIG_DFL);
  sigprocmask (SIG_SETMASK, &none, NULL);
  if (dup2 (req_fd, 0) < 0 || dup2 (out_fd, 1) < 0)
    _exit (125);
  close_range (3, ~0U, 0);
}

/* In a pool child of --sandbox-pool: the prelude; the namespaces made; then one request read to EOF
 * and run. */
static void __attribute__ ((noreturn))
warm_child (int req_fd, int out_fd, pid_t spawner)
{
  pool_child_prelude (req_fd, out_fd, spawner);
  tank_err_t err = { 0 };
  if (sandbox_prepare (&err) < 0)
    {
      /* Said to the request that may already be on its way (the spawner stops the pool). */
      tank_error_print (1, &err);
      _exit (125);
    }
  tbuf_t req = { 0 };
  char chunk[4096];
  for (;;)
    {
      ssize_t r = read (0, chunk, sizeof chunk);
      if (r == 0)
        break;
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        _exit (125);
      buf_append (&req, chunk, (size_t) r);
    }
  if (req.len == 0 || req.data[req.len - 1] != '\0')
    _exit (0); /* the spawner let it go unclaimed */
  /* Claimed: from here on it is an ordinary sandbox helper, which finishes even if the spawner dies
   * (an agent killed mid-start undoes the `starting` run, unpinning whatever was made). */
  prctl (PR_SET_PDEATHSIG, 0, 0, 0, 0);
  int devnull = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0 || dup2 (devnull, 0) < 0)
    _exit (125);
  int argc = 0;
  for (size_t k = 0; k < req.len; k++)
    argc += req.data[k] == '\0';
  char **argv = calloc ((size_t) argc + 1, sizeof *argv);
  if (argv == NULL)
    _exit (125);
  for (size_t k = 0, a = 0; k < req.len; k += strlen (req.data + k) + 1)
    argv[a++] = req.data + k;
  _exit (sandbox_main_prepared (argc, argv));
}

/* In a pool child of --monitor-pool: the prelude and SPAWNED_ENV (the state run_child gives a
 * monitor, but the request pipe as stdin), exec'd ahead as `tank-helper monitor --config
 * <MONITOR_POOL_ARG>`: it waits there for the one config path the spawner hands it (monitor.c,
 * POOLED_ENV). */
static void __attribute__ ((noreturn))
warm_monitor (int req_fd, int out_fd, pid_t spawner, const char *self)
{
  /* Idle-class first, before anything else it runs, whichever of us runs first (pool_fill sets it
   * too; the claimed monitor checks it has the spawner's scheduling back whatever the order was). */
  struct sched_param idle = { 0 };
  (void) sched_setscheduler (0, SCHED_IDLE, &idle);
  pool_child_prelude (req_fd, out_fd, spawner);
  char spawner_pid[24];
  snprintf (spawner_pid, sizeof spawner_pid, "%d", (int) spawner);
  setenv (SPAWNED_ENV, "1", 1);
  setenv (POOLED_ENV, spawner_pid, 1);
  char *argv[] = { (char *) self, "monitor", "--config", MONITOR_POOL_ARG, NULL };
  execv ("/proc/self/exe", argv);
  _exit (125);
}

static void
pool_fill (pool_t *p)
{
  while (!p->off && p->n < p->want)
    {
      int req[2], out[2];
      if (pipe2 (req, O_CLOEXEC) < 0)
        {
          p->off = true;
          return;
        }
      if (pipe2 (out, O_CLOEXEC) < 0)
        {
          close (req[0]), close (req[1]);
          p->off = true;
          return;
        }
      pid_t self = getpid ();
      pid_t pid = fork ();
      if (pid < 0)
        {
          close (req[0]), close (req[1]), close (out[0]), close (out[1]);
          p->off = true;
          return;
        }
      if (pid == 0)
        {
          if (p->monitor)
            warm_monitor (req[0], out[1], self, p->self);
          warm_child (req[0], out[1], self);
        }
      /* A waiting monitor is made while the agent goes on with the start that claimed the last one
       * (2 cores: its exec and loading would take a CPU from that start's own processes): it is
       * idle-class until claimed, set here so that it always precedes the claim's unidle(). (A
       * waiting sandbox is not: its unshare takes the kernel's netns locks, which an idle-class
       * holder starved by a busy machine would keep from every other netns change.) */
      struct sched_param idle = { 0 };
      if (p->monitor)
        (void) sched_setscheduler (pid, SCHED_IDLE, &idle);
      close (req[0]);
      close (out[1]);
      p->w[p->n++] = (warm_t) { .pid = pid, .req_fd = req[1], .out_fd = out[0] };
    }
}

/* A pool child died before any request reached it (killed, or it could not make its namespaces):
 * the pool stops, said on stderr (the agent logs it), and every sandbox forks as before. */
static bool
pool_reaped (pool_t *p, pid_t pid, int st)
{
  for (size_t k = 0; k < p->n; k++)
    if (p->w[k].pid == pid)
      {
        close (p->w[k].req_fd);
        close (p->w[k].out_fd);
        p->w[k] = p->w[--p->n];
        p->off = true;
        fprintf (stderr, "%s pool stopped: a waiting child ended (%s %d)\n", p->monitor ? "monitor" : "sandbox",
                 WIFEXITED (st) ? "status" : "signal", WIFEXITED (st) ? WEXITSTATUS (st) : WTERMSIG (st));
        return true;
      }
  return false;
}

/* Hand `argv` (from the mode on) to a pool child: its pid and stdout, or 0 when none can take it. */
/* A waiting monitor is idle-class (warm_monitor); before it is handed a request it gets our own
 * scheduling back, so it reads the request, and runs the pod's monitor, as a forked one would. */
static int
unidle (pid_t pid)
{
  struct sched_param prm;
  int policy = sched_getscheduler (0);
  errno = 0;
  int nice = getpriority (PRIO_PROCESS, 0);
  if (policy < 0 || errno != 0 || sched_getparam (0, &prm) < 0 || sched_setscheduler (pid, policy, &prm) < 0
      || setpriority (PRIO_PROCESS, (id_t) pid, nice) < 0)
    return -1;
  return 0;
}

/* A waiting monitor takes exactly `monitor --config PATH` with a PATH that fits in the command-line
 * room it was exec'd with (it writes PATH there: its command line is then the one a forked
 * monitor has, which is how an agent finds it by name). Anything else forks as before. */
static bool
monitor_poolable (int argc, char **argv)
{
  return argc == 3 && strcmp (argv[0], "monitor") == 0 && strcmp (argv[1], "--config") == 0
         && argv[2][0] != '\0' && strlen (argv[2]) < sizeof MONITOR_POOL_ARG;
}

static pid_t
pool_claim (pool_t *p, int argc, char **argv, int *out_fd)
{
  if (p->n == 0 || !(p->monitor ? monitor_poolable (argc, argv) : sandbox_poolable (argc, argv)))
    return 0;
  cleanup_buf tbuf_t b = { 0 };
  /* A monitor is sent its config path alone; a sandbox its whole argv. */
  for (int k = p->monitor ? 2 : 0; k < argc; k++)
    buf_append (&b, argv[k], strlen (argv[k]) + 1);
  if (b.len > PIPE_BUF) /* one atomic write: a pipe never blocks the spawner */
    return 0;
  warm_t w = p->w[--p->n];
  if (p->monitor && unidle (w.pid) < 0)
    {
      /* It would run the pod's monitor idle-class: let it go unclaimed (EOF), fork this one. */
      close (w.req_fd);
      close (w.out_fd);
      p->off = true;
      return 0;
    }
  bool sent = write_all (w.req_fd, b.data, b.len) == 0;
  close (w.req_fd);
  if (!sent) /* it died waiting (EPIPE): reaped later as an unknown child; this request forks */
    {
      close (w.out_fd);
      p->off = true;
      return 0;
    }
  *out_fd = w.out_fd;
  return w.pid;
}

static int
start_job (jobs_t *js, pool_t *pool, pool_t *mpool, const char *self, const char *line, size_t len)
{
  tank_err_t err = { 0 };
  cleanup_json jval_t *req = json_parse (line, len, &err);
  int64_t id = -1;
  bool present = false;
  if (req == NULL)
    return reply_error (-1, &err), 0;
  if (req->type != J_OBJ || json_int (req, "id", &id, &present) < 0 || !present)
    {
      tank_error (&err, EINVAL, "request", "a request needs an integer `id`");
      return reply_error (-1, &err), 0;
    }
  const jval_t *a = json_get (req, "argv");
  if (a == NULL || a->type != J_ARR || a->len == 0 || a->len > 4096)
    {
      tank_error (&err, EINVAL, "request", "`argv` must be a non-empty array of strings");
      return reply_error (id, &err), 0;
    }
  cleanup_free char **argv = calloc (a->len + 2, sizeof *argv);
  if (argv == NULL)
    return tank_error (&err, ENOMEM, "request", "argv"), reply_error (id, &err), 0;
  argv[0] = (char *) self;
  for (size_t k = 0; k < a->len; k++)
    {
      if (a->items[k]->type != J_STR)
        {
          tank_error (&err, EINVAL, "request", "`argv[%zu]` is not a string", k);
          return reply_error (id, &err), 0;
        }
      argv[k + 1] = a->items[k]->s;
    }
  if (!allowed_mode (argv[1]))
    {
      tank_error (&err, EINVAL, "request", "mode `%.64s` cannot run under the spawner", argv[1]);
      return reply_error (id, &err), 0;
    }
  if (js->n == js->cap)
    {
      size_t cap = js->cap ? js->cap * 2 : 16;
      job_t *n = realloc (js->jobs, cap * sizeof *n);
      if (n == NULL)
        return tank_error (&err, ENOMEM, "spawn", "jobs"), reply_error (id, &err), 0;
      js->jobs = n;
      js->cap = cap;
    }
  int warm_out = -1;
  pid_t warm = pool_claim (pool, (int) a->len, argv + 1, &warm_out);
  if (warm > 0)
    {
      set_nonblock (warm_out);
      js->jobs[js->n++] = (job_t) { .id = id, .pid = warm, .out_fd = warm_out, .pooled = true };
      return 0;
    }
  warm = pool_claim (mpool, (int) a->len, argv + 1, &warm_out);
  if (warm > 0)
    {
      set_nonblock (warm_out);
      js->jobs[js->n++]
          = (job_t) { .id = id, .pid = warm, .out_fd = warm_out, .early = true, .pooled = true, .mpooled = true };
      return 0;
    }
  int p[2];
  if (pipe2 (p, O_CLOEXEC) < 0)
    return tank_error (&err, errno, "spawn", "pipe"), reply_error (id, &err), 0;
  pid_t pid = fork ();
  if (pid < 0)
    {
      int e = errno;
      close (p[0]);
      close (p[1]);
      return tank_error (&err, e, "spawn", "fork"), reply_error (id, &err), 0;
    }
  bool early = strcmp (argv[1], "monitor") == 0;
  if (pid == 0)
    run_child (p[1], argv, early);
  close (p[1]);
  set_nonblock (p[0]);
  js->jobs[js->n++]
      = (job_t) { .id = id, .pid = pid, .out_fd = p[0], .wstatus = 0, .out = { 0 }, .early = early, .replied = false };
  return 0;
}

/* A monitor's ready line is its whole answer: reply now, as if its starter had exited 0 (status 0,
 * `out` the line), instead of waiting for an exit that comes when the workload is long gone. One
 * process and one hop fewer per start than a monitor that forks to outlive its starter. An error
 * line is answered at the exit that follows it, with its status, as for every other mode. */
static void
reply_ready (job_t *j)
{
  char *nl = j->out.data ? memchr (j->out.data, '\n', j->out.len) : NULL;
  if (nl == NULL || strncmp (j->out.data, "{\"ready\"", 8) != 0)
    return;
  j->out.len = (size_t) (nl - j->out.data) + 1;
  j->wstatus = 0;
  reply_done (j);
  buf_free (&j->out);
  close (j->out_fd);
  j->out_fd = -1;
  j->replied = true;
}

/* Read what the child wrote so far (a full buffer is read on; bytes beyond OUT_MAX are dropped). */
static void
drain (job_t *j)
{
  char chunk[8192];
  for (;;)
    {
      ssize_t r = read (j->out_fd, chunk, sizeof chunk);
      if (r > 0)
        {
          if (j->out.len < OUT_MAX)
            buf_append (&j->out, chunk, (size_t) r);
          if (j->early)
            {
              reply_ready (j);
              if (j->replied)
                return;
            }
          continue;
        }
      if (r < 0 && errno == EINTR)
        continue;
      if (r == 0)
        {
          close (j->out_fd);
          j->out_fd = -1;
        }
      return;
    }
}

/* A job is answered once its child is reaped: what it wrote before exiting is in the pipe (a
 * monitor's daemon never writes there; it may still hold the pipe, so EOF is not waited for). */
static void
reap (jobs_t *js, pool_t *pool, pool_t *mpool)
{
  int st;
  pid_t pid;
  while ((pid = waitpid (-1, &st, WNOHANG)) > 0)
    if (!pool_reaped (pool, pid, st) && !pool_reaped (mpool, pid, st))
      for (size_t k = 0; k < js->n; k++)
      if (js->jobs[k].pid == pid)
        {
          job_t *j = &js->jobs[k];
          j->wstatus = st;
          if (j->out_fd >= 0)
            {
              drain (j);
              if (j->out_fd >= 0)
                close (j->out_fd);
            }
          if (!j->replied) /* a monitor gone right after its ready line was answered by it */
            reply_done (j);
          buf_free (&j->out);
          bool pooled = j->pooled, mpooled = j->mpooled;
          js->jobs[k] = js->jobs[--js->n];
          /* After its answer, not before: the next child's namespaces are not made while the
           * agent waits for this one. */
          if (pooled)
            pool_fill (mpooled ? mpool : pool);
          break;
        }
}

/* `self`: argv[0] of the children, the path the agent started us by (what it would have spawned). */
int
spawner_main (const char *self, int argc, char **argv)
{
  pool_t pool = { 0 }, mpool = { .monitor = true, .self = self };
  for (int k = 1; k + 1 < argc; k++)
    if (strcmp (argv[k], "--sandbox-pool") == 0 || strcmp (argv[k], "--monitor-pool") == 0)
      {
        int n = atoi (argv[k + 1]);
        (argv[k][2] == 's' ? &pool : &mpool)->want = n < 0 ? 0 : n > POOL_MAX ? POOL_MAX : (size_t) n;
      }
  /* The agent's helper: dies with it (children already forked are unaffected: fork clears this). */
  prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  close_range (3, ~0U, 0);
  signal (SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset (&set);
  sigaddset (&set, SIGCHLD);
  sigprocmask (SIG_BLOCK, &set, NULL);
  int sfd = signalfd (-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sfd < 0)
    return 1;
  set_nonblock (0);
  pool_fill (&pool);
  pool_fill (&mpool);
  jobs_t js = { 0 };
  cleanup_buf tbuf_t in = { 0 };
  cleanup_free struct pollfd *pf = NULL;
  size_t pf_cap = 0;
  for (;;)
    {
      if (pf_cap < js.n + 2)
        {
          pf_cap = js.n + 18;
          struct pollfd *n = realloc (pf, pf_cap * sizeof *n);
          if (n == NULL)
            return 1;
          pf = n;
        }
      pf[0] = (struct pollfd) { .fd = 0, .events = POLLIN };
      pf[1] = (struct pollfd) { .fd = sfd, .events = POLLIN };
      size_t np = 2;
      for (size_t k = 0; k < js.n; k++)
        if (js.jobs[k].out_fd >= 0)
          pf[np++] = (struct pollfd) { .fd = js.jobs[k].out_fd, .events = POLLIN };
      if (poll (pf, np, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          return 1;
        }
      for (size_t k = 0; k < js.n; k++)
        if (js.jobs[k].out_fd >= 0)
          drain (&js.jobs[k]);
      /* Answered monitors leave the list; their exit is reaped below without a reply. A waiting
       * monitor that took one is replaced now, after its answer (not on the start's path). */
      bool refill = false;
      for (size_t k = 0; k < js.n;)
        if (js.jobs[k].replied)
          {
            refill |= js.jobs[k].mpooled;
            js.jobs[k] = js.jobs[--js.n];
          }
        else
          k++;
      if (refill)
        pool_fill (&mpool);
      if (pf[1].revents)
        {
          struct signalfd_siginfo si;
          while (read (sfd, &si, sizeof si) > 0)
            ;
          reap (&js, &pool, &mpool);
        }
      if (pf[0].revents)
        {
          char chunk[8192];
          ssize_t r = read (0, chunk, sizeof chunk);
          if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            return 0;
          if (r > 0)
            buf_append (&in, chunk, (size_t) r);
          char *nl;
          while (in.len > 0 && (nl = memchr (in.data, '\n', in.len)) != NULL)
            {
              size_t n = (size_t) (nl - in.data);
              start_job (&js, &pool, &mpool, self, in.data, n);
              buf_consume (&in, n + 1);
            }
          if (in.len > REQ_MAX)
            {
              tank_err_t err;
              tank_error (&err, E2BIG, "request", "a request line longer than %d bytes", REQ_MAX);
              reply_error (-1, &err);
              return 1;
            }
        }
    }
}
