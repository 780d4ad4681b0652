#include "rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "util.h"

#define FDPATH(fd) (snprintf (fdp, sizeof fdp, "/proc/self/fd/%d", (fd)), fdp)

static int
openat2_in_root (int rootfd, const char *path, int flags)
{
  struct open_how how = { .flags = (uint64_t) flags | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
  while (*path == '/')
    path++;
  if (*path == '\0')
    path = ".";
  return (int) syscall (SYS_openat2, rootfd, path, &how, sizeof how);
}

int
open_in_root (int rootfd, const char *path, int create)
{
  int fd = openat2_in_root (rootfd, path, O_PATH);
  if (fd >= 0 || errno != ENOENT || create == 0)
    return fd;
  /* Create missing components one at a time: each parent is opened with RESOLVE_IN_ROOT and the
   * new name is a single component, so a symlink planted in the image cannot redirect us. */
  char buf[4096];
  if (snprintf (buf, sizeof buf, "%s", path) >= (int) sizeof buf)
    {
      errno = ENAMETOOLONG;
      return -1;
    }
  char *p = buf;
  while (*p == '/')
    p++;
  for (;;)
    {
      char *slash = strchr (p, '/');
      bool last = slash == NULL;
      if (!last)
        *slash = '\0';
      char *base = strrchr (buf, '/');
      const char *name = base ? base + 1 : buf;
      cleanup_close int parent = -1;
      if (base != NULL)
        {
          *base = '\0';
          parent = openat2_in_root (rootfd, buf, O_PATH | O_DIRECTORY);
          *base = '/';
        }
      else
        parent = dup (rootfd);
      if (parent < 0)
        return -1;
      int r = (last && create == 'f') ? mknodat (parent, name, S_IFREG | 0644, 0) : mkdirat (parent, name, 0755);
      if (r < 0 && errno != EEXIST)
        return -1;
      if (last)
        break;
      *slash = '/';
      p = slash + 1;
    }
  return openat2_in_root (rootfd, path, O_PATH);
}

static int
mount_at (int rootfd, const char *path, int create, const char *src, const char *type, unsigned long flags,
          const char *data, const char *step, tank_err_t *err)
{
  char fdp[64];
  cleanup_close int fd = open_in_root (rootfd, path, create);
  if (fd < 0)
    return tank_error (err, errno, step, "open `%s` in rootfs", path);
  if (mount (src, FDPATH (fd), type, flags, data) < 0)
    return tank_error (err, errno, step, "mount %s on `%s`", type ? type : src, path);
  return 0;
}

/* A detached copy of the mount tree at `src` seen through the pod's user namespace mapping (an
 * idmapped mount: files owned by id N on disk appear owned by the id N maps to, and files created
 * through it are stored as the inverse), plus `attrs`. Only detached mounts can be idmapped. */
static int
idmapped_clone (const char *src, int userns_fd, unsigned long attrs, bool recursive, const char *step,
                tank_err_t *err)
{
  int fd = (int) syscall (SYS_open_tree, AT_FDCWD, src,
                          OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
  if (fd < 0)
    return tank_error (err, errno, step, "clone the mount at `%s`", src);
  struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP | attrs, .userns_fd = (uint64_t) userns_fd };
  if (mount_setattr (fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, sizeof attr) < 0)
    {
      int e = errno;
      close (fd);
      return tank_error (err, e, step, "idmap `%s`%s", src,
                         e == EINVAL ? " (its filesystem does not support idmapped mounts)" : "");
    }
  return fd;
}

/* hostUsers: false — each layer dir is shadowed, in our private mount namespace only, by an
 * idmapped mount of itself: the image's root-owned files read as owned by the pod's root, and the
 * shared layer cache on disk is never chowned or copied. */
static int
idmap_lowers (const monitor_config_t *cfg, tank_err_t *err)
{
  for (size_t k = 0; cfg->lowerdirs[k]; k++)
    {
      int fd = idmapped_clone (cfg->lowerdirs[k], cfg->userns_fd, MOUNT_ATTR_RDONLY, false, "mount_rootfs", err);
      if (fd < 0)
        return -1;
      int r = move_mount (fd, "", AT_FDCWD, cfg->lowerdirs[k], MOVE_MOUNT_F_EMPTY_PATH);
      int e = errno;
      close (fd);
      if (r < 0)
        return tank_error (err, e, "mount_rootfs", "attach the idmapped layer over `%s`", cfg->lowerdirs[k]);
    }
  return 0;
}

/* Many or long layer paths overflow mount(2)'s one-page option string; the new mount API takes
 * the lower layers one at a time ("lowerdir+", Linux 6.8+). */
static int
mount_overlay_fsconfig (const monitor_config_t *cfg, tank_err_t *err)
{
  cleanup_close int fs = fsopen ("overlay", FSOPEN_CLOEXEC);
  if (fs < 0)
    return tank_error (err, errno, "mount_rootfs", "fsopen overlay");
  for (size_t k = 0; cfg->lowerdirs[k]; k++)
    if (fsconfig (fs, FSCONFIG_SET_STRING, "lowerdir+", cfg->lowerdirs[k], 0) < 0)
      return tank_error (err, errno, "mount_rootfs", "overlay lowerdir+ `%s`", cfg->lowerdirs[k]);
  if (fsconfig (fs, FSCONFIG_SET_STRING, "upperdir", cfg->upperdir, 0) < 0
      || fsconfig (fs, FSCONFIG_SET_STRING, "workdir", cfg->workdir, 0) < 0
      || fsconfig (fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
    return tank_error (err, errno, "mount_rootfs", "overlay upperdir/workdir/create");
  cleanup_close int mnt = fsmount (fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV);
  if (mnt < 0 || move_mount (mnt, "", AT_FDCWD, cfg->merged, MOVE_MOUNT_F_EMPTY_PATH) < 0)
    return tank_error (err, errno, "mount_rootfs", "mount overlay on `%s`", cfg->merged);
  return 0;
}

static int
mount_overlay (const monitor_config_t *cfg, tank_err_t *err)
{
  cleanup_buf tbuf_t o = { 0 };
  buf_puts (&o, "lowerdir=");
  for (size_t k = 0; cfg->lowerdirs[k]; k++)
    buf_printf (&o, "%s%s", k ? ":" : "", cfg->lowerdirs[k]);
  buf_printf (&o, ",upperdir=%s,workdir=%s", cfg->upperdir, cfg->workdir);
  if (o.len >= (size_t) sysconf (_SC_PAGESIZE))
    return mount_overlay_fsconfig (cfg, err);
  if (mount ("overlay", cfg->merged, "overlay", MS_NODEV, o.data) < 0)
    return tank_error (err, errno, "mount_rootfs", "mount overlay on `%s` (%s)", cfg->merged, o.data);
  return 0;
}

static int
setup_dev (int rootfd, const monitor_config_t *cfg, tank_err_t *err)
{
  /* In a user namespace, /dev, its ptys and /dev/shm belong to the pod's root (and tty group), not
   * to a host id the pod cannot map. */
  char devopts[96], ptsopts[96], shmopts[96];
  unsigned u = cfg->userns.path ? cfg->userns.host_uid : 0, g = cfg->userns.path ? cfg->userns.host_gid : 0;
  snprintf (devopts, sizeof devopts, "mode=755,size=65536k,uid=%u,gid=%u", u, g);
  snprintf (ptsopts, sizeof ptsopts, "newinstance,ptmxmode=0666,mode=0620,gid=%u", g + 5);
  snprintf (shmopts, sizeof shmopts, "mode=1777,size=65536k,uid=%u,gid=%u", u, g);
  static const struct { const char *name; unsigned maj, min; } nodes[] = {
    { "null", 1, 3 }, { "zero", 1, 5 }, { "full", 1, 7 }, { "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 },
  };
  static const struct { const char *target, *name; } links[] = {
    { "pts/ptmx", "ptmx" }, { "/proc/self/fd", "fd" }, { "/proc/self/fd/0", "stdin" },
    { "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" },
  };
  if (mount_at (rootfd, "/dev", 'd', "tmpfs", "tmpfs", MS_NOSUID | MS_STRICTATIME, devopts, "mount_dev", err) < 0)
    return -1;
  cleanup_close int dev = openat2_in_root (rootfd, "/dev", O_DIRECTORY);
  if (dev < 0)
    return tank_error (err, errno, "mount_dev", "open /dev in rootfs");
  for (size_t k = 0; k < sizeof nodes / sizeof nodes[0]; k++)
    if (mknodat (dev, nodes[k].name, S_IFCHR | 0666, makedev (nodes[k].maj, nodes[k].min)) < 0)
      return tank_error (err, errno, "mknod_dev", "mknod /dev/%s", nodes[k].name);
  if (mkdirat (dev, "pts", 0755) < 0 || mkdirat (dev, "shm", 01777) < 0)
    return tank_error (err, errno, "mount_dev", "mkdir /dev/pts, /dev/shm");
  if (mount_at (rootfd, "/dev/pts", 0, "devpts", "devpts", MS_NOSUID | MS_NOEXEC, ptsopts, "mount_devpts", err) < 0
      || mount_at (rootfd, "/dev/shm", 0, "shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, shmopts, "mount_shm", err)
             < 0)
    return -1;
  for (size_t k = 0; k < sizeof links / sizeof links[0]; k++)
    if (symlinkat (links[k].target, dev, links[k].name) < 0)
      return tank_error (err, errno, "mount_dev", "symlink /dev/%s", links[k].name);
  return 0;
}

static int
setup_sys (int rootfd, tank_err_t *err)
{
  char fdp[64];
  unsigned long fl = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
  cleanup_close int fd = open_in_root (rootfd, "/sys", 'd');
  if (fd < 0)
    return tank_error (err, errno, "mount_sys", "open /sys in rootfs");
  if (mount ("sysfs", FDPATH (fd), "sysfs", fl, NULL) == 0)
    return 0;
  /* sysfs cannot be mounted fresh without owning the netns; fall back to a ro recursive bind. */
  if (mount ("/sys", FDPATH (fd), NULL, MS_BIND | MS_REC, NULL) < 0)
    return tank_error (err, errno, "mount_sys", "bind /sys");
  cleanup_close int again = open_in_root (rootfd, "/sys", 0);
  if (again < 0 || mount (NULL, FDPATH (again), NULL, MS_REMOUNT | MS_BIND | fl, NULL) < 0)
    return tank_error (err, errno, "mount_sys", "remount /sys read-only");
  return 0;
}

/* Bind src onto path inside the rootfs, with submounts (MS_REC), then seal the whole bound tree
 * at once with mount_setattr(AT_RECURSIVE): nosuid and nodev always (a host directory must not
 * smuggle setuid binaries or device nodes into the container), read-only when asked — recursively,
 * so a submount under a read-only volume (a tmpfs mounted inside the host directory) is read-only
 * too, which a plain MS_REMOUNT of the top mount would leave writable. */
static int
bind_into (int rootfd, const char *src, const char *path, bool read_only, int idmap_userns, const char *step,
           tank_err_t *err)
{
  char fdp[64];
  struct stat st;
  if (stat (src, &st) < 0)
    return tank_error (err, errno, step, "stat source `%s`", src);
  if (idmap_userns >= 0)
    {
      /* An idmapped, sealed clone of the source tree, attached in one step. */
      int clone = idmapped_clone (src, idmap_userns,
                                  MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (read_only ? MOUNT_ATTR_RDONLY : 0), true, step,
                                  err);
      if (clone < 0)
        return -1;
      cleanup_close int fd = open_in_root (rootfd, path, S_ISDIR (st.st_mode) ? 'd' : 'f');
      int r = fd < 0 ? -1 : move_mount (clone, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
      int e = errno;
      close (clone);
      if (r < 0)
        return tank_error (err, e, step, "attach idmapped `%s` on `%s`", src, path);
      return 0;
    }
  if (mount_at (rootfd, path, S_ISDIR (st.st_mode) ? 'd' : 'f', src, NULL, MS_BIND | MS_REC, NULL, step, err) < 0)
    return -1;
  /* Re-open: the old fd points at the covered inode, not at the new mount. */
  cleanup_close int fd = open_in_root (rootfd, path, 0);
  if (fd < 0)
    return tank_error (err, errno, step, "reopen `%s`", path);
  struct mount_attr attr = { .attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (read_only ? MOUNT_ATTR_RDONLY : 0) };
  if (mount_setattr (fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) == 0)
    return 0;
  if (errno != ENOSYS)
    return tank_error (err, errno, step, "seal `%s` (nosuid,nodev%s, recursively)", path, read_only ? ",ro" : "");
  /* Kernels before 5.12: the top mount only (PROTOCOL.md §10 says so). */
  struct statvfs sv;
  if (fstatvfs (fd, &sv) < 0)
    return tank_error (err, errno, step, "statvfs `%s`", path);
  unsigned long keep = sv.f_flag & (ST_NOEXEC | ST_NOATIME | ST_NODIRATIME | ST_RELATIME);
  if (mount (NULL, FDPATH (fd), NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | (read_only ? MS_RDONLY : 0) | keep,
             NULL)
      < 0)
    return tank_error (err, errno, step, "remount `%s` nosuid,nodev%s", path, read_only ? ",ro" : "");
  return 0;
}

/* Devices passed through on purpose (`devices:` in the spec): recreated in the container's /dev
 * with the host node's numbers, mode and owner. Opening them is still up to the cgroup policy,
 * which the agent extends with exactly these. */
static int
make_devices (int rootfd, const monitor_config_t *cfg, tank_err_t *err)
{
  for (size_t k = 0; k < cfg->ndevices; k++)
    {
      const device_spec_t *d = &cfg->devices[k];
      char parent[4096];
      snprintf (parent, sizeof parent, "%s", d->path);
      char *slash = strrchr (parent, '/');
      const char *name = slash + 1;
      *slash = '\0';
      if (name[0] == '\0' || strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
        return tank_error (err, EINVAL, "mknod_dev", "`%s` does not name a file", d->path);
      /* An O_PATH directory fd resolved inside the root serves as the dirfd of the *at calls. */
      cleanup_close int dirfd = open_in_root (rootfd, parent[0] ? parent : "/", 'd');
      if (dirfd < 0)
        return tank_error (err, errno, "mknod_dev", "open the parent of `%s` in rootfs", d->path);
      unlinkat (dirfd, name, 0); /* an image file of that name is replaced */
      mode_t type = d->type == 'b' ? S_IFBLK : S_IFCHR;
      if (mknodat (dirfd, name, type | d->mode, makedev (d->major, d->minor)) < 0)
        return tank_error (err, errno, "mknod_dev", "mknod `%s` (%c %u:%u)", d->path, d->type, d->major, d->minor);
      if (fchmodat (dirfd, name, d->mode, 0) < 0 || fchownat (dirfd, name, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0)
        return tank_error (err, errno, "mknod_dev", "chown/chmod `%s`", d->path);
    }
  return 0;
}

static int
mask_paths (int rootfd, const monitor_config_t *cfg, tank_err_t *err)
{
  char fdp[64];
  struct stat st;
  for (size_t k = 0; cfg->masked_paths[k]; k++)
    {
      const char *p = cfg->masked_paths[k];
      cleanup_close int fd = open_in_root (rootfd, p, 0);
      if (fd < 0 && errno == ENOENT)
        continue;
      if (fd < 0 || fstat (fd, &st) < 0)
        return tank_error (err, errno, "mask_path", "open `%s`", p);
      int r = S_ISDIR (st.st_mode) ? mount ("tmpfs", FDPATH (fd), "tmpfs", MS_RDONLY, "size=0")
                                   : mount ("/dev/null", FDPATH (fd), NULL, MS_BIND, NULL);
      if (r < 0)
        return tank_error (err, errno, "mask_path", "mask `%s`", p);
    }
  for (size_t k = 0; cfg->readonly_paths[k]; k++)
    {
      const char *p = cfg->readonly_paths[k];
      cleanup_close int fd = open_in_root (rootfd, p, 0);
      if (fd < 0 && errno == ENOENT)
        continue;
      if (fd < 0)
        return tank_error (err, errno, "readonly_path", "open `%s`", p);
      if (mount (FDPATH (fd), FDPATH (fd), NULL, MS_BIND | MS_REC, NULL) < 0)
        return tank_error (err, errno, "readonly_path", "bind `%s`", p);
      cleanup_close int fd2 = open_in_root (rootfd, p, 0);
      if (fd2 < 0
          || mount (NULL, FDPATH (fd2), NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)
                 < 0)
        return tank_error (err, errno, "readonly_path", "remount `%s` read-only", p);
    }
  return 0;
}

static int
pivot (int rootfd, tank_err_t *err)
{
  /* pivot_root(".", ".") stacks the old root on top of the new one; detaching it leaves the new
   * root alone and needs no put_old directory inside the image (runc's trick). */
  if (fchdir (rootfd) < 0)
    return tank_error (err, errno, "pivot_root", "chdir to rootfs");
  if (syscall (SYS_pivot_root, ".", ".") < 0)
    return tank_error (err, errno, "pivot_root", "pivot_root");
  if (umount2 (".", MNT_DETACH) < 0)
    return tank_error (err, errno, "pivot_root", "detach old root");
  if (chdir ("/") < 0)
    return tank_error (err, errno, "pivot_root", "chdir /");
  return 0;
}

/* Kubernetes' readOnlyRootFilesystem: only the root mount itself (no AT_RECURSIVE), once every
 * mount point inside it exists, so volumes, /dev, /dev/shm, /proc and the /etc binds keep their own
 * flags. The writable layer stays mounted underneath and unused. */
static int
seal_root (tank_err_t *err)
{
  struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
  if (mount_setattr (AT_FDCWD, "/", 0, &attr, sizeof attr) < 0)
    return tank_error (err, errno, "readonly_rootfs", "make / read-only");
  return 0;
}

int
rootfs_setup (const monitor_config_t *cfg, tank_err_t *err)
{
  if (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    return tank_error (err, errno, "mount_private", "make / rec-private");
  if (cfg->userns.path && idmap_lowers (cfg, err) < 0)
    return -1;
  if (mount_overlay (cfg, err) < 0)
    return -1;
  cleanup_close int rootfd = open (cfg->merged, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    return tank_error (err, errno, "mount_rootfs", "open `%s`", cfg->merged);
  if (mount_at (rootfd, "/proc", 'd', "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, "mount_proc", err) < 0
      || setup_dev (rootfd, cfg, err) < 0 || make_devices (rootfd, cfg, err) < 0 || setup_sys (rootfd, err) < 0)
    return -1;
  for (size_t k = 0; k < cfg->nvolumes; k++)
    if (bind_into (rootfd, cfg->volumes[k].source, cfg->volumes[k].target, cfg->volumes[k].read_only,
                   cfg->volumes[k].idmap && cfg->userns.path ? cfg->userns_fd : -1, "bind_volume", err)
        < 0)
      return -1;
  for (size_t k = 0; k < cfg->netc; k++)
    if (bind_into (rootfd, cfg->etc[k].source, cfg->etc[k].target, cfg->etc[k].read_only, -1, "bind_etc", err) < 0)
      return -1;
  if (mask_paths (rootfd, cfg, err) < 0)
    return -1;
  if (pivot (rootfd, err) < 0)
    return -1;
  return cfg->rootfs_read_only ? seal_root (err) : 0;
}
