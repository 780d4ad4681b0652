#pragma once

/* PROTOCOL.md §14; `self` is the helper's own argv[0]. */
int spawner_main (const char *self);
