#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util.h"

static const char *const cap_names[] = {
  "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
  "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
  "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
  "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
  "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
  "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
};

int
cap_from_name (const char *name)
{
  if (strncasecmp (name, "CAP_", 4) == 0)
    name += 4;
  for (size_t k = 0; k < sizeof cap_names / sizeof cap_names[0]; k++)
    if (strcasecmp (name, cap_names[k]) == 0)
      return (int) k;
  return -1;
}

int
caps_parse_list (const jval_t *arr, uint64_t *mask, tank_err_t *err, const char *field)
{
  *mask = 0;
  if (arr == NULL || arr->type == J_NULL)
    return 0;
  if (arr->type != J_ARR)
    return tank_error (err, EINVAL, "config", "`%s` must be an array of capability names", field);
  for (size_t k = 0; k < arr->len; k++)
    {
      int c = arr->items[k]->type == J_STR ? cap_from_name (arr->items[k]->s) : -1;
      if (c < 0)
        return tank_error (err, EINVAL, "config", "`%s[%zu]` is not a known capability", field, k);
      *mask |= 1ULL << c;
    }
  return 0;
}

static const struct { const char *name; int resource; } rlimit_names[] = {
  { "AS", RLIMIT_AS },         { "CORE", RLIMIT_CORE },       { "CPU", RLIMIT_CPU },
  { "DATA", RLIMIT_DATA },     { "FSIZE", RLIMIT_FSIZE },     { "LOCKS", RLIMIT_LOCKS },
  { "MEMLOCK", RLIMIT_MEMLOCK }, { "MSGQUEUE", RLIMIT_MSGQUEUE }, { "NICE", RLIMIT_NICE },
  { "NOFILE", RLIMIT_NOFILE }, { "NPROC", RLIMIT_NPROC },     { "RSS", RLIMIT_RSS },
  { "RTPRIO", RLIMIT_RTPRIO }, { "RTTIME", RLIMIT_RTTIME },   { "SIGPENDING", RLIMIT_SIGPENDING },
  { "STACK", RLIMIT_STACK },
};

int
rlimit_from_name (const char *name)
{
  if (strncasecmp (name, "RLIMIT_", 7) == 0)
    name += 7;
  for (size_t k = 0; k < sizeof rlimit_names / sizeof rlimit_names[0]; k++)
    if (strcasecmp (name, rlimit_names[k].name) == 0)
      return rlimit_names[k].resource;
  return -1;
}

static int
rlimit_value (const jval_t *v, uint64_t *out)
{
  if (v == NULL || v->type != J_NUM || !v->is_int || v->i < -1)
    return -1;
  *out = v->i == -1 ? RLIM_INFINITY : (uint64_t) v->i;
  return 0;
}

/* `rlimits`: [{type: "RLIMIT_NOFILE", soft, hard}], -1 = unlimited; soft <= hard. */
static int
load_rlimits (const jval_t *a, monitor_config_t *cfg, tank_err_t *err)
{
  cfg->rlimits = NULL;
  cfg->nrlimits = 0;
  if (a == NULL || a->type == J_NULL)
    return 0;
  if (a->type != J_ARR || a->len > 16)
    return tank_error (err, EINVAL, "config", "`rlimits` must be an array of at most 16 limits");
  cfg->rlimits = calloc (a->len + 1, sizeof *cfg->rlimits);
  for (size_t k = 0; k < a->len; k++)
    {
      const char *type = json_str (a->items[k], "type");
      rlimit_spec_t *r = &cfg->rlimits[k];
      r->resource = type ? rlimit_from_name (type) : -1;
      if (r->resource < 0 || rlimit_value (json_get (a->items[k], "soft"), &r->soft) < 0
          || rlimit_value (json_get (a->items[k], "hard"), &r->hard) < 0 || r->soft > r->hard)
        return tank_error (err, EINVAL, "config", "`rlimits[%zu]` needs a known `type` and integer `soft` <= `hard`", k);
    }
  cfg->nrlimits = a->len;
  return 0;
}

