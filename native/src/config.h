/* The monitor's configuration (the JSON file passed with --config), see PROTOCOL.md §3. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "json.h"
#include "seccomp.h"

typedef enum { NS_HOST = 0, NS_NEW, NS_JOIN } ns_mode_t;

typedef struct {
  ns_mode_t mode;
  const char *path; /* NS_JOIN */
} ns_spec_t;

typedef struct {
  const char *source, *target;
  bool read_only;
  bool idmap; /* mount through the pod's user namespace mapping (host-path volumes) */
} bind_spec_t;

/* The pod's user namespace (hostUsers: false): joined last, just before the identity change;
 * container ids 0..size-1 are host ids host_uid.. / host_gid... */
typedef struct {
  const char *path; /* NULL: none (the host's) */
  uid_t host_uid;
  gid_t host_gid;
  unsigned size;
} userns_spec_t;

typedef struct {
  int resource; /* RLIMIT_* */
  uint64_t soft, hard; /* RLIM_INFINITY for unlimited (-1 in the JSON) */
} rlimit_spec_t;

/* A host device node recreated in the container's /dev (its cgroup policy is the agent's). */
typedef struct {
  const char *path; /* absolute, inside the container */
  char type; /* 'c' or 'b' */
  unsigned major, minor;
  unsigned mode; /* permission bits */
  uid_t uid;
  gid_t gid;
} device_spec_t;

typedef struct {
  uint64_t bounding, effective, permitted, inheritable, ambient;
} caps_spec_t;

typedef struct {
  jval_t *root; /* owns every string below */
  const char *socket_path, *exit_path, *log_path;
  int64_t log_max_bytes;
  int log_max_files;
  const char **argv; /* NULL-terminated */
  const char **env; /* NULL-terminated */
  const char *cwd;
  uid_t uid;
  gid_t gid;
  gid_t *groups;
  size_t ngroups;
  bool tty, open_stdin;
  unsigned short rows, cols;
  ns_spec_t net, uts, ipc;
  userns_spec_t userns;
  int userns_fd; /* opened before the clone (monitor) or through /proc/<pid> (enter); -1: none */
  const char *hostname;
  const char **lowerdirs; /* NULL-terminated */
  const char *upperdir, *workdir, *merged;
  bool rootfs_read_only; /* rootfs.readOnly: the root mount is made read-only after pivot_root */
  bind_spec_t *etc;
  size_t netc;
  bind_spec_t *volumes;
  size_t nvolumes;
  const char **masked_paths, **readonly_paths; /* NULL-terminated */
  caps_spec_t caps;
  bool no_new_privs;
  seccomp_prog_t seccomp; /* compiled program read from `seccomp` (filter NULL: unconfined) */
  rlimit_spec_t *rlimits;
  size_t nrlimits;
  device_spec_t *devices;
  size_t ndevices;
  const char **cgroup_procs; /* NULL-terminated */
  const char **monitor_cgroup_procs; /* NULL-terminated: where the monitor puts itself */
  const char *agent_pid_file; /* optional: names the agent, whose connections may use reserved slots */
  const char *init_path; /* optional: a static init (tank-init) exec'd as PID 1, forking the workload */
  int oom_score_adj;
  int64_t park_timeout_ms, linger_ms;
} monitor_config_t;

int config_load (const char *path, monitor_config_t *cfg, tank_err_t *err);
void config_free (monitor_config_t *cfg);

/* Capability names <-> numbers ("CAP_CHOWN" or "chown"). -1 when unknown. */
int cap_from_name (const char *name);
int caps_parse_list (const jval_t *arr, uint64_t *mask, tank_err_t *err, const char *field);
/* "RLIMIT_NOFILE" or "nofile" -> RLIMIT_NOFILE; -1 when unknown. */
int rlimit_from_name (const char *name);
