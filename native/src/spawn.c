#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "creds.h"
#include "proto.h"
#include "pty.h"
#include "rootfs.h"
#include "util.h"

typedef struct {
  int net, uts, ipc; /* fds of namespaces to join, -1 when not joining */
  int init; /* the init binary (opened on the host, CLOEXEC), -1 without `init` */
  int sync; /* child's end */
  int out_w, err_w, in_r; /* child's stdio ends */
} child_fds_t;

int
lo_up (tank_err_t *err)
{
  cleanup_close int s = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr;
  memset (&ifr, 0, sizeof ifr);
  snprintf (ifr.ifr_name, sizeof ifr.ifr_name, "lo");
  if (s < 0 || ioctl (s, SIOCGIFFLAGS, &ifr) < 0)
    return tank_error (err, errno, "lo_up", "read flags of lo");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl (s, SIOCSIFFLAGS, &ifr) < 0)
    return tank_error (err, errno, "lo_up", "bring lo up");
  return 0;
}

int
exec_resolve (const char *file, const char *const *env, char *buf, size_t len)
{
  const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  struct stat st;
  if (strchr (file, '/') != NULL)
    {
      if ((size_t) snprintf (buf, len, "%s", file) >= len)
        return errno = ENAMETOOLONG, -1;
      return 0;
    }
  for (size_t k = 0; env && env[k]; k++)
    if (strncmp (env[k], "PATH=", 5) == 0)
      path = env[k] + 5;
  int last = ENOENT;
  for (const char *p = path;; p++)
    {
      const char *end = strchrnul (p, ':');
      int n = snprintf (buf, len, "%.*s%s%s", (int) (end - p), p, end == p ? "" : "/", file);
      if (n > 0 && (size_t) n < len && stat (buf, &st) == 0 && S_ISREG (st.st_mode))
        {
          if (access (buf, X_OK) == 0)
            return 0;
          last = EACCES;
        }
      if (*end == '\0')
        break;
      p = end;
    }
  return errno = last, -1;
}

static int
join_ns (int fd, int type, const char *step, tank_err_t *err)
{
  if (fd >= 0 && setns (fd, type) < 0)
    return tank_error (err, errno, step, "setns");
  return 0;
}

