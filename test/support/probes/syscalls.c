/* syscalls: try calls a container should not be able to make (and a few it must), each in a child
 * of its own so a success cannot change the prober, and print one JSON object: call -> "ok" or the
 * errno's name ("EPERM" when a seccomp filter or the kernel refused it), plus "Seccomp" from
 * /proc/self/status. With arguments, only the named calls are tried. Exit 0 whatever happened. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long
call_keyctl (void)
{
  return syscall (SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
}
static long
call_add_key (void)
{
  return syscall (SYS_add_key, "user", "tank-probe", "x", 1, KEY_SPEC_PROCESS_KEYRING);
}
static long
call_unshare_user (void)
{
  return unshare (CLONE_NEWUSER);
}
static long
call_unshare_net (void)
{
  return unshare (CLONE_NEWNET);
}
static long
call_clone_newuser (void)
{
  /* clone(2) with a namespace flag: the child exits at once if it exists. */
  long r = syscall (SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
  if (r == 0)
    _exit (0);
  if (r > 0)
    waitpid ((pid_t) r, NULL, 0);
  return r;
}
static long
call_bpf (void)
{
  union bpf_attr a;
  memset (&a, 0, sizeof a);
  a.map_type = BPF_MAP_TYPE_ARRAY;
  a.key_size = 4;
  a.value_size = 4;
  a.max_entries = 1;
  return syscall (SYS_bpf, BPF_MAP_CREATE, &a, sizeof a);
}
static long
call_perf_event_open (void)
{
  struct perf_event_attr a;
  memset (&a, 0, sizeof a);
  a.size = sizeof a;
  a.type = PERF_TYPE_SOFTWARE;
  a.config = PERF_COUNT_SW_CPU_CLOCK;
  a.exclude_kernel = 1;
  return syscall (SYS_perf_event_open, &a, 0, -1, -1, 0);
}
/* On a fresh directory of its own, undone if it worked: run by mistake on a host as root, the
 * probe must not cover anything. */
static long
call_mount (void)
{
  char dir[] = "/tmp/tank-probe-mount-XXXXXX";
  if (mkdtemp (dir) == NULL)
    return -1;
  long r = mount ("none", dir, "tmpfs", 0, NULL);
  int e = errno;
  if (r == 0)
    umount2 (dir, MNT_DETACH);
  rmdir (dir);
  errno = e;
  return r;
}
static long
call_kexec_load (void)
{
  return syscall (SYS_kexec_load, 0, 0, NULL, 0);
}
static long
call_open_by_handle_at (void)
{
  char buf[sizeof (struct file_handle) + 64];
  struct file_handle *h = (struct file_handle *) buf;
  h->handle_bytes = 8;
  h->handle_type = 1;
  memset (h->f_handle, 0, 8);
  return syscall (SYS_open_by_handle_at, AT_FDCWD, h, O_RDONLY);
}
static long
call_userfaultfd (void)
{
  return syscall (SYS_userfaultfd, 0);
}
static long
call_personality_exec (void)
{
  return personality (READ_IMPLIES_EXEC);
}
static long
call_socket_vsock (void)
{
  return socket (40 /* AF_VSOCK */, SOCK_STREAM, 0);
}
static long
call_swapon (void)
{
  return syscall (SYS_swapon, "/nonexistent", 0);
}
/* The i386 ABI through int $0x80 (keyctl is 288 there, getpid 20): a filter that only knew the
 * x86_64 numbers would let 288 through. */
static long
int80 (long nr, long a, long b, long c)
{
  long r;
  __asm__ volatile ("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
  if (r < 0 && r > -4096)
    {
      errno = (int) -r;
      return -1;
    }
  return r;
}
static long
call_i386_keyctl (void)
{
  return int80 (288, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
}
static long
call_i386_getpid (void)
{
  return int80 (20, 0, 0, 0);
}
/* The x32 ABI: x86_64 numbers with bit 30 set (keyctl 250). */
static long
call_x32_keyctl (void)
{
  return syscall (0x40000000 | 250, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
}
/* Things every program needs. */
static long
call_getpid (void)
{
  return getpid ();
}
static long
call_fork (void)
{
  pid_t p = fork ();
  if (p == 0)
    _exit (0);
  if (p > 0)
    waitpid (p, NULL, 0);
  return p;
}
static long
call_socket_inet (void)
{
  return socket (AF_INET, SOCK_STREAM, 0);
}

static const struct { const char *name; long (*fn) (void); } calls[] = {
  { "keyctl", call_keyctl },
  { "add_key", call_add_key },
  { "unshare_user", call_unshare_user },
  { "unshare_net", call_unshare_net },
  { "clone_newuser", call_clone_newuser },
  { "bpf", call_bpf },
  { "perf_event_open", call_perf_event_open },
  { "mount", call_mount },
  { "kexec_load", call_kexec_load },
  { "open_by_handle_at", call_open_by_handle_at },
  { "userfaultfd", call_userfaultfd },
  { "personality_exec", call_personality_exec },
  { "socket_vsock", call_socket_vsock },
  { "swapon", call_swapon },
  { "i386_keyctl", call_i386_keyctl },
  { "i386_getpid", call_i386_getpid },
  { "x32_keyctl", call_x32_keyctl },
  { "getpid", call_getpid },
  { "fork", call_fork },
  { "socket_inet", call_socket_inet },
};

static const char *
errname (int e)
{
  static char other[32];
  switch (e)
    {
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENOSYS: return "ENOSYS";
    case EINVAL: return "EINVAL";
    case ENOENT: return "ENOENT";
    case EBADF: return "EBADF";
    case EFAULT: return "EFAULT";
    case ENOKEY: return "ENOKEY";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case ESTALE: return "ESTALE";
    case EBUSY: return "EBUSY";
    default: snprintf (other, sizeof other, "E%d", e); return other;
    }
}

/* Run fn in a child; "ok", the errno name, or "killed:N" when a signal ended it (SIGSYS). */
static void
try_call (const char *name, long (*fn) (void), int first)
{
  int p[2];
  if (pipe (p) < 0)
    return;
  pid_t pid = fork ();
  if (pid == 0)
    {
      close (p[0]);
      errno = 0;
      long r = fn ();
      int e = r < 0 ? errno : 0;
      if (write (p[1], &e, sizeof e) < 0)
        _exit (3);
      _exit (0);
    }
  close (p[1]);
  int e = -1, st = 0;
  ssize_t n = read (p[0], &e, sizeof e);
  close (p[0]);
  waitpid (pid, &st, 0);
  printf ("%s\"%s\":", first ? "" : ",", name);
  if (n == sizeof e)
    printf ("\"%s\"", e == 0 ? "ok" : errname (e));
  else if (WIFSIGNALED (st))
    printf ("\"killed:%d\"", WTERMSIG (st));
  else
    printf ("\"lost\"");
}

int
main (int argc, char **argv)
{
  char line[256], seccomp[32] = "?";
  FILE *f = fopen ("/proc/self/status", "r");
  while (f && fgets (line, sizeof line, f))
    if (sscanf (line, "Seccomp: %31s", seccomp) == 1)
      break;
  if (f)
    fclose (f);
  printf ("{\"Seccomp\":\"%s\"", seccomp);
  for (size_t k = 0; k < sizeof calls / sizeof calls[0]; k++)
    {
      int wanted = argc == 1;
      for (int a = 1; a < argc; a++)
        wanted |= strcmp (argv[a], calls[k].name) == 0;
      if (wanted)
        try_call (calls[k].name, calls[k].fn, 0);
    }
  printf ("}\n");
  return 0;
}