/* `devices`: [{path, type: "c"|"b", major, minor, fileMode, uid, gid}] made in the container's /dev. */
static int
load_devices (const jval_t *a, monitor_config_t *cfg, tank_err_t *err)
{
  cfg->devices = NULL;
  cfg->ndevices = 0;
  if (a == NULL || a->type == J_NULL)
    return 0;
  if (a->type != J_ARR || a->len > 256)
    return tank_error (err, EINVAL, "config", "`devices` must be an array of at most 256 devices");
  cfg->devices = calloc (a->len + 1, sizeof *cfg->devices);
  for (size_t k = 0; k < a->len; k++)
    {
      const jval_t *d = a->items[k];
      const char *path = json_str (d, "path"), *type = json_str (d, "type");
      int64_t major = -1, minor = -1, mode = 0666, uid = 0, gid = 0;
      bool present;
      if (path == NULL || path[0] != '/' || type == NULL || (strcmp (type, "c") != 0 && strcmp (type, "b") != 0)
          || json_int (d, "major", &major, NULL) < 0 || json_int (d, "minor", &minor, NULL) < 0 || major < 0
          || major > 4095 || minor < 0 || minor > 1048575 || json_int (d, "fileMode", &mode, &present) < 0
          || mode < 0 || mode > 07777 || json_int (d, "uid", &uid, &present) < 0 || uid < 0 || uid > 0xfffffffe
          || json_int (d, "gid", &gid, &present) < 0 || gid < 0 || gid > 0xfffffffe)
        return tank_error (err, EINVAL, "config",
                           "`devices[%zu]` needs an absolute `path`, `type` c|b, `major`/`minor`, optional "
                           "`fileMode`/`uid`/`gid`",
                           k);
      cfg->devices[k] = (device_spec_t) { path, type[0], (unsigned) major, (unsigned) minor, (unsigned) mode & 07777,
                                          (uid_t) uid, (gid_t) gid };
    }
  cfg->ndevices = a->len;
  return 0;
}

/* `userNamespace`: {path, hostUid, hostGid, size}. */
static int
load_userns (const jval_t *u, monitor_config_t *cfg, tank_err_t *err)
{
  int64_t hu = -1, hg = -1, size = -1;
  cfg->userns = (userns_spec_t) { NULL, 0, 0, 0 };
  cfg->userns_fd = -1;
  if (u == NULL || u->type == J_NULL)
    return 0;
  const char *path = json_str (u, "path");
  if (path == NULL || path[0] != '/' || json_int (u, "hostUid", &hu, NULL) < 0 || json_int (u, "hostGid", &hg, NULL) < 0
      || json_int (u, "size", &size, NULL) < 0 || hu < 1 || hg < 1 || size < 1 || hu + size > 4294967295LL
      || hg + size > 4294967295LL)
    return tank_error (err, EINVAL, "config",
                       "`userNamespace` needs an absolute `path` and positive `hostUid`, `hostGid`, `size`");
  cfg->userns = (userns_spec_t) { path, (uid_t) hu, (gid_t) hg, (unsigned) size };
  /* Opened now (errors before ready): the child joins it last (creds.c), and the idmapped mounts of
   * the layers and host volumes are made with it (rootfs.c). */
  cfg->userns_fd = open (path, O_RDONLY | O_CLOEXEC);
  if (cfg->userns_fd < 0)
    return tank_error (err, errno, "open_ns_user", "open `%s`", path);
  if (cfg->uid >= cfg->userns.size || cfg->gid >= cfg->userns.size)
    return tank_error (err, EINVAL, "config", "`uid`/`gid` must be below the user namespace's size (%u)", cfg->userns.size);
  for (size_t k = 0; k < cfg->ngroups; k++)
    if (cfg->groups[k] >= cfg->userns.size)
      return tank_error (err, EINVAL, "config", "`groups[%zu]` must be below the user namespace's size", k);
  return 0;
}

/* A NULL-terminated vector of borrowed strings; required non-empty when `nonempty`. */
static int
str_list (const jval_t *obj, const char *key, const char ***out, bool nonempty, tank_err_t *err)
{
  const jval_t *a = json_get (obj, key);
  *out = NULL;
  if (a == NULL || a->type == J_NULL)
    {
      if (nonempty)
        return tank_error (err, EINVAL, "config", "`%s` is required", key);
      *out = calloc (1, sizeof (char *));
      return 0;
    }
  if (a->type != J_ARR || (nonempty && a->len == 0))
    return tank_error (err, EINVAL, "config", "`%s` must be a %sarray of strings", key, nonempty ? "non-empty " : "");
  const char **v = calloc (a->len + 1, sizeof (char *));
  for (size_t k = 0; k < a->len; k++)
    {
      if (a->items[k]->type != J_STR)
        {
          free (v);
          return tank_error (err, EINVAL, "config", "`%s[%zu]` must be a string", key, k);
        }
      v[k] = a->items[k]->s;
    }
  *out = v;
  return 0;
}

