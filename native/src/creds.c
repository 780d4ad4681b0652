#include "creds.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
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

int
creds_apply (const monitor_config_t *cfg, tank_err_t *err)
{
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
  return 0;
}
