#pragma once

/* PROTOCOL.md §14; `self` is the helper's own argv[0]; argv from the mode on (`--sandbox-pool N`). */
int spawner_main (const char *self, int argc, char **argv);

/* Set by the spawner for a `monitor` it starts: the monitor stays the spawner's child instead of
 * forking to outlive its starter, and the spawner answers at its ready line (§14). */
#define SPAWNED_ENV "TANK_HELPER_SPAWNED"

/* Set by the spawner for a monitor of its --monitor-pool, exec'd ahead of any request: it reads the
 * config path from stdin (NUL-terminated; EOF without one: let go unclaimed, it exits) and writes it
 * over MONITOR_POOL_ARG, its argv[3], so its command line then reads `monitor --config PATH` (§14). */
#define POOLED_ENV "TANK_HELPER_POOLED"

/* The waiting monitor's argv[3]: room for a config path of up to 511 bytes (a longer one forks). */
#define MONITOR_POOL_ARG                                                                                  \
  "pooled                                                                                          "     \
  "                                                                                                "     \
  "                                                                                                "     \
  "                                                                                                "     \
  "                                                                                                "     \
  "                               "