static int
req_path (const jval_t *obj, const char *key, const char **out, tank_err_t *err)
{
  *out = json_str (obj, key);
  if (*out == NULL || (*out)[0] != '/')
    return tank_error (err, EINVAL, "config", "`%s` must be an absolute path", key);
  return 0;
}

static int
ns_parse (const jval_t *nss, const char *key, ns_spec_t *out, tank_err_t *err)
{
  const jval_t *v = json_get (nss, key);
  out->mode = NS_NEW;
  out->path = NULL;
  if (v == NULL || v->type == J_NULL)
    return 0;
  if (v->type == J_STR && strcmp (v->s, "new") == 0)
    return 0;
  if (v->type == J_STR && strcmp (v->s, "host") == 0)
    {
      out->mode = NS_HOST;
      return 0;
    }
  const char *p = json_str (v, "join");
  if (p == NULL || p[0] != '/')
    return tank_error (err, EINVAL, "config", "`namespaces.%s` must be \"new\", \"host\" or {\"join\": path}", key);
  out->mode = NS_JOIN;
  out->path = p;
  return 0;
}

static int
binds_parse (const jval_t *obj, const char *key, bind_spec_t **out, size_t *n, tank_err_t *err)
{
  const jval_t *a = json_get (obj, key);
  *out = NULL;
  *n = 0;
  if (a == NULL || a->type == J_NULL)
    return 0;
  if (a->type != J_ARR)
    return tank_error (err, EINVAL, "config", "`%s` must be an array", key);
  *out = calloc (a->len + 1, sizeof **out);
  for (size_t k = 0; k < a->len; k++)
    {
      const char *s = json_str (a->items[k], "source"), *t = json_str (a->items[k], "target");
      bool ro = false, idmap = false;
      if (s == NULL || t == NULL || s[0] != '/' || t[0] != '/' || json_bool (a->items[k], "readOnly", &ro) < 0
          || json_bool (a->items[k], "idmap", &idmap) < 0)
        return tank_error (err, EINVAL, "config", "`%s[%zu]` needs absolute `source` and `target`", key, k);
      (*out)[k] = (bind_spec_t) { s, t, ro, idmap };
    }
  *n = a->len;
  return 0;
}

static int
load_caps (const jval_t *c, caps_spec_t *caps, tank_err_t *err)
{
  if (c == NULL || c->type == J_NULL)
    return tank_error (err, EINVAL, "config", "`capabilities` is required");
  if (caps_parse_list (json_get (c, "bounding"), &caps->bounding, err, "capabilities.bounding") < 0
      || caps_parse_list (json_get (c, "effective"), &caps->effective, err, "capabilities.effective") < 0
      || caps_parse_list (json_get (c, "permitted"), &caps->permitted, err, "capabilities.permitted") < 0
      || caps_parse_list (json_get (c, "inheritable"), &caps->inheritable, err, "capabilities.inheritable") < 0
      || caps_parse_list (json_get (c, "ambient"), &caps->ambient, err, "capabilities.ambient") < 0)
    return -1;
  return 0;
}

static int
load_ids (const jval_t *r, monitor_config_t *cfg, tank_err_t *err)
{
  int64_t uid = 0, gid = 0;
  bool present;
  if (json_int (r, "uid", &uid, &present) < 0 || uid < 0 || uid > 0xfffffffe
      || json_int (r, "gid", &gid, &present) < 0 || gid < 0 || gid > 0xfffffffe)
    return tank_error (err, EINVAL, "config", "`uid`/`gid` must be non-negative integers");
  cfg->uid = (uid_t) uid;
  cfg->gid = (gid_t) gid;
  const jval_t *g = json_get (r, "groups");
  if (g != NULL && g->type != J_ARR && g->type != J_NULL)
    return tank_error (err, EINVAL, "config", "`groups` must be an array of gids");
  size_t n = g && g->type == J_ARR ? g->len : 0;
  cfg->groups = calloc (n + 1, sizeof (gid_t));
  for (size_t k = 0; k < n; k++)
    {
      if (g->items[k]->type != J_NUM || !g->items[k]->is_int || g->items[k]->i < 0)
        return tank_error (err, EINVAL, "config", "`groups[%zu]` must be a non-negative integer", k);
      cfg->groups[k] = (gid_t) g->items[k]->i;
    }
  cfg->ngroups = n;
  return 0;
}

