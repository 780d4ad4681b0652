/* In-container filesystem setup (runs in the workload's fresh mount namespace, after `proceed`). */
#pragma once
#include "config.h"
#include "error.h"

/* Everything from rec-private propagation to pivot_root; on return the process is chrooted
 * (pivoted) into the container rootfs with cwd "/". */
int rootfs_setup (const monitor_config_t *cfg, tank_err_t *err);

/* Open `path` inside the tree rooted at rootfd, never following symlinks out of it
 * (openat2 RESOLVE_IN_ROOT). create: 0 = must exist, 'd' = mkdir -p, 'f' = create an empty file
 * (parents mkdir -p). Returns an O_PATH fd, -1 with errno set. */
int open_in_root (int rootfd, const char *path, int create);
