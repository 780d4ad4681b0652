#include "enter.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "creds.h"
#include "piperelay.h"
#include "pty.h"
#include "seccomp.h"
#include "spawn.h"
#include "ttyrelay.h"
#include "util.h"

#define MAX_LIST 256

/* setns order: pid last among these (it only applies to children, hence the fork). The user
 * namespace (a `hostUsers: false` pod's) is opened here but joined by the child just before the
 * identity change (creds.c), as the workload does: its mount, pid and cgroup namespaces belong to
 * the host's user namespace, which we could no longer enter once inside the pod's. */
static const struct { const char *name; int flag; } order[] = {
  { "user", CLONE_NEWUSER }, { "mnt", CLONE_NEWNS }, { "uts", CLONE_NEWUTS }, { "ipc", CLONE_NEWIPC },
  { "net", CLONE_NEWNET }, { "cgroup", CLONE_NEWCGROUP }, { "pid", CLONE_NEWPID },
};
#define NTYPES (sizeof order / sizeof order[0])

typedef struct {
  pid_t pid;
  unsigned long long start_time;
  const char *cgroups[MAX_LIST];
  const char *env[MAX_LIST + 1];
  size_t ncg, nenv;
  rlimit_spec_t rlimits[16];
  const char *seccomp; /* compiled program (host path), read before any setns */
  monitor_config_t creds; /* uid, gid, groups, caps, no_new_privs, cwd */
  gid_t groups[MAX_LIST];
  char **argv;
  bool tty; /* a terminal from the container's devpts, relayed to our stdio */
  unsigned pty_owner; /* host uid owning the exec's pty slave: --uid, mapped by the pod's uid_map */
} enter_opts_t;

/* The host id that `id` inside maps to, from a uid_map/gid_map of the target (openat through its
 * /proc dir fd); `id` itself when not mapped there (then the kernel refuses the identity later). */
static unsigned
host_id (int procfd, const char *file, unsigned id)
{
  char buf[1024];
  cleanup_close int fd = openat (procfd, file, O_RDONLY | O_CLOEXEC);
  ssize_t n = fd >= 0 ? read (fd, buf, sizeof buf - 1) : -1;
  if (n <= 0)
    return id;
  buf[n] = '\0';
  unsigned long in, out, count;
  for (char *line = buf; sscanf (line, "%lu %lu %lu", &in, &out, &count) == 3;)
    {
      if (id >= in && id - in < count)
        return (unsigned) (out + (id - in));
      char *nl = strchr (line, '\n');
      if (nl == NULL)
        break;
      line = nl + 1;
    }
  return id;
}

static int
parse_u32 (const char *s, unsigned *out)
{
  char *end;
  errno = 0;
  unsigned long v = strtoul (s, &end, 10);
  if (errno || *s == '\0' || *end || v > 0xfffffffeUL)
    return -1;
  *out = (unsigned) v;
  return 0;
}

static int
parse_caps (const char *s, uint64_t *mask)
{
  char buf[4096];
  *mask = 0;
  snprintf (buf, sizeof buf, "%s", s);
  for (char *save = NULL, *t = strtok_r (buf, ",", &save); t; t = strtok_r (NULL, ",", &save))
    {
      int c = cap_from_name (t);
      if (c < 0)
        return -1;
      *mask |= 1ULL << c;
    }
  return 0;
}

/* TYPE=SOFT:HARD, e.g. NOFILE=1024:524288; -1 = unlimited. */
static int
parse_rlimit (const char *s, rlimit_spec_t *r)
{
  char name[32];
  long long soft, hard;
  const char *eq = strchr (s, '=');
  if (eq == NULL || (size_t) (eq - s) >= sizeof name || sscanf (eq + 1, "%lld:%lld", &soft, &hard) != 2 || soft < -1
      || hard < -1)
    return -1;
  memcpy (name, s, (size_t) (eq - s));
  name[eq - s] = '\0';
  r->resource = rlimit_from_name (name);
  r->soft = soft == -1 ? RLIM_INFINITY : (uint64_t) soft;
  r->hard = hard == -1 ? RLIM_INFINITY : (uint64_t) hard;
  return r->resource < 0 || r->soft > r->hard ? -1 : 0;
}