static int
load_rootfs (const jval_t *rf, monitor_config_t *cfg, tank_err_t *err)
{
  if (rf == NULL || rf->type != J_OBJ)
    return tank_error (err, EINVAL, "config", "`rootfs` is required");
  if (str_list (rf, "lowerdirs", &cfg->lowerdirs, true, err) < 0 || req_path (rf, "upperdir", &cfg->upperdir, err) < 0
      || req_path (rf, "workdir", &cfg->workdir, err) < 0 || req_path (rf, "merged", &cfg->merged, err) < 0)
    return -1;
  if (json_bool (rf, "readOnly", &cfg->rootfs_read_only) < 0)
    return tank_error (err, EINVAL, "config", "`rootfs.readOnly` must be a boolean");
  for (size_t k = 0; cfg->lowerdirs[k]; k++)
    if (cfg->lowerdirs[k][0] != '/' || strpbrk (cfg->lowerdirs[k], ":,") != NULL)
      return tank_error (err, EINVAL, "config", "`rootfs.lowerdirs[%zu]` must be absolute, without ':' or ','", k);
  return 0;
}

static int
load_log (const jval_t *lg, monitor_config_t *cfg, tank_err_t *err)
{
  int64_t mb = 10 * 1024 * 1024, mf = 5;
  bool present;
  if (lg == NULL || lg->type != J_OBJ || req_path (lg, "path", &cfg->log_path, err) < 0)
    return tank_error (err, EINVAL, "config", "`log.path` must be an absolute path");
  if (json_int (lg, "maxBytes", &mb, &present) < 0 || mb < 4096 || json_int (lg, "maxFiles", &mf, &present) < 0
      || mf < 0 || mf > 100)
    return tank_error (err, EINVAL, "config", "`log.maxBytes` must be >= 4096 and `log.maxFiles` in 0..100");
  cfg->log_max_bytes = mb;
  cfg->log_max_files = (int) mf;
  return 0;
}

static int
load_misc (const jval_t *r, monitor_config_t *cfg, tank_err_t *err)
{
  int64_t v;
  bool present;
  const jval_t *ws = json_get (r, "windowSize");
  cfg->rows = 24, cfg->cols = 80;
  if (ws != NULL && ws->type == J_OBJ)
    {
      int64_t rows = 24, cols = 80;
      if (json_int (ws, "rows", &rows, &present) < 0 || json_int (ws, "cols", &cols, &present) < 0 || rows < 0
          || rows > 65535 || cols < 0 || cols > 65535)
        return tank_error (err, EINVAL, "config", "`windowSize` needs rows/cols in 0..65535");
      cfg->rows = (unsigned short) rows, cfg->cols = (unsigned short) cols;
    }
  cfg->oom_score_adj = 0;
  if (json_int (r, "oomScoreAdj", &v, &present) < 0 || (present && (v < -1000 || v > 1000)))
    return tank_error (err, EINVAL, "config", "`oomScoreAdj` must be in -1000..1000");
  if (present)
    cfg->oom_score_adj = (int) v;
  cfg->park_timeout_ms = 60000;
  cfg->linger_ms = 600000;
  if (json_int (r, "parkTimeoutMs", &cfg->park_timeout_ms, &present) < 0 || cfg->park_timeout_ms < 0
      || json_int (r, "lingerMs", &cfg->linger_ms, &present) < 0 || cfg->linger_ms < 0)
    return tank_error (err, EINVAL, "config", "`parkTimeoutMs`/`lingerMs` must be non-negative integers");
  if (json_bool (r, "tty", &cfg->tty) < 0 || json_bool (r, "openStdin", &cfg->open_stdin) < 0
      || json_bool (r, "noNewPrivileges", &cfg->no_new_privs) < 0)
    return tank_error (err, EINVAL, "config", "`tty`/`openStdin`/`noNewPrivileges` must be booleans");
  return 0;
}

