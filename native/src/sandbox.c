#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "json.h"
#include "spawn.h"
#include "util.h"

/* "user" first: with a user namespace, the others are created inside it and owned by it. */
static const struct { const char *name; int flag; } ns_types[] = {
  { "user", CLONE_NEWUSER }, { "net", CLONE_NEWNET }, { "uts", CLONE_NEWUTS }, { "ipc", CLONE_NEWIPC },
};
#define NTYPES (sizeof ns_types / sizeof ns_types[0])

/* An id map "INSIDE:OUTSIDE:COUNT" as /proc/PID/uid_map wants it ("INSIDE OUTSIDE COUNT"). */
typedef struct {
  unsigned long inside, outside, count;
} idmap_t;

static int
parse_idmap (const char *s, idmap_t *m)
{
  char tail;
  if (s == NULL || sscanf (s, "%lu:%lu:%lu%c", &m->inside, &m->outside, &m->count, &tail) != 3 || m->count == 0
      || m->inside + m->count > 4294967295UL || m->outside + m->count > 4294967295UL)
    return -1;
  return 0;
}

static const char *
arg_value (int argc, char **argv, const char *name)
{
  for (int k = 0; k + 1 < argc; k++)
    if (strcmp (argv[k], name) == 0)
      return argv[k + 1];
  return NULL;
}

static bool
has_flag (int argc, char **argv, const char *name)
{
  for (int k = 0; k < argc; k++)
    if (strcmp (argv[k], name) == 0)
      return true;
  return false;
}