static int
parse_groups (const char *s, enter_opts_t *o)
{
  char buf[4096];
  snprintf (buf, sizeof buf, "%s", s);
  o->creds.ngroups = 0;
  for (char *save = NULL, *t = strtok_r (buf, ",", &save); t; t = strtok_r (NULL, ",", &save))
    {
      unsigned g;
      if (o->creds.ngroups >= MAX_LIST || parse_u32 (t, &g) < 0)
        return -1;
      o->groups[o->creds.ngroups++] = g;
    }
  return 0;
}

static int
parse_args (int argc, char **argv, enter_opts_t *o, tank_err_t *err)
{
  unsigned v;
  bool caps = false;
  o->creds.cwd = "/";
  o->creds.groups = o->groups;
  o->creds.userns_fd = -1;
  o->creds.rlimits = o->rlimits;
  for (int k = 1; k < argc; k++)
    {
      const char *a = argv[k], *val = k + 1 < argc ? argv[k + 1] : NULL;
      if (strcmp (a, "--") == 0)
        {
          o->argv = argv + k + 1;
          break;
        }
      if (strcmp (a, "--no-new-privs") == 0)
        {
          o->creds.no_new_privs = true;
          continue;
        }
      if (strcmp (a, "--tty") == 0)
        {
          o->tty = true;
          continue;
        }
      if (val == NULL)
        return tank_error (err, EINVAL, "usage", "`%s` needs a value", a);
      k++;
      if (strcmp (a, "--pid") == 0 && parse_u32 (val, &v) == 0 && v > 0)
        o->pid = (pid_t) v;
      else if (strcmp (a, "--start-time") == 0)
        o->start_time = strtoull (val, NULL, 10);
      else if (strcmp (a, "--cgroup-procs") == 0 && o->ncg < MAX_LIST)
        o->cgroups[o->ncg++] = val;
      else if (strcmp (a, "--env") == 0 && o->nenv < MAX_LIST && strchr (val, '='))
        o->env[o->nenv++] = val;
      else if (strcmp (a, "--cwd") == 0 && val[0] == '/')
        o->creds.cwd = val;
      else if (strcmp (a, "--uid") == 0 && parse_u32 (val, &v) == 0)
        o->creds.uid = v;
      else if (strcmp (a, "--gid") == 0 && parse_u32 (val, &v) == 0)
        o->creds.gid = v;
      else if (strcmp (a, "--groups") == 0 && parse_groups (val, o) == 0)
        ;
      else if (strcmp (a, "--caps") == 0 && parse_caps (val, &o->creds.caps.bounding) == 0)
        caps = true;
      else if (strcmp (a, "--rlimit") == 0 && o->creds.nrlimits < 16 && parse_rlimit (val, &o->rlimits[o->creds.nrlimits]) == 0)
        o->creds.nrlimits++;
      else if (strcmp (a, "--seccomp") == 0 && val[0] == '/')
        o->seccomp = val;
      else
        return tank_error (err, EINVAL, "usage", "bad option `%s %s`", a, val);
    }
  if (o->pid <= 0 || o->argv == NULL || o->argv[0] == NULL)
    return tank_error (err, EINVAL, "usage", "usage: tank-helper enter --pid P [options] -- argv...");
  /* Without --caps keep what we hold: the current bounding set (root here may lack some caps). */
  uint64_t all = caps ? o->creds.caps.bounding : 0;
  for (int c = 0; !caps && c < 64 && prctl (PR_CAPBSET_READ, c, 0, 0, 0) >= 0; c++)
    if (prctl (PR_CAPBSET_READ, c, 0, 0, 0) == 1)
      all |= 1ULL << c;
  /* As for the workload (docker's rule): root keeps the set effective and permitted, other uids only
   * in the bounding set; inheritable stays empty (CVE-2022-24769). */
  uint64_t held = o->creds.uid == 0 ? all : 0;
  o->creds.caps = (caps_spec_t) { all, held, held, 0, 0 };
  o->pty_owner = o->creds.uid; /* join_all maps it through a pod user namespace */
  o->creds.env = o->env;
  o->creds.argv = (const char **) o->argv;
  return 0;
}

