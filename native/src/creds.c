#include "creds.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static int
drop_bounding (uint64_t keep, tank_err_t *err)
{
  for (int c = 0; c < 64; c++)
    {
      if (prctl (PR_CAPBSET_READ, c, 0, 0, 0) < 0)
        break; /* past the kernel's last capability */
      if (!(keep & (1ULL << c)) && prctl (PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
        return tank_error (err, errno, "cap_bounding", "drop capability %d from the bounding set", c);
    }
  return 0;
}

static int
set_caps (const caps_spec_t *caps, tank_err_t *err)
{
  struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct data[2] = { 0 };
  for (int k = 0; k < 2; k++)
    {
      data[k].effective = (uint32_t) (caps->effective >> (32 * k));
      data[k].permitted = (uint32_t) (caps->permitted >> (32 * k));
      data[k].inheritable = (uint32_t) (caps->inheritable >> (32 * k));
    }
  if (syscall (SYS_capset, &hdr, data) < 0)
    return tank_error (err, errno, "capset", "set effective/permitted/inheritable capabilities");
  if (prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    return tank_error (err, errno, "cap_ambient", "clear ambient capabilities");
  for (int c = 0; c < 64; c++)
    if ((caps->ambient & (1ULL << c)) && prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
      return tank_error (err, errno, "cap_ambient", "raise ambient capability %d (must be permitted and inheritable)", c);
  return 0;
}

static int
apply_rlimits (const monitor_config_t *cfg, tank_err_t *err)
{
  for (size_t k = 0; k < cfg->nrlimits; k++)
    {
      const rlimit_spec_t *r = &cfg->rlimits[k];
      struct rlimit rl = { (rlim_t) r->soft, (rlim_t) r->hard }, cur;
      if (setrlimit (r->resource, &rl) == 0)
        continue;
      int e = errno;
      getrlimit (r->resource, &cur);
      return tank_error (err, e, "rlimit", "set rlimit %d to %llu:%llu (the hard limit here is %llu)", r->resource,
                         (unsigned long long) r->soft, (unsigned long long) r->hard,
                         (unsigned long long) cur.rlim_max);
    }
  return 0;
}

/* The identity change, shared by the workload and `enter`, in the order that keeps each step
 * possible and the last one tight: rlimits (raising a hard limit needs CAP_SYS_RESOURCE in the
 * host's user namespace), the pod's user namespace (from here on our capabilities are its, none of
 * the host's; the filter may forbid setns, so this comes before it), the bounding set (needs
 * CAP_SETPCAP), groups/gid/uid (container ids, mapped), the capability sets, then no_new_privs and
 * the seccomp filter last, so the filter is in force for everything from execve on. Without
 * no_new_privs the kernel lets only a CAP_SYS_ADMIN holder load a filter, so it is loaded first,
 * while we still are full root (runc does the same); the default profile allows every call below. */
int
creds_apply (const monitor_config_t *cfg, tank_err_t *err)
{
  if (apply_rlimits (cfg, err) < 0)
    return -1;
  if (cfg->userns_fd >= 0 && setns (cfg->userns_fd, CLONE_NEWUSER) < 0)
    return tank_error (err, errno, "userns", "join the pod's user namespace");
  if (!cfg->no_new_privs && seccomp_apply (&cfg->seccomp, err) < 0)
    return -1;
  /* Bounding first, while we still hold CAP_SETPCAP; KEEPCAPS so setuid() to a non-root uid keeps
   * the permitted set, which capset() then trims to exactly what the config asks for. */
  if (drop_bounding (cfg->caps.bounding, err) < 0)
    return -1;
  if (prctl (PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
    return tank_error (err, errno, "capset", "PR_SET_KEEPCAPS");
  if (setgroups (cfg->ngroups, cfg->groups) < 0)
    return tank_error (err, errno, "setgroups", "setgroups (%zu groups)", cfg->ngroups);
  if (setresgid (cfg->gid, cfg->gid, cfg->gid) < 0)
    return tank_error (err, errno, "setgid", "setgid %u", (unsigned) cfg->gid);
  if (setresuid (cfg->uid, cfg->uid, cfg->uid) < 0)
    return tank_error (err, errno, "setuid", "setuid %u", (unsigned) cfg->uid);
  if (set_caps (&cfg->caps, err) < 0)
    return -1;
  if (prctl (PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
    return tank_error (err, errno, "capset", "clear PR_SET_KEEPCAPS");
  if (cfg->no_new_privs && prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return tank_error (err, errno, "no_new_privs", "PR_SET_NO_NEW_PRIVS");
  if (cfg->no_new_privs && seccomp_apply (&cfg->seccomp, err) < 0)
    return -1;
  return 0;
}