static bool
is_mount_root (const char *path)
{
  struct statx sx;
  return statx (AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) == 0
         && (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

/* Unmount and remove every pin and the directory itself; missing parts are fine (idempotent). */
static int
remove_dir (const char *dir, tank_err_t *err)
{
  char p[4096];
  for (size_t k = 0; k < NTYPES; k++)
    {
      snprintf (p, sizeof p, "%s/%s", dir, ns_types[k].name);
      if (umount2 (p, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
        return tank_error (err, errno, "umount_ns", "unmount `%s`", p);
      if (unlink (p) < 0 && errno != ENOENT)
        return tank_error (err, errno, "remove_ns", "remove `%s`", p);
    }
  while (is_mount_root (dir))
    if (umount2 (dir, MNT_DETACH) < 0)
      return tank_error (err, errno, "umount_dir", "unmount `%s`", dir);
  if (rmdir (dir) < 0 && errno != ENOENT)
    return tank_error (err, errno, "remove_dir", "remove `%s`", dir);
  return 0;
}

/* Bind /proc/<pid>/ns/<type> (pid 0: self) onto `dir/<type>` for every type in `flags`. */
static int
pin_all (const char *dir, int flags, pid_t pid, tank_err_t *err)
{
  char p[4096], src[64];
  for (size_t k = 0; k < NTYPES; k++)
    {
      if (!(flags & ns_types[k].flag))
        continue;
      snprintf (p, sizeof p, "%s/%s", dir, ns_types[k].name);
      int fd = open (p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
      if (fd < 0)
        return tank_error (err, errno, "pin_ns", "create `%s`", p);
      close (fd);
      if (pid > 0)
        snprintf (src, sizeof src, "/proc/%d/ns/%s", (int) pid, ns_types[k].name);
      else
        snprintf (src, sizeof src, "/proc/self/ns/%s", ns_types[k].name);
      if (mount (src, p, NULL, MS_BIND, NULL) < 0)
        return tank_error (err, errno, "pin_ns", "bind %s onto `%s`", src, p);
    }
  return 0;
}

/* What the spawner's pool makes ahead of a request (sandbox_prepare): a `network: none` or bridged
 * pod's sandbox without a user namespace, the common case. */
#define POOL_FLAGS (CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC)

/* The namespaces other than user, made by the calling process (in the user namespace if any);
 * `prepared`: the calling process made exactly these already, `lo` up (sandbox_prepare). */
static int
make_others (int flags, const char *hostname, bool prepared, tank_err_t *err)
{
  if (!prepared && (flags & ~CLONE_NEWUSER) && unshare (flags & ~CLONE_NEWUSER) < 0)
    return tank_error (err, errno, "unshare", "unshare namespaces 0x%x", flags & ~CLONE_NEWUSER);
  if (hostname && sethostname (hostname, strlen (hostname)) < 0)
    return tank_error (err, errno, "sethostname", "sethostname `%s`", hostname);
  if (!prepared && (flags & CLONE_NEWNET) && lo_up (err) < 0)
    return -1;
  return 0;
}

int
sandbox_prepare (tank_err_t *err)
{
  return make_others (POOL_FLAGS, NULL, false, err);
}

static int
write_map (pid_t pid, const char *file, const idmap_t *m, tank_err_t *err)
{
  char path[64], line[96];
  snprintf (path, sizeof path, "/proc/%d/%s", (int) pid, file);
  int n = snprintf (line, sizeof line, "%lu %lu %lu\n", m->inside, m->outside, m->count);
  cleanup_close int fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write (fd, line, (size_t) n) != n)
    return tank_error (err, errno, "userns_map", "write `%s` (%lu %lu %lu)", path, m->inside, m->outside, m->count);
  return 0;
}

/*
 * With a user namespace the pins need two processes: only a process in the parent namespace with
 * CAP_SETUID may write an arbitrary id map, and only one in the new namespace can create namespaces
 * it owns. The child unshares the user namespace, waits for its maps, makes net/uts/ipc inside it;
 * we (in the host's namespaces, still root there) pin all four through /proc/<child>/ns and let
 * the child go. Messages on a socketpair: 1 byte to proceed, a tank_err_t back (errnum 0 = ok).
 */
static int
create_in_userns (const char *dir, int flags, const char *hostname, const idmap_t *uid, const idmap_t *gid,
                  tank_err_t *err)
{
  int sp[2];
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
    return tank_error (err, errno, "spawn", "socketpair");
  pid_t pid = fork ();
  if (pid < 0)
    {
      close (sp[0]), close (sp[1]);
      return tank_error (err, errno, "spawn", "fork");
    }
  if (pid == 0)
    {
      tank_err_t e = { 0 };
      char go;
      close (sp[0]);
      prctl (PR_SET_PDEATHSIG, SIGKILL);
      if (unshare (CLONE_NEWUSER) < 0)
        tank_error (&e, errno, "unshare", "unshare the user namespace");
      if (write (sp[1], &e, sizeof e) != sizeof e || e.errnum != 0 || read (sp[1], &go, 1) != 1)
        _exit (1);
      make_others (flags, hostname, false, &e);
      if (write (sp[1], &e, sizeof e) != sizeof e || e.errnum != 0)
        _exit (1);
      if (read (sp[1], &go, 1) < 0) /* hold the namespaces until they are pinned */
        _exit (1);
      _exit (0);
    }
  close (sp[1]);
  cleanup_close int s = sp[0];
  tank_err_t e = { 0 };
  int ret = -1;
  if (read (s, &e, sizeof e) != sizeof e)
    tank_error (err, EPIPE, "unshare", "the namespace child died");
  else if (e.errnum != 0)
    *err = e;
  else if (write_map (pid, "uid_map", uid, err) == 0 && write_map (pid, "gid_map", gid, err) == 0
           && write (s, "g", 1) == 1)
    {
      if (read (s, &e, sizeof e) != sizeof e)
        tank_error (err, EPIPE, "unshare", "the namespace child died");
      else if (e.errnum != 0)
        *err = e;
      else
        ret = pin_all (dir, flags, pid, err);
    }
  kill (pid, SIGKILL);
  while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
    ;
  return ret;
}

static int
create (const char *dir, int flags, const char *hostname, const idmap_t *uid, const idmap_t *gid, bool prepared,
        tank_err_t *err)
{
  if (mkdir_p (dir, 0700) < 0)
    return tank_error (err, errno, "mkdir", "create `%s`", dir);
  /* Like `ip netns` with /run/netns: the pins live on a private bind mount of the directory, so
   * they never propagate into (or get copied back from) peers of the host's mount tree. */
  if (!is_mount_root (dir) && mount (dir, dir, NULL, MS_BIND, NULL) < 0)
    return tank_error (err, errno, "bind_dir", "bind `%s` onto itself", dir);
  if (mount (NULL, dir, NULL, MS_PRIVATE, NULL) < 0)
    return tank_error (err, errno, "bind_dir", "make `%s` private", dir);
  if (flags & CLONE_NEWUSER)
    return create_in_userns (dir, flags, hostname, uid, gid, err);
  if (make_others (flags, hostname, prepared, err) < 0)
    return -1;
  return pin_all (dir, flags, 0, err);
}

/* The namespace types a `sandbox` command line asks for (user when it has an id map). */
static int
requested_flags (int argc, char **argv)
{
  int flags = 0;
  for (size_t k = 1; k < NTYPES; k++)
    {
      char opt[16];
      snprintf (opt, sizeof opt, "--%s", ns_types[k].name);
      if (has_flag (argc, argv, opt))
        flags |= ns_types[k].flag;
    }
  if (arg_value (argc, argv, "--uid-map") != NULL || arg_value (argc, argv, "--gid-map") != NULL)
    flags |= CLONE_NEWUSER;
  return flags;
}

bool
sandbox_poolable (int argc, char **argv)
{
  return argc >= 1 && strcmp (argv[0], "sandbox") == 0 && requested_flags (argc, argv) == POOL_FLAGS;
}

/* `prepared`: this process already is in fresh POOL_FLAGS namespaces (the spawner's pool). */
static int
sandbox_run (int argc, char **argv, bool prepared)
{
  tank_err_t err = { 0 }, ignored;
  const char *dir = arg_value (argc, argv, "--dir"), *hostname = arg_value (argc, argv, "--hostname");
  const char *uid_s = arg_value (argc, argv, "--uid-map"), *gid_s = arg_value (argc, argv, "--gid-map");
  idmap_t uid = { 0 }, gid = { 0 };
  int flags = requested_flags (argc, argv);
  bool userns = (flags & CLONE_NEWUSER) != 0;
  if (prepared && flags != POOL_FLAGS)
    {
      tank_error (&err, EINVAL, "usage", "a prepared sandbox has exactly net, uts and ipc, no user namespace");
      tank_error_print (1, &err);
      return 2;
    }
  if (dir == NULL || dir[0] != '/' || (flags & ~CLONE_NEWUSER) == 0 || (hostname && !(flags & CLONE_NEWUTS))
      || (userns && (parse_idmap (uid_s, &uid) < 0 || parse_idmap (gid_s, &gid) < 0)))
    {
      tank_error (&err, EINVAL, "usage",
                  "usage: tank-helper sandbox --dir ABS [--net] [--uts] [--ipc] [--hostname NAME (needs --uts)] "
                  "[--uid-map IN:OUT:COUNT --gid-map IN:OUT:COUNT]");
      tank_error_print (1, &err);
      return 2;
    }
  if (create (dir, flags, hostname, &uid, &gid, prepared, &err) < 0)
    {
      (void) remove_dir (dir, &ignored); /* leave nothing behind on failure */
      tank_error_print (1, &err);
      return 1;
    }
  cleanup_buf tbuf_t b = { 0 };
  buf_puts (&b, "{\"ok\":true,\"dir\":");
  json_write_str (&b, dir);
  for (size_t k = 0; k < NTYPES; k++)
    if (flags & ns_types[k].flag)
      {
        char p[4096];
        snprintf (p, sizeof p, "%s/%s", dir, ns_types[k].name);
        buf_printf (&b, ",\"%s\":", ns_types[k].name);
        json_write_str (&b, p);
      }
  buf_puts (&b, "}\n");
  write_all (1, b.data, b.len);
  return 0;
}

int
sandbox_main (int argc, char **argv)
{
  return sandbox_run (argc, argv, false);
}

int
sandbox_main_prepared (int argc, char **argv)
{
  return sandbox_run (argc, argv, true);
}

int
sandbox_remove_main (int argc, char **argv)
{
  tank_err_t err = { 0 };
  const char *dir = arg_value (argc, argv, "--dir");
  if (dir == NULL || dir[0] != '/')
    {
      tank_error (&err, EINVAL, "usage", "usage: tank-helper sandbox-remove --dir ABS");
      tank_error_print (1, &err);
      return 2;
    }
  if (remove_dir (dir, &err) < 0)
    {
      tank_error_print (1, &err);
      return 1;
    }
  write_all (1, "{\"ok\":true}\n", 12);
  return 0;
}
