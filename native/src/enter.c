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
#include "pty.h"
#include "spawn.h"
#include "ttyrelay.h"
#include "util.h"

#define MAX_LIST 256

/* setns order: user first (only when different: it grants the caps for the rest), pid last (it
 * only applies to children, hence the fork). */
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
  monitor_config_t creds; /* uid, gid, groups, caps, no_new_privs, cwd */
  gid_t groups[MAX_LIST];
  char **argv;
  bool tty; /* a terminal from the container's devpts, relayed to our stdio */
} enter_opts_t;

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
join_all (const enter_opts_t *o, tank_err_t *err)
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

static int
wait_child (pid_t pid, const sigset_t *set)
{
  int st;
  for (;;)
    {
      siginfo_t si;
      if (sigwaitinfo (set, &si) < 0)
        continue;
      if (si.si_signo != SIGCHLD)
        {
          if (si.si_signo != SIGINT && si.si_signo != SIGQUIT) /* the tty already sent those to the child */
            kill (pid, si.si_signo);
          continue;
        }
      pid_t r = waitpid (pid, &st, WNOHANG);
      if (r == pid)
        break;
    }
  return exit_like (st);
}

int
enter_main (int argc, char **argv)
{
  static enter_opts_t o;
  tank_err_t err = { 0 };
  if (parse_args (argc, argv, &o, &err) < 0)
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
  /* --tty: the pair comes from the container's devpts (we are in its mount namespace now). */
  int master = -1, slave = -1;
  if (o.tty && (master = pty_open (o.creds.uid, &slave, &err)) < 0)
    {
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
      if (master >= 0)
        {
          close (master);
          if (pty_take (slave, &err) < 0)
            {
              tank_error_print (2, &err);
              _exit (126);
            }
          if (slave > 2)
            close (slave);
        }
      child (&o);
    }
  if (master >= 0)
    {
      close (slave); /* the master reads EIO once the command's copies are closed */
      return exit_like (ttyrelay_run (master, pid, &set));
    }
  return wait_child (pid, &set);
}
