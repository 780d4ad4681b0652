/* `tank-helper sandbox` / `sandbox-remove`: a pod's pinned net/uts/ipc namespaces (PROTOCOL.md §2). */
#pragma once
int sandbox_main (int argc, char **argv);
int sandbox_remove_main (int argc, char **argv);
