/* `tank-helper sandbox` / `sandbox-remove`: a pod's pinned net/uts/ipc namespaces (PROTOCOL.md §2). */
#pragma once
#include <stdbool.h>

#include "error.h"

int sandbox_main (int argc, char **argv);
int sandbox_remove_main (int argc, char **argv);

/* The spawner's pool (PROTOCOL.md §14): a process makes fresh net, uts and ipc namespaces with `lo`
 * up before any request (sandbox_prepare); a `sandbox` command line asking for exactly those
 * (sandbox_poolable: argv[0] is "sandbox") is then run in it by sandbox_main_prepared, which only
 * sets the hostname and pins them. */
int sandbox_prepare (tank_err_t *err);
bool sandbox_poolable (int argc, char **argv);
int sandbox_main_prepared (int argc, char **argv);
