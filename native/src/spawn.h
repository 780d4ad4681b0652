/* Creating the workload: clone into new namespaces, park at the checkpoint, then (on proceed) set
 * up the container and execve. See PROTOCOL.md §5 for the numbered sync points. */
#pragma once
#include <sys/types.h>

#include "config.h"
#include "error.h"

typedef struct {
  pid_t pid; /* host pid of the workload (pid 1 in its own pid namespace) */
  int sync_fd; /* monitor's end of the sync socketpair */
  int out_fd, err_fd; /* read ends of stdout/stderr pipes (-1 for tty) */
  int in_fd; /* write end of the stdin pipe (-1 unless openStdin without tty) */
} spawn_t;

/* Clone the workload; it is parked when this returns 1 after SYNC_PARKED arrives (sync 2). */
int spawn_workload (const monitor_config_t *cfg, spawn_t *out, tank_err_t *err);
/* Resolve argv[0] through PATH from env (runc semantics). Result in buf. */
int exec_resolve (const char *file, const char *const *env, char *buf, size_t len);
/* Bring `lo` up in the current network namespace. */
int lo_up (tank_err_t *err);