static unsigned long long
start_time_at (int procfd)
{
  cleanup_close int fd = openat (procfd, "stat", O_RDONLY | O_CLOEXEC);
  char buf[1024];
  ssize_t n = fd >= 0 ? read (fd, buf, sizeof buf - 1) : -1;
  if (n <= 0)
    return 0;
  buf[n] = '\0';
  char *p = strrchr (buf, ')');
  for (int field = 2; p && field < 22; field++)
    p = strchr (p + 1, ' ');
  return p ? strtoull (p + 1, NULL, 10) : 0;
}

/* Two phases (the enter bug, tank-original.md §4.3): every ns file is opened through ONE dirfd of
 * /proc/<pid> before the first setns, because after setns(mnt) "/proc" is the container's. */
static int
join_all (enter_opts_t *o, tank_err_t *err)
{
  char path[64];
  int fds[NTYPES];
  int ret = -1;
  for (size_t k = 0; k < NTYPES; k++)
    fds[k] = -1;
  snprintf (path, sizeof path, "/proc/%d", (int) o->pid);
  cleanup_close int procfd = open (path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (procfd < 0)
    return tank_error (err, errno, "open_ns_proc", "open `%s`", path);
  if (o->start_time && start_time_at (procfd) != o->start_time)
    return tank_error (err, ESRCH, "open_ns_proc", "pid %d is another process now (start time differs)", (int) o->pid);
  for (size_t k = 0; k < NTYPES; k++)
    {
      char rel[32], self[64];
      struct stat a, b;
      snprintf (rel, sizeof rel, "ns/%s", order[k].name);
      snprintf (self, sizeof self, "/proc/self/ns/%s", order[k].name);
      int fd = openat (procfd, rel, O_RDONLY | O_CLOEXEC);
      if (fd < 0 && errno == ENOENT)
        continue; /* a namespace type this kernel lacks */
      if (fd < 0)
        {
          tank_error (err, errno, "open_ns", "open %s of pid %d", rel, (int) o->pid);
          goto done;
        }
      /* Same namespace as ours: setns would be a no-op (or EINVAL for user), skip it. */
      if (fstat (fd, &a) == 0 && stat (self, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
        {
          close (fd);
          continue;
        }
      if (order[k].flag == CLONE_NEWUSER)
        {
          o->creds.userns_fd = fd; /* kept open for the child (CLOEXEC: gone at execve) */
          o->pty_owner = host_id (procfd, "uid_map", o->creds.uid);
        }
      else
        fds[k] = fd;
    }
  for (size_t k = 0; k < NTYPES; k++)
    if (fds[k] >= 0 && setns (fds[k], order[k].flag) < 0)
      {
        tank_error (err, errno, "setns", "setns %s of pid %d", order[k].name, (int) o->pid);
        goto done;
      }
  ret = 0;
done:
  for (size_t k = 0; k < NTYPES; k++)
    if (fds[k] >= 0)
      close (fds[k]);
  return ret;
}

static __attribute__ ((noreturn)) void
child (const enter_opts_t *o)
{
  tank_err_t err = { 0 };
  char exe[4096];
  sigset_t none;
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
  /* Nothing of the caller's but fds 0-2 (ours, never its terminal) crosses execve. */
  close_range (3, ~0U, CLOSE_RANGE_CLOEXEC);
  if (chdir (o->creds.cwd) < 0)
    tank_error (&err, errno, "chdir", "chdir `%s`", o->creds.cwd);
  else if (creds_apply (&o->creds, &err) == 0)
    {
      if (exec_resolve (o->argv[0], o->env, exe, sizeof exe) < 0)
        tank_error (&err, errno, "exec", "find `%s` in PATH", o->argv[0]);
      else
        {
          execve (exe, o->argv, (char *const *) o->env);
          tank_error (&err, errno, "exec", "execve `%s`", exe);
        }
    }
  tank_error_print (2, &err);
  _exit (strcmp (err.step, "exec") == 0 && err.errnum == ENOENT ? 127 : 126);
}

/* Exit like the child did: its code, or die of the same signal (WIFSIGNALED for the caller). */
static int
exit_like (int st)
{
  if (WIFEXITED (st))
    return WEXITSTATUS (st);
  /* No core file of our own. */
  int sig = WTERMSIG (st);
  struct rlimit nocore = { 0, 0 };
  setrlimit (RLIMIT_CORE, &nocore);
  signal (sig, SIG_DFL);
  sigset_t one;
  sigemptyset (&one);
  sigaddset (&one, sig);
  sigprocmask (SIG_UNBLOCK, &one, NULL);
  raise (sig);
  return 128 + sig;
}

/* The command's stdio: pipes relayed by us (no terminal), in a session of its own. */
static __attribute__ ((noreturn)) void
child_pipes (const enter_opts_t *o, int in_r, int out_w, int err_w)
{
  tank_err_t err = { 0 };
  if (setsid () < 0 || dup2 (in_r, 0) < 0 || dup2 (out_w, 1) < 0 || dup2 (err_w, 2) < 0)
    {
      tank_error (&err, errno, "stdio", "new session and stdio pipes");
      tank_error_print (err_w, &err);
      _exit (126);
    }
  child (o);
}

int
enter_main (int argc, char **argv)
{
  static enter_opts_t o;
  tank_err_t err = { 0 };
  /* Not dumpable from here to the command's execve: nothing in the container (same uid after the
   * identity change, or a ptrace-capable root) may read our memory, environment or descriptors
   * (the caller's stdio) through /proc or ptrace while we sit in its namespaces. */
  prctl (PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (parse_args (argc, argv, &o, &err) < 0)
    {
      tank_error_print (2, &err);
      return 125;
    }
  /* The filter is read from the host before any setns(mnt) changes what paths mean. */
  if (o.seccomp != NULL && seccomp_read (o.seccomp, &o.creds.seccomp, &err) < 0)
    {
      tank_error_print (2, &err);
      return 125;
    }
  /* Join the cgroups first, through host paths, before setns(mnt) hides them; the fork inherits. */
  for (size_t k = 0; k < o.ncg; k++)
    if (cgroup_join_self (o.cgroups[k], &err) < 0)
      {
        tank_error_print (2, &err);
        return 125;
      }
  if (join_all (&o, &err) < 0)
    {
      tank_error_print (2, &err);
      return 125;
    }
  sigset_t set;
  sigemptyset (&set);
  int sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGCONT };
  for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++)
    sigaddset (&set, sigs[k]);
  sigprocmask (SIG_BLOCK, &set, NULL);
  /* --tty: the pair comes from the container's devpts (we are in its mount namespace now). Else
   * three pipes. Either way the command never gets a descriptor of the caller's terminal. */
  int master = -1, slave = -1, in[2] = { -1, -1 }, out[2] = { -1, -1 }, errp[2] = { -1, -1 };
  if (o.tty && (master = pty_open (o.pty_owner, &slave, &err)) < 0)
    {
      tank_error_print (2, &err);
      return 125;
    }
  if (!o.tty && (pipe2 (in, O_CLOEXEC) < 0 || pipe2 (out, O_CLOEXEC) < 0 || pipe2 (errp, O_CLOEXEC) < 0))
    {
      tank_error (&err, errno, "stdio", "create stdio pipes");
      tank_error_print (2, &err);
      return 125;
    }
  struct winsize ws;
  if (master >= 0 && ioctl (0, TIOCGWINSZ, &ws) == 0)
    ioctl (master, TIOCSWINSZ, &ws);
  pid_t pid = fork ();
  if (pid < 0)
    {
      tank_error (&err, errno, "fork", "fork into the pid namespace");
      tank_error_print (2, &err);
      return 125;
    }
  if (pid == 0)
    {
      if (master < 0)
        child_pipes (&o, in[0], out[1], errp[1]);
      close (master);
      if (pty_take (slave, &err) < 0)
        {
          tank_error_print (2, &err);
          _exit (126);
        }
      if (slave > 2)
        close (slave);
      child (&o);
    }
  if (master >= 0)
    {
      close (slave); /* the master reads EIO once the command's copies are closed */
      return exit_like (ttyrelay_run (master, pid, &set));
    }
  close (in[0]), close (out[1]), close (errp[1]);
  return exit_like (piperelay_run (in[1], out[0], errp[0], pid, &set));
}
