#pragma once

/* PROTOCOL.md §14; `self` is the helper's own argv[0]; argv from the mode on (`--sandbox-pool N`). */
int spawner_main (const char *self, int argc, char **argv);

/* Set by the spawner for a `monitor` it starts: the monitor stays the spawner's child instead of
 * forking to outlive its starter, and the spawner answers at its ready line (§14). */
#define SPAWNED_ENV "TANK_HELPER_SPAWNED"
