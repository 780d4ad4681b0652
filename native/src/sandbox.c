#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "spawn.h"
#include "util.h"

static const struct { const char *name; int flag; } ns_types[] = {
  { "net", CLONE_NEWNET }, { "uts", CLONE_NEWUTS }, { "ipc", CLONE_NEWIPC },
};

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
  for (size_t k = 0; k < 3; k++)
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

static int
create (const char *dir, int flags, const char *hostname, tank_err_t *err)
{
  char p[4096];
  if (mkdir_p (dir, 0700) < 0)
    return tank_error (err, errno, "mkdir", "create `%s`", dir);
  /* Like `ip netns` with /run/netns: the pins live on a private bind mount of the directory, so
   * they never propagate into (or get copied back from) peers of the host's mount tree. */
  if (!is_mount_root (dir) && mount (dir, dir, NULL, MS_BIND, NULL) < 0)
    return tank_error (err, errno, "bind_dir", "bind `%s` onto itself", dir);
  if (mount (NULL, dir, NULL, MS_PRIVATE, NULL) < 0)
    return tank_error (err, errno, "bind_dir", "make `%s` private", dir);
  if (unshare (flags) < 0)
    return tank_error (err, errno, "unshare", "unshare namespaces 0x%x", flags);
  if (hostname && sethostname (hostname, strlen (hostname)) < 0)
    return tank_error (err, errno, "sethostname", "sethostname `%s`", hostname);
  if ((flags & CLONE_NEWNET) && lo_up (err) < 0)
    return -1;
  for (size_t k = 0; k < 3; k++)
    {
      if (!(flags & ns_types[k].flag))
        continue;
      snprintf (p, sizeof p, "%s/%s", dir, ns_types[k].name);
      int fd = open (p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
      if (fd < 0)
        return tank_error (err, errno, "pin_ns", "create `%s`", p);
      close (fd);
      char src[64];
      snprintf (src, sizeof src, "/proc/self/ns/%s", ns_types[k].name);
      if (mount (src, p, NULL, MS_BIND, NULL) < 0)
        return tank_error (err, errno, "pin_ns", "bind %s onto `%s`", src, p);
    }
  return 0;
}

int
sandbox_main (int argc, char **argv)
{
  tank_err_t err = { 0 }, ignored;
  const char *dir = arg_value (argc, argv, "--dir"), *hostname = arg_value (argc, argv, "--hostname");
  int flags = 0;
  for (size_t k = 0; k < 3; k++)
    {
      char opt[16];
      snprintf (opt, sizeof opt, "--%s", ns_types[k].name);
      if (has_flag (argc, argv, opt))
        flags |= ns_types[k].flag;
    }
  if (dir == NULL || dir[0] != '/' || flags == 0 || (hostname && !(flags & CLONE_NEWUTS)))
    {
      tank_error (&err, EINVAL, "usage",
                  "usage: tank-helper sandbox --dir ABS [--net] [--uts] [--ipc] [--hostname NAME (needs --uts)]");
      tank_error_print (1, &err);
      return 2;
    }
  if (create (dir, flags, hostname, &err) < 0)
    {
      (void) remove_dir (dir, &ignored); /* leave nothing behind on failure */
      tank_error_print (1, &err);
      return 1;
    }
  cleanup_buf tbuf_t b = { 0 };
  buf_puts (&b, "{\"ok\":true,\"dir\":");
  json_write_str (&b, dir);
  for (size_t k = 0; k < 3; k++)
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