int
config_load (const char *path, monitor_config_t *cfg, tank_err_t *err)
{
  cleanup_free char *text = NULL;
  size_t len;
  int64_t version = 0;
  memset (cfg, 0, sizeof *cfg);
  if (read_file (path, 1 << 20, &text, &len, err) < 0)
    return -1;
  jval_t *r = cfg->root = json_parse (text, len, err);
  if (r == NULL || r->type != J_OBJ)
    return tank_error (err, EINVAL, "config", "`%s` is not a JSON object", path);
  if (json_int (r, "version", &version, NULL) < 0 || version != 1)
    return tank_error (err, EINVAL, "config", "`version` must be 1");
  const jval_t *nss = json_get (r, "namespaces");
  if (req_path (r, "socketPath", &cfg->socket_path, err) < 0 || req_path (r, "exitPath", &cfg->exit_path, err) < 0
      || load_log (json_get (r, "log"), cfg, err) < 0 || str_list (r, "argv", &cfg->argv, true, err) < 0
      || str_list (r, "env", &cfg->env, false, err) < 0 || load_ids (r, cfg, err) < 0
      || ns_parse (nss, "net", &cfg->net, err) < 0 || ns_parse (nss, "uts", &cfg->uts, err) < 0
      || ns_parse (nss, "ipc", &cfg->ipc, err) < 0 || load_rootfs (json_get (r, "rootfs"), cfg, err) < 0
      || binds_parse (r, "etcFiles", &cfg->etc, &cfg->netc, err) < 0
      || binds_parse (r, "volumes", &cfg->volumes, &cfg->nvolumes, err) < 0
      || str_list (r, "maskedPaths", &cfg->masked_paths, false, err) < 0
      || str_list (r, "readonlyPaths", &cfg->readonly_paths, false, err) < 0
      || str_list (r, "cgroupProcs", &cfg->cgroup_procs, false, err) < 0
      || str_list (r, "monitorCgroupProcs", &cfg->monitor_cgroup_procs, false, err) < 0
      || load_caps (json_get (r, "capabilities"), &cfg->caps, err) < 0 || load_misc (r, cfg, err) < 0
      || load_rlimits (json_get (r, "rlimits"), cfg, err) < 0 || load_devices (json_get (r, "devices"), cfg, err) < 0
      || load_userns (json_get (r, "userNamespace"), cfg, err) < 0)
    return -1;
  /* The compiled filter is read now, from the host: a missing or bad file fails the start before
   * `ready`, and the workload never needs the host path after pivot_root. */
  const char *seccomp = json_str (r, "seccomp");
  if (json_get (r, "seccomp") != NULL && json_get (r, "seccomp")->type != J_NULL && (seccomp == NULL || seccomp[0] != '/'))
    return tank_error (err, EINVAL, "config", "`seccomp` must be the absolute path of a compiled program");
  if (seccomp != NULL && seccomp_read (seccomp, &cfg->seccomp, err) < 0)
    return -1;
  cfg->cwd = json_str (r, "cwd");
  if (cfg->cwd == NULL)
    cfg->cwd = "/";
  if (cfg->cwd[0] != '/')
    return tank_error (err, EINVAL, "config", "`cwd` must be absolute");
  cfg->hostname = json_str (r, "hostname");
  if (cfg->hostname != NULL && (strlen (cfg->hostname) == 0 || strlen (cfg->hostname) > 64))
    return tank_error (err, EINVAL, "config", "`hostname` must be 1..64 bytes");
  if (cfg->hostname != NULL && cfg->uts.mode != NS_NEW)
    return tank_error (err, EINVAL, "config", "`hostname` needs `namespaces.uts` = \"new\"");
  cfg->agent_pid_file = json_str (r, "agentPidFile");
  if (json_get (r, "agentPidFile") != NULL && (cfg->agent_pid_file == NULL || cfg->agent_pid_file[0] != '/'))
    return tank_error (err, EINVAL, "config", "`agentPidFile` must be an absolute path");
  cfg->init_path = json_str (r, "init");
  if (json_get (r, "init") != NULL && (cfg->init_path == NULL || cfg->init_path[0] != '/'))
    return tank_error (err, EINVAL, "config", "`init` must be the absolute path of tank-init");
  if (strlen (cfg->socket_path) >= 108)
    return tank_error (err, ENAMETOOLONG, "config", "`socketPath` longer than 107 bytes");
  return 0;
}

void
config_free (monitor_config_t *cfg)
{
  free (cfg->argv);
  free (cfg->env);
  free (cfg->groups);
  free (cfg->lowerdirs);
  free (cfg->etc);
  free (cfg->volumes);
  free (cfg->masked_paths);
  free (cfg->readonly_paths);
  free (cfg->cgroup_procs);
  free (cfg->monitor_cgroup_procs);
  free (cfg->rlimits);
  free (cfg->devices);
  free (cfg->seccomp.filter);
  if (cfg->userns.path != NULL && cfg->userns_fd >= 0)
    close (cfg->userns_fd);
  json_free (cfg->root);
  memset (cfg, 0, sizeof *cfg);
}