static int
child_prepare (const monitor_config_t *cfg, const child_fds_t *f, tank_err_t *err)
{
  /* With tank-init every signal stays blocked from here through its exec (it takes them with
   * sigwaitinfo): this child is PID 1 of its namespace without a handler, so a stop sent right
   * after the proceed, while it still changes identity, would be dropped by the kernel instead of
   * queued for tank-init. Without init the workload starts with the empty mask, as in any runtime. */
  sigset_t mask;
  if (f->init >= 0)
    sigfillset (&mask);
  else
    sigemptyset (&mask);
  sigprocmask (SIG_SETMASK, &mask, NULL);
  for (int s = 1; s < NSIG; s++)
    signal (s, SIG_DFL); /* the monitor ignores SIGPIPE; ignored dispositions survive execve */
  umask (0);
  if (prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
    return tank_error (err, errno, "pdeathsig", "PR_SET_PDEATHSIG");
  /* Into the container's cgroups first (through the host's /sys/fs/cgroup, still visible before
   * pivot_root), so everything it does from here on is accounted and limited there. */
  for (size_t k = 0; cfg->cgroup_procs[k]; k++)
    if (cgroup_join_self (cfg->cgroup_procs[k], err) < 0)
      return -1;
  /* A private cgroup namespace rooted at the groups just joined: /proc/self/cgroup reads "/" and
   * the host's cgroup paths (pod names, other tenants) are not shown. Only when we joined our
   * groups ourselves: with an empty list the agent places the pid later, outside this root. A
   * kernel without cgroup namespaces (EINVAL) keeps the host view, as PROTOCOL.md §10 says. */
  if (cfg->cgroup_procs[0] != NULL && unshare (CLONE_NEWCGROUP) < 0 && errno != EINVAL)
    return tank_error (err, errno, "cgroupns", "unshare the cgroup namespace");
  if (write_int_file ("/proc/self/oom_score_adj", cfg->oom_score_adj, err, "oom_score_adj") < 0)
    return -1;
  if (join_ns (f->net, CLONE_NEWNET, "setns_net", err) < 0 || join_ns (f->uts, CLONE_NEWUTS, "setns_uts", err) < 0
      || join_ns (f->ipc, CLONE_NEWIPC, "setns_ipc", err) < 0)
    return -1;
  if (cfg->net.mode == NS_NEW && lo_up (err) < 0)
    return -1;
  return 0;
}

static int
child_setup (const monitor_config_t *cfg, const child_fds_t *f, tank_err_t *err)
{
  cleanup_close int devnull = open ("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0)
    return tank_error (err, errno, "stdio", "open /dev/null");
  if (rootfs_setup (cfg, err) < 0)
    return -1;
  if (cfg->uts.mode == NS_NEW && cfg->hostname && sethostname (cfg->hostname, strlen (cfg->hostname)) < 0)
    return tank_error (err, errno, "sethostname", "sethostname `%s`", cfg->hostname);
  if (cfg->tty)
    {
      /* The slave belongs to the workload's host id (mapped, in a user namespace). */
      unsigned owner = cfg->userns.path ? cfg->userns.host_uid + cfg->uid : cfg->uid;
      if (pty_setup_child (f->sync, cfg->rows, cfg->cols, owner, err) < 0)
        return -1;
    }
  else if (dup2 (f->in_r >= 0 ? f->in_r : devnull, 0) < 0 || dup2 (f->out_w, 1) < 0 || dup2 (f->err_w, 2) < 0)
    return tank_error (err, errno, "stdio", "dup2 stdio");
  return 0;
}

static __attribute__ ((noreturn)) void
child_main (const monitor_config_t *cfg, const child_fds_t *f)
{
  tank_err_t err = { 0 };
  sync_msg_t m;
  int passfd;
  char exe[4096];
  /* Only stdio crosses execve: the monitor closed what it inherited, and whatever it holds now (its
   * socket, log, signalfd) goes at exec, also if someone opened it without CLOEXEC. Done first,
   * before a seccomp filter could refuse close_range. */
  close_range (3, ~0U, CLOSE_RANGE_CLOEXEC);
  if (child_prepare (cfg, f, &err) < 0)
    goto fail;
  /* sync 2: parked. The monitor prints its ready line at once; the rootfs, mounts, hostname and
   * stdio are set up while the agent reads that line and sends proceed (its round trip, ~2-4 ms,
   * overlaps the ~2-3 ms of mounts instead of adding to them). Nothing of the image runs and no
   * credential changes before proceed: the identity, capabilities, no_new_privs and seccomp come
   * after it, so a seccomp profile that denies recvmsg cannot keep the proceed from arriving. A
   * setup error here is sent as ERROR (the monitor answers the agent's proceed with it). */
  if (sync_send (f->sync, SYNC_PARKED, NULL, -1) < 0)
    _exit (126);
  if (child_setup (cfg, f, &err) < 0)
    goto fail;
  /* Block until the monitor forwards the agent's proceed; EOF = abort. */
  if (sync_recv (f->sync, &m, &passfd) != 1 || m.type != SYNC_PROCEED)
    _exit (0);
  if (passfd >= 0)
    close (passfd);
  if (creds_apply (cfg, &err) < 0)
    goto fail;
  if (chdir (cfg->cwd) < 0)
    {
      tank_error (&err, errno, "chdir", "chdir `%s`", cfg->cwd);
      goto fail;
    }
  umask (022);
  if (exec_resolve (cfg->argv[0], cfg->env, exe, sizeof exe) < 0)
    {
      tank_error (&err, errno, "exec", "find `%s` in PATH", cfg->argv[0]);
      goto fail;
    }
  /* Everything else we hold is CLOEXEC (see child_main); sync 4 (EOF on the monitor's end) happens
   * on success. */
  if (prctl (PR_SET_PDEATHSIG, 0, 0, 0, 0) < 0)
    {
      tank_error (&err, errno, "pdeathsig", "clear PR_SET_PDEATHSIG");
      goto fail;
    }
  if (f->init >= 0)
    {
      /* PID 1 becomes tank-init (static, from the host through its descriptor: nothing of it is
       * needed in the image), under every restriction applied above; it forks `exe` with the same
       * argv and environment. Its descriptor is CLOEXEC: neither it nor the workload keeps it. */
      /* What execve would refuse, refused here, so it is a setup error as without init (tank-init
       * could only exit 126/127). */
      if (access (exe, X_OK) < 0)
        {
          tank_error (&err, errno, "exec", "execve `%s`", exe);
          goto fail;
        }
      size_t n = 0;
      while (cfg->argv[n])
        n++;
      const char *iargv[n + 3];
      iargv[0] = "tank-init";
      iargv[1] = exe;
      for (size_t k = 0; k <= n; k++)
        iargv[k + 2] = cfg->argv[k];
      /* Exec'd with every signal blocked since child_prepare (the mask survives execve): a stop
       * sent before tank-init's own sigprocmask is queued for it, not dropped. */
      syscall (SYS_execveat, f->init, "", (char *const *) iargv, (char *const *) cfg->env, AT_EMPTY_PATH);
      tank_error (&err, errno, "exec", "execveat tank-init (for `%s`)", exe);
      goto fail;
    }
  execve (exe, (char *const *) cfg->argv, (char *const *) cfg->env);
  tank_error (&err, errno, "exec", "execve `%s`", exe);
fail:
  sync_send (f->sync, SYNC_ERROR, &err, -1);
  _exit (err.errnum == ENOENT && strcmp (err.step, "exec") == 0 ? 127 : 126);
}

static int
open_ns (const ns_spec_t *ns, const char *step, int *fd, tank_err_t *err)
{
  *fd = -1;
  if (ns->mode != NS_JOIN)
    return 0;
  *fd = open (ns->path, O_RDONLY | O_CLOEXEC);
  if (*fd < 0)
    return tank_error (err, errno, step, "open `%s`", ns->path);
  return 0;
}

static void
close_fds (int *fds, size_t n)
{
  for (size_t k = 0; k < n; k++)
    if (fds[k] >= 0)
      close (fds[k]), fds[k] = -1;
}

int
spawn_workload (const monitor_config_t *cfg, spawn_t *out, tank_err_t *err)
{
  child_fds_t f = { -1, -1, -1, -1, -1, -1, -1, -1 };
  int sp[2] = { -1, -1 }, po[2] = { -1, -1 }, pe[2] = { -1, -1 }, pi[2] = { -1, -1 };
  int ret = -1;
  *out = (spawn_t) { -1, -1, -1, -1, -1 };
  if (open_ns (&cfg->net, "open_ns_net", &f.net, err) < 0 || open_ns (&cfg->uts, "open_ns_uts", &f.uts, err) < 0
      || open_ns (&cfg->ipc, "open_ns_ipc", &f.ipc, err) < 0)
    goto done;
  /* Opened now, on the host and before ready (a missing init fails the start, step `init`); the
   * child execs it last, long after pivot_root has hidden the host. */
  if (cfg->init_path != NULL && (f.init = open (cfg->init_path, O_RDONLY | O_CLOEXEC)) < 0)
    {
      tank_error (err, errno, "init", "open `%s`", cfg->init_path);
      goto done;
    }
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0
      || (!cfg->tty && (pipe2 (po, O_CLOEXEC) < 0 || pipe2 (pe, O_CLOEXEC) < 0))
      || (!cfg->tty && cfg->open_stdin && pipe2 (pi, O_CLOEXEC) < 0))
    {
      tank_error (err, errno, "spawn", "create sync socket and stdio pipes");
      goto done;
    }
  f.sync = sp[1], f.out_w = po[1], f.err_w = pe[1], f.in_r = pi[0];
  unsigned long flags = CLONE_NEWNS | CLONE_NEWPID | SIGCHLD;
  flags |= (cfg->uts.mode == NS_NEW ? CLONE_NEWUTS : 0) | (cfg->ipc.mode == NS_NEW ? CLONE_NEWIPC : 0)
           | (cfg->net.mode == NS_NEW ? CLONE_NEWNET : 0);
  /* A fork-style clone (no new stack): the monitor is single-threaded, so this is as safe as fork. */
  pid_t pid = (pid_t) syscall (SYS_clone, flags, NULL, NULL, NULL, NULL);
  if (pid < 0)
    {
      tank_error (err, errno, "clone", "clone workload (flags 0x%lx)", flags);
      goto done;
    }
  if (pid == 0)
    {
      close (sp[0]);
      child_main (cfg, &f);
    }
  /* sync 1: the workload exists; it joins its cgroups itself; the caller waits for sync 2. */
  *out = (spawn_t) { pid, sp[0], po[0], pe[0], pi[1] };
  sp[0] = po[0] = pe[0] = pi[1] = -1;
  ret = 0;
done:
  close_fds ((int[]) { f.net, f.uts, f.ipc, f.init, sp[0], sp[1], po[0], po[1], pe[0], pe[1], pi[0], pi[1] }, 12);
  return ret;
}
