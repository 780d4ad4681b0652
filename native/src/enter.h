/* `tank-helper enter --pid P ... -- argv`: join every namespace of a running workload (PROTOCOL.md §8). */
#pragma once
int enter_main (int argc, char **argv);
