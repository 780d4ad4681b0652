/* `tank-helper cgroup-devices`: a cgroup2 device allow list as a BPF device program (PROTOCOL.md §12). */
#pragma once
int cgroup_devices_main (int argc, char **argv);
